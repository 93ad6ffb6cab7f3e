// CmEventChannel: an rdma_event_channel whose fd libuv watches. Each readiness drains every pending CM
// event, copies what JS needs (name, status, private data, the ids involved), acknowledges it at once,
// and hands the batch to JS in one callback.
#pragma once
#include <napi.h>
#include <rdma/rdma_cma.h>
#include <uv.h>

#include <unordered_map>

#include "addon_data.h"

namespace rdma {

class CmId;

class CmEventChannel : public Napi::ObjectWrap<CmEventChannel>, public Parent {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit CmEventChannel(const Napi::CallbackInfo& info);
  ~CmEventChannel() override;

  rdma_event_channel* handle(Napi::Env env) const;
  static CmEventChannel* From(Napi::Env env, Napi::Value v, const char* name);
  void Register(rdma_cm_id* id, Napi::Object obj);
  void Unregister(rdma_cm_id* id);

 private:
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  void Drain();
  void Release();

  rdma_event_channel* ch_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference onEvents_;
  Napi::Env env_;
  // Weak references: an id's JS object, by its native id (ids are destroyed before they are collected).
  std::unordered_map<rdma_cm_id*, Napi::ObjectReference> ids_;
};

// syncCmDevices(): has librdmacm re-read the device list, so that it closes its context of a device that
// was removed (the kernel finishes `rdma link delete` only once every user context is closed).
Napi::Value SyncCmDevices(const Napi::CallbackInfo& info);

}  // namespace rdma
