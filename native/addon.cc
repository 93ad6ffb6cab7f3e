// Module entry: registers one native class per verbs/CM object.
#include <napi.h>

#include "context.h"
#include "device.h"

namespace rdma {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getDeviceList", Napi::Function::New<GetDeviceList>(env, "getDeviceList"));
  exports.Set("Context", Context::Init(env));
  return exports;
}

}  // namespace rdma

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return rdma::Init(env, exports); }

NODE_API_MODULE(rdma_ccm, InitModule)
