// SharedReceiveQueue: ibv_srq, one pool of receive buffers for many queue pairs; child of a
// ProtectionDomain, parent of the queue pairs that receive through it.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "addon_data.h"

namespace rdma {

class ProtectionDomain;

class SharedReceiveQueue : public Napi::ObjectWrap<SharedReceiveQueue>, public Parent {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit SharedReceiveQueue(const Napi::CallbackInfo& info);
  ~SharedReceiveQueue() override;

  ibv_srq* handle(Napi::Env env) const;
  ProtectionDomain* pd() const { return pd_; }
  static SharedReceiveQueue* From(Napi::Env env, Napi::Value v, const char* name);

 private:
  Napi::Value PostRecv(const Napi::CallbackInfo& info);
  Napi::Value Modify(const Napi::CallbackInfo& info);
  Napi::Value Query(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Release();

  ibv_srq* srq_ = nullptr;
  ProtectionDomain* pd_ = nullptr;
  Napi::ObjectReference pdRef_;
};

}  // namespace rdma
