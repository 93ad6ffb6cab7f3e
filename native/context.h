// Context: one opened RDMA device (ibv_context), and its asynchronous events (port state, QP/CQ/SRQ
// errors, device fatal) delivered through libuv watching the async fd.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>
#include <uv.h>

#include "addon_data.h"

namespace rdma {

// A GID in the full eight-group form (comparable as text), as queryGidTable() and qp.query() report it.
std::string GidString(const ibv_gid& g);

class Context : public Napi::ObjectWrap<Context>, public Parent {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override;

  ibv_context* handle(Napi::Env env) const;  // throws ERR_CLOSED when closed

  // A JS Context over a device context owned by someone else (librdmacm): close() never closes it.
  static Napi::Object Wrap(Napi::Env env, ibv_context* ctx);

 private:
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value QueryDevice(const Napi::CallbackInfo& info);
  Napi::Value QueryPort(const Napi::CallbackInfo& info);
  Napi::Value QueryGidTable(const Napi::CallbackInfo& info);
  Napi::Value WatchEvents(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  static void OnAsyncEvent(uv_poll_t* handle, int status, int events);
  void DrainEvents();
  void StopEvents();
  void Release();

  ibv_context* ctx_ = nullptr;
  uv_poll_t* poll_ = nullptr;  // watches ctx_->async_fd once JS listens for async events
  Napi::FunctionReference onEvents_;
  bool owned_ = true;
  std::string name_;
};

}  // namespace rdma
