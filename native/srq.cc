#include "reaper.h"
#include "srq.h"

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "pd.h"
#include "props.h"
#include "work_request.h"

namespace rdma {

Napi::Function SharedReceiveQueue::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "SharedReceiveQueue",
                                 {
                                     InstanceMethod<&SharedReceiveQueue::PostRecv>("postRecv"),
                                     InstanceMethod<&SharedReceiveQueue::Modify>("modify"),
                                     InstanceMethod<&SharedReceiveQueue::Query>("query"),
                                     InstanceAccessor<&SharedReceiveQueue::Closed>("closed"),
                                     InstanceMethod<&SharedReceiveQueue::Close>("close"),
                                 });
  Data(env).srq = Napi::Persistent(f);
  return f;
}

// new SharedReceiveQueue(pd, { maxWr, maxSge, srqLimit })
SharedReceiveQueue::SharedReceiveQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SharedReceiveQueue>(info) {
  Napi::Env env = info.Env();
  pd_ = ProtectionDomain::From(env, info[0], "pd");
  ibv_pd* pd = pd_->handle(env);
  Napi::Object o = ArgObject(info, 1, "options");
  ibv_srq_init_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.srq_context = this;
  int64_t n;
  attr.attr.max_wr = OptInt(env, o, "maxWr", 1, 1 << 20, &n) ? uint32_t(n) : 256;
  attr.attr.max_sge = OptInt(env, o, "maxSge", 1, kMaxSge, &n) ? uint32_t(n) : 1;
  attr.attr.srq_limit = OptInt(env, o, "srqLimit", 0, 1 << 20, &n) ? uint32_t(n) : 0;
  errno = 0;
  srq_ = ibv_create_srq(pd, &attr);
  if (srq_ == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_create_srq");
  pdRef_ = Napi::Persistent(info[0].As<Napi::Object>());
  pd_->AddChild();
}

SharedReceiveQueue::~SharedReceiveQueue() { Release(); }

void SharedReceiveQueue::Release() {
  if (srq_ == nullptr) return;
  ibv_srq* srq = srq_;
  Reap(Env(), "ibv_destroy_srq", [srq] { return ibv_destroy_srq(srq); });
  srq_ = nullptr;
  pd_->RemoveChild();
  pdRef_.Reset();
}

ibv_srq* SharedReceiveQueue::handle(Napi::Env env) const {
  if (srq_ == nullptr) ThrowClosed(env, "SharedReceiveQueue");
  return srq_;
}

SharedReceiveQueue* SharedReceiveQueue::From(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).srq.Value())) ThrowArgType(env, name, "a SharedReceiveQueue");
  return Napi::ObjectWrap<SharedReceiveQueue>::Unwrap(v.As<Napi::Object>());
}

// postRecv([{ wrId, sgl }])
Napi::Value SharedReceiveQueue::PostRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_srq* srq = handle(env);
  RecvChain chain;
  BuildRecv(env, info[0], pd_, chain);
  if (chain.wrs.empty()) return env.Undefined();
  ibv_recv_wr* bad = nullptr;
  int err = ibv_post_srq_recv(srq, chain.wrs.data(), &bad);
  if (err != 0) ThrowPostError(env, err, "ibv_post_srq_recv", chain.wrs.data(), bad);
  return env.Undefined();
}

// modify({ maxWr, srqLimit }): srqLimit arms the SRQ_LIMIT_REACHED async event (once per arming).
Napi::Value SharedReceiveQueue::Modify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_srq* srq = handle(env);
  Napi::Object o = ArgObject(info, 0, "attributes");
  ibv_srq_attr a;
  std::memset(&a, 0, sizeof a);
  int mask = 0;
  int64_t n;
  if (OptInt(env, o, "maxWr", 1, 1 << 20, &n)) a.max_wr = uint32_t(n), mask |= IBV_SRQ_MAX_WR;
  if (OptInt(env, o, "srqLimit", 0, 1 << 20, &n)) a.srq_limit = uint32_t(n), mask |= IBV_SRQ_LIMIT;
  if (mask == 0) ThrowArgRange(env, "attributes", "no attribute to modify");
  int err = ibv_modify_srq(srq, &a, mask);
  if (err != 0) ThrowSys(env, err, "ibv_modify_srq");
  return env.Undefined();
}

Napi::Value SharedReceiveQueue::Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_srq_attr a;
  int err = ibv_query_srq(handle(env), &a);
  if (err != 0) ThrowSys(env, err, "ibv_query_srq");
  Napi::Object o = Napi::Object::New(env);
  o.Set("maxWr", Napi::Number::New(env, a.max_wr));
  o.Set("maxSge", Napi::Number::New(env, a.max_sge));
  o.Set("srqLimit", Napi::Number::New(env, a.srq_limit));
  return o;
}

Napi::Value SharedReceiveQueue::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), srq_ == nullptr); }

Napi::Value SharedReceiveQueue::Close(const Napi::CallbackInfo& info) {
  if (srq_ != nullptr && children() > 0)
    Throw(info.Env(), Kind::Error, "ERR_BUSY", "SharedReceiveQueue is used by " + std::to_string(children()) + " open queue pairs (close them first)");
  Release();
  return info.Env().Undefined();
}

}  // namespace rdma
