#include "srq.h"

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "pd.h"
#include "props.h"
#include "reaper.h"
#include "work_request.h"

namespace rdma {

Napi::Function SharedReceiveQueue::Init(Napi::Env env) {
  return Define(env, {
                         InstanceMethod<&SharedReceiveQueue::PostRecv>("postRecv"),
                         InstanceMethod<&SharedReceiveQueue::Modify>("modify"),
                         InstanceMethod<&SharedReceiveQueue::Query>("query"),
                     });
}

// new SharedReceiveQueue(pd, { maxWr, maxSge, srqLimit })
SharedReceiveQueue::SharedReceiveQueue(const Napi::CallbackInfo& info) : Base(info), Parent("queue pairs") {
  Napi::Env env = info.Env();
  ProtectionDomain* pd = ProtectionDomain::From(env, info[0], "pd");
  Napi::Object o = ArgObject(info, 1, "options");
  ibv_srq_init_attr attr{};
  attr.srq_context = this;
  attr.attr.max_wr = uint32_t(OptIntOr(env, o, "maxWr", 1, 1 << 20, 256));
  attr.attr.max_sge = uint32_t(OptIntOr(env, o, "maxSge", 1, kMaxSge, 1));
  attr.attr.srq_limit = uint32_t(OptIntOr(env, o, "srqLimit", 0, 1 << 20, 0));
  Create(env, "ibv_create_srq", [&] { return ibv_create_srq(pd->handle(env), &attr); });
  pd_.Hold(pd, info[0]);
}

void SharedReceiveQueue::Dispose(ibv_srq* srq) {
  Reap(Env(), "ibv_destroy_srq", [srq] { return ibv_destroy_srq(srq); });
  pd_.Drop();
}

// postRecv([{ wrId, sgl }])
Napi::Value SharedReceiveQueue::PostRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_srq* srq = handle(env);
  RecvChain chain;
  BuildRecv(env, info[0], pd_.get(), chain);
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
  ibv_srq_attr a{};
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

}  // namespace rdma
