// CmEventChannel: an rdma_event_channel whose fd libuv watches. Each readiness drains every pending CM
// event, copies what JS needs (name, status, private data, the ids involved), acknowledges it at once,
// and hands the batch to JS in one callback.
#pragma once
#include <napi.h>
#include <rdma/rdma_cma.h>

#include <unordered_map>

#include "addon_data.h"
#include "fd_watch.h"
#include "wrapped.h"

namespace rdma {

class CmId;

class CmEventChannel : public Wrapped<CmEventChannel, rdma_event_channel>, public Parent {
  RDMA_WRAPPED(CmEventChannel, rdma_event_channel, cmChannel)
  void Register(rdma_cm_id* id, Napi::Object obj);
  void Unregister(rdma_cm_id* id);

 private:
  JsMethod Ref, Unref;
  void Drain();

  FdWatch watch_;
  Napi::FunctionReference onEvents_;
  // Weak references: an id's JS object, by its native id (ids are destroyed before they are collected).
  std::unordered_map<rdma_cm_id*, Napi::ObjectReference> ids_;
};

// syncCmDevices(): has librdmacm re-read the device list, so that it closes its context of a device that
// was removed (the kernel finishes `rdma link delete` only once every user context is closed).
Napi::Value SyncCmDevices(const Napi::CallbackInfo& info);

}  // namespace rdma
