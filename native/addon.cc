// Module entry: registers one native class per verbs/CM object.
#include <napi.h>

#include "addon_data.h"
#include "ah.h"
#include "aligned_buffer.h"
#include "cm_channel.h"
#include "cm_id.h"
#include "context.h"
#include "cq.h"
#include "crc32c.h"
#include "device.h"
#include "enums.h"
#include "instruction_marker.h"
#include "mapped_file.h"
#include "mr.h"
#include "mw.h"
#include "notify.h"
#include "pd.h"
#include "qp.h"
#include "reaper.h"
#include "srq.h"

namespace rdma {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  Data(env).keyStore = Napi::Persistent(Napi::Array::New(env).As<Napi::Object>());
  StartReaper(env);
  exports.Set("constants", ConstantsToJs(env));
  exports.Set("getDeviceList", Napi::Function::New<GetDeviceList>(env, "getDeviceList"));
  exports.Set("Context", Context::Init(env));
  exports.Set("ProtectionDomain", ProtectionDomain::Init(env));
  exports.Set("MemoryRegion", MemoryRegion::Init(env));
  exports.Set("CompletionQueue", CompletionQueue::Init(env));
  exports.Set("AddressHandle", AddressHandle::Init(env));
  exports.Set("SharedReceiveQueue", SharedReceiveQueue::Init(env));
  exports.Set("MemoryWindow", MemoryWindow::Init(env));
  exports.Set("QueuePair", QueuePair::Init(env));
  exports.Set("CmEventChannel", CmEventChannel::Init(env));
  exports.Set("syncCmDevices", Napi::Function::New<SyncCmDevices>(env, "syncCmDevices"));
  exports.Set("CmId", CmId::Init(env));
  exports.Set("sdNotify", Napi::Function::New<SdNotify>(env, "sdNotify"));
  exports.Set("drainReaper", Napi::Function::New<DrainReaper>(env, "drainReaper"));
  exports.Set("crc32c", Napi::Function::New<Crc32cJs>(env, "crc32c"));
  exports.Set("instructionMarker", Napi::Function::New<InstructionMarker>(env, "instructionMarker"));
  exports.Set("alignedBuffer", Napi::Function::New<AlignedBuffer>(env, "alignedBuffer"));
  exports.Set("mapFile", Napi::Function::New<MapFile>(env, "mapFile"));
  exports.Set("syncMapped", Napi::Function::New<SyncMapped>(env, "syncMapped"));
  return exports;
}

}  // namespace rdma

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return rdma::Init(env, exports); }

NODE_API_MODULE(rdma_ccm, InitModule)
