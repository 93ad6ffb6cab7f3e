#include "mw.h"

#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "errors.h"
#include "mr.h"
#include "pd.h"
#include "props.h"
#include "qp.h"
#include "reaper.h"

namespace rdma {

// What a window may grant: remote access only (LOCAL_WRITE belongs to the region, ZERO_BASED is refused).
static constexpr int kWindowAccess =
    IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

Napi::Function MemoryWindow::Init(Napi::Env env) {
  return Define(env, {
                         InstanceAccessor<&MemoryWindow::Type>("type"),
                         InstanceAccessor<&MemoryWindow::Rkey>("rkey"),
                         InstanceMethod<&MemoryWindow::Bind>("bind"),
                     });
}

// new MemoryWindow(pd, type: 1 | 2)
MemoryWindow::MemoryWindow(const Napi::CallbackInfo& info) : Base(info) {
  Napi::Env env = info.Env();
  ProtectionDomain* pd = ProtectionDomain::From(env, info[0], "pd");
  int64_t type = ArgInt(info, 1, "type", 1, 2);
  Create(
      env, "ibv_alloc_mw",
      [&] { return ibv_alloc_mw(pd->handle(env), type == 1 ? IBV_MW_TYPE_1 : IBV_MW_TYPE_2); }, EOPNOTSUPP);
  pd_.Hold(pd, info[0]);
}

void MemoryWindow::Dispose(ibv_mw* mw) {
  if (boundQp_ != nullptr) boundQp_->ForgetWindow(this);
  boundQp_ = nullptr;
  Reap(Env(), "ibv_dealloc_mw", [mw] { return ibv_dealloc_mw(mw); });
  pd_.Drop();
}

void MemoryWindow::BoundThrough(QueuePair* qp) {
  if (boundQp_ == qp) return;
  if (boundQp_ != nullptr) boundQp_->ForgetWindow(this);
  boundQp_ = qp;
  qp->RememberWindow(this);
}

Napi::Value MemoryWindow::Type(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), handle(info.Env())->type == IBV_MW_TYPE_1 ? 1 : 2);
}

Napi::Value MemoryWindow::Rkey(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), handle(info.Env())->rkey);
}

// Reads { mr, offset, length, access } into a bind description; length 0 unbinds (type 1). The region is
// required even then: some providers (rxe) dereference it while posting an unbind.
static void ReadBindInfo(Napi::Env env, Napi::Value v, ibv_mw_bind_info* b, ProtectionDomain* pd) {
  std::memset(b, 0, sizeof *b);
  if (!v.IsObject()) ThrowArgType(env, "bind", "an object { mr, offset, length, access }");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value m;
  int64_t len = 0;
  OptInt(env, o, "length", 0, 0xffffffffLL, &len);
  if (!Prop(o, "mr", &m)) ThrowArgType(env, "bind.mr", "a MemoryRegion (also for a zero-length unbind)");
  MemoryRegion* mr = MemoryRegion::From(env, m, "bind.mr");
  if (len == 0) {
    if (mr->pd() != pd)
      Throw(env, "ERR_WRONG_PD", "the region and the window belong to different protection domains");
    if (mr->mr() == nullptr) Throw(env, "ERR_CLOSED", "bind.mr: MemoryRegion is closed");
    b->mr = mr->mr();
    return;
  }
  if (mr->pd() != pd)
    Throw(env, "ERR_WRONG_PD", "the region and the window belong to different protection domains");
  int64_t off = 0, access = 0;
  OptInt(env, o, "offset", 0, int64_t(1) << 40, &off);
  OptInt(env, o, "access", 0, 0xff, &access);
  if (access & ~kWindowAccess)
    ThrowArgRange(env, "bind.access", "a window grants REMOTE_READ, REMOTE_WRITE and REMOTE_ATOMIC only");
  ibv_sge s = mr->Sge(env, off, len, "bind");  // checks the range and that the region is open
  if (!(mr->access() & IBV_ACCESS_MW_BIND))
    Throw(env, "ERR_INVALID_ACCESS", "the region was not registered with MW_BIND access");
  b->mr = mr->mr();
  b->addr = s.addr;
  b->length = s.length;
  b->mw_access_flags = unsigned(access);
}

// bind(qp, { wrId, signaled, mr, offset, length, access }) → the new rkey (type 1 only; posted on qp).
Napi::Value MemoryWindow::Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_mw* mw = handle(env);
  if (mw->type != IBV_MW_TYPE_1)
    Throw(env, "ERR_UNSUPPORTED", "type 2 windows are bound with a BIND_MW work request");
  QueuePair* qp = QueuePair::From(env, info[0], "qp");
  ibv_qp* q = qp->handle(env);
  Napi::Object o = ArgObject(info, 1, "bind");
  ibv_mw_bind bind{};
  Napi::Value v;
  if (!Prop(o, "wrId", &v)) ThrowArgType(env, "wrId", "a bigint");
  bind.wr_id = U64Prop(env, v, "wrId");
  if (Prop(o, "signaled", &v) && v.ToBoolean()) bind.send_flags = IBV_SEND_SIGNALED;
  ReadBindInfo(env, o, &bind.bind_info, pd_.get());
  int err = ibv_bind_mw(q, mw, &bind);
  if (err != 0) ThrowSys(env, err, "ibv_bind_mw");
  return Napi::Number::New(env, mw->rkey);
}

MemoryWindow* ReadBindMw(Napi::Env env, Napi::Object wr, ibv_send_wr& w, ProtectionDomain* pd) {
  MemoryWindow* mw = MemoryWindow::From(env, wr.Get("mw"), "mw");
  ibv_mw* m = mw->handle(env);
  if (m->type != IBV_MW_TYPE_2) Throw(env, "ERR_UNSUPPORTED", "type 1 windows are bound with mw.bind()");
  if (mw->pd() != pd) Throw(env, "ERR_WRONG_PD", "the window belongs to another protection domain");
  Napi::Value b;
  if (!Prop(wr, "bind", &b)) ThrowArgType(env, "bind", "an object { mr, offset, length, access }");
  ReadBindInfo(env, b, &w.bind_mw.bind_info, pd);
  if (w.bind_mw.bind_info.length == 0)
    ThrowArgRange(env, "bind", "a type 2 window is revoked with LOCAL_INV, not a zero-length bind");
  w.bind_mw.mw = m;
  w.bind_mw.rkey = ibv_inc_rkey(m->rkey);
  return mw;
}

}  // namespace rdma
