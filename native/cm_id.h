// CmId: an rdma_cm_id on a CmEventChannel. Its steps (resolve, connect, accept, ...) return at once;
// their outcome arrives as an event on the channel. The id keeps its channel alive; a QP created on
// it is a verbs QueuePair, destroyed before the id. A QP of the caller's own (ibv_create_qp) may be
// connected instead: the caller moves it through the states the CM computes (transitionQp) and it
// stays the caller's to destroy.
#pragma once
#include <napi.h>
#include <rdma/rdma_cma.h>

namespace rdma {

class CmEventChannel;

class CmId : public Napi::ObjectWrap<CmId> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit CmId(const Napi::CallbackInfo& info);
  ~CmId() override;

  // Wraps the id librdmacm created for an incoming connection request on `channel`.
  static Napi::Object WrapIncoming(Napi::Env env, rdma_cm_id* id, Napi::Object channel);

 private:
  rdma_cm_id* handle(Napi::Env env) const;
  Napi::Value BindAddr(const Napi::CallbackInfo& info);
  Napi::Value ResolveAddr(const Napi::CallbackInfo& info);
  Napi::Value ResolveRoute(const Napi::CallbackInfo& info);
  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Accept(const Napi::CallbackInfo& info);
  Napi::Value Reject(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value CreateQp(const Napi::CallbackInfo& info);
  Napi::Value TransitionQp(const Napi::CallbackInfo& info);
  Napi::Value Establish(const Napi::CallbackInfo& info);
  Napi::Value Context(const Napi::CallbackInfo& info);
  Napi::Value Addresses(const Napi::CallbackInfo& info);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value Destroyed(const Napi::CallbackInfo& info);
  void Release();

  rdma_cm_id* id_ = nullptr;
  CmEventChannel* channel_ = nullptr;
  Napi::ObjectReference channelRef_;
  Napi::ObjectReference qpRef_;  // weak: the QueuePair made by CreateQp
};

}  // namespace rdma
