// Context: one opened RDMA device (ibv_context), and its asynchronous events (port state, QP/CQ/SRQ
// errors, device fatal) delivered through libuv watching the async fd.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include <string>

#include "addon_data.h"
#include "fd_watch.h"
#include "wrapped.h"

namespace rdma {

class Context : public Wrapped<Context, ibv_context>, public Parent {
  RDMA_WRAPPED(Context, ibv_context, context)
  // A JS Context over a device context owned by someone else (librdmacm): close() never closes it.
  static Napi::Object Wrap(Napi::Env env, ibv_context* ctx);

 private:
  JsMethod Name, QueryDevice, QueryPort, QueryGidTable, WatchEvents;
  void DrainEvents();

  FdWatch watch_;  // watches the async fd once JS listens for async events
  Napi::FunctionReference onEvents_;
  bool owned_ = true;
  std::string name_;
};

}  // namespace rdma
