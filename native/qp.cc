#include "qp.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "addon_data.h"
#include "ah.h"
#include "capabilities.h"
#include "context.h"
#include "cq.h"
#include "enums.h"
#include "errors.h"
#include "mr.h"
#include "mw.h"
#include "names.h"
#include "pd.h"
#include "props.h"
#include "reaper.h"
#include "srq.h"
#include "work_request.h"

namespace rdma {

static const char* StateName(ibv_qp_state s) { return NameOf(kQpState, s); }

// The QP's current state from the driver: qp->state is only a cache of the last ibv_modify_qp and misses
// transitions the device makes itself (an RC QP moves to ERR when a work request fails).
static ibv_qp_state CurrentState(ibv_qp* qp) {
  ibv_qp_attr a;
  ibv_qp_init_attr init;
  if (ibv_query_qp(qp, &a, IBV_QP_STATE, &init) != 0) return qp->state;
  return a.qp_state;
}

// IB spec QP state machine: which target states each state may move to with ibv_modify_qp.
static bool TransitionAllowed(ibv_qp_state from, ibv_qp_state to) {
  if (to == IBV_QPS_RESET || to == IBV_QPS_ERR) return true;
  switch (from) {
    case IBV_QPS_RESET:
      return to == IBV_QPS_INIT;
    case IBV_QPS_INIT:
      return to == IBV_QPS_INIT || to == IBV_QPS_RTR;
    case IBV_QPS_RTR:
      return to == IBV_QPS_RTS;
    case IBV_QPS_RTS:
      return to == IBV_QPS_RTS || to == IBV_QPS_SQD;
    case IBV_QPS_SQD:
      return to == IBV_QPS_RTS || to == IBV_QPS_SQD;
    case IBV_QPS_SQE:
      return to == IBV_QPS_RTS;
    default:
      return false;
  }
}

static ibv_mtu MtuFromBytes(Napi::Env env, int64_t b) {
  switch (b) {
    case 256:
      return IBV_MTU_256;
    case 512:
      return IBV_MTU_512;
    case 1024:
      return IBV_MTU_1024;
    case 2048:
      return IBV_MTU_2048;
    case 4096:
      return IBV_MTU_4096;
    default:
      ThrowArgRange(env, "pathMtu", "must be 256, 512, 1024, 2048 or 4096");
  }
}

Napi::Function QueuePair::Init(Napi::Env env) {
  return Define(env, {
                         InstanceMethod<&QueuePair::Info>("info"),
                         InstanceAccessor<&QueuePair::State>("state"),
                         InstanceMethod<&QueuePair::Modify>("modify"),
                         InstanceMethod<&QueuePair::Query>("query"),
                         InstanceMethod<&QueuePair::PostSend>("postSend"),
                         InstanceMethod<&QueuePair::PostRecv>("postRecv"),
                         InstanceMethod<&QueuePair::PrepareSend>("prepareSend"),
                         InstanceMethod<&QueuePair::PostPrepared>("postPrepared"),
                         InstanceMethod<&QueuePair::PostPreparedPoll>("postPreparedPoll"),
                         InstanceMethod<&QueuePair::ReleasePrepared>("releasePrepared"),
                         InstanceMethod<&QueuePair::PostBatch>("postBatch"),
                         InstanceMethod<&QueuePair::PostFast>("postFast"),
                         InstanceMethod<&QueuePair::PostRecvFast>("postRecvFast"),
                     });
}

void ReadQpCap(Napi::Env env, Napi::Object o, ibv_qp_cap* cap) {
  cap->max_send_wr = uint32_t(OptIntOr(env, o, "maxSendWr", 1, 1 << 20, 128));
  cap->max_recv_wr = uint32_t(OptIntOr(env, o, "maxRecvWr", 1, 1 << 20, 128));
  cap->max_send_sge = uint32_t(OptIntOr(env, o, "maxSendSge", 1, kMaxSge, 1));
  cap->max_recv_sge = uint32_t(OptIntOr(env, o, "maxRecvSge", 1, kMaxSge, 1));
  cap->max_inline_data = uint32_t(OptIntOr(env, o, "maxInlineData", 0, 1 << 16, 0));
}

// The first operation of `ops` whose function the provider left unset in `qx`, or null.
static const char* MissingSendOp(ibv_qp_ex* qx, uint64_t ops) {
  struct {
    uint64_t op;
    bool set;
    const char* name;
  } fns[] = {
      {IBV_QP_EX_WITH_RDMA_WRITE, qx->wr_rdma_write != nullptr, "RDMA_WRITE"},
      {IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM, qx->wr_rdma_write_imm != nullptr, "RDMA_WRITE_WITH_IMM"},
      {IBV_QP_EX_WITH_SEND, qx->wr_send != nullptr, "SEND"},
      {IBV_QP_EX_WITH_SEND_WITH_IMM, qx->wr_send_imm != nullptr, "SEND_WITH_IMM"},
      {IBV_QP_EX_WITH_RDMA_READ, qx->wr_rdma_read != nullptr, "RDMA_READ"},
      {IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP, qx->wr_atomic_cmp_swp != nullptr, "ATOMIC_CMP_AND_SWP"},
      {IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD, qx->wr_atomic_fetch_add != nullptr, "ATOMIC_FETCH_AND_ADD"},
      {IBV_QP_EX_WITH_LOCAL_INV, qx->wr_local_inv != nullptr, "LOCAL_INV"},
      {IBV_QP_EX_WITH_BIND_MW, qx->wr_bind_mw != nullptr, "BIND_MW"},
      {IBV_QP_EX_WITH_SEND_WITH_INV, qx->wr_send_inv != nullptr, "SEND_WITH_INV"},
      {IBV_QP_EX_WITH_ATOMIC_WRITE, qx->wr_atomic_write != nullptr, "ATOMIC_WRITE"},
#ifdef RDMA_CCM_HAVE_WR_FLUSH
      {kQpExWithFlush, qx->wr_flush != nullptr, "FLUSH"},
#endif
  };
  for (const auto& f : fns)
    if ((ops & f.op) && !f.set) return f.name;
  const uint64_t noData =
      IBV_QP_EX_WITH_ATOMIC_WRITE | kQpExWithFlush | IBV_QP_EX_WITH_LOCAL_INV | IBV_QP_EX_WITH_BIND_MW;
  if ((ops & ~noData) && (qx->wr_set_sge_list == nullptr || qx->wr_set_inline_data_list == nullptr))
    return "local data";
  if (qx->qp_base.qp_type == IBV_QPT_UD && qx->wr_set_ud_addr == nullptr) return "UD addressing";
  if (qx->wr_start == nullptr || qx->wr_complete == nullptr || qx->wr_abort == nullptr) return "batches";
  return nullptr;
}

// The IBV_QP_EX_WITH_* flags of sendOps: [opcode name, ...].
static uint64_t ReadSendOps(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) ThrowArgType(env, "sendOps", "an array of opcode names");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() == 0) ThrowArgRange(env, "sendOps", "names no operation");
  uint64_t flags = 0;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) ThrowArgType(env, "sendOps[" + std::to_string(i) + "]", "an opcode name");
    const std::string name = e.As<Napi::String>().Utf8Value();
    const int bit = ValueOf(kSendOps, name);
    if (bit < 0) Throw(env, "ERR_UNKNOWN_OPCODE", "unknown opcode " + name);
    flags |= uint64_t(bit);
  }
  return flags;
}

// new QueuePair(pd, { type, sendCq, recvCq, srq, sqSigAll, maxSendWr, maxRecvWr, maxSendSge, maxRecvSge,
// maxInlineData,
//                     sendOps }); with sendOps, made with ibv_create_qp_ex for the extended send API
//                     (postBatch)
// or, from native code only: new QueuePair(External<rdma_cm_id>, pd, sendCq, recvCq, owner)
QueuePair::QueuePair(const Napi::CallbackInfo& info) : Base(info) {
  Napi::Env env = info.Env();
  if (info.Length() == 5 && info[0].IsExternal()) {
    cmId_ = info[0].As<Napi::External<rdma_cm_id>>().Data();
    ibv_qp* qp = cmId_->qp;
    type_ = qp->qp_type;
    ProtectionDomain* pd = ProtectionDomain::From(env, info[1], "pd");
    CompletionQueue* scq = CompletionQueue::From(env, info[2], "sendCq");
    CompletionQueue* rcq = CompletionQueue::From(env, info[3], "recvCq");
    ibv_qp_attr attr;
    ibv_qp_init_attr init;
    if (ibv_query_qp(qp, &attr, IBV_QP_CAP, &init) == 0) maxInline_ = init.cap.max_inline_data;
    Adopt(qp);
    ownerRef_ = Napi::Persistent(info[4].As<Napi::Object>());
    pd_.Hold(pd, info[1]);
    sendCq_.Hold(scq, info[2]);
    recvCq_.Hold(rcq, info[3]);
    return;
  }
  ProtectionDomain* pd = ProtectionDomain::From(env, info[0], "pd");
  Napi::Object o = ArgObject(info, 1, "options");
  Napi::Value v;
  if (!Prop(o, "type", &v) || !v.IsString()) ThrowArgType(env, "type", "'RC', 'UC' or 'UD'");
  std::string t = v.As<Napi::String>().Utf8Value();
  type_ = t == "RC" ? IBV_QPT_RC : t == "UC" ? IBV_QPT_UC : t == "UD" ? IBV_QPT_UD : IBV_QPT_RAW_PACKET;
  if (type_ == IBV_QPT_RAW_PACKET) ThrowArgRange(env, "type", "must be 'RC', 'UC' or 'UD'");
  Napi::Value sendCqObj, recvCqObj, srqObj;
  if (!Prop(o, "sendCq", &sendCqObj)) ThrowArgType(env, "sendCq", "a CompletionQueue");
  CompletionQueue* scq = CompletionQueue::From(env, sendCqObj, "sendCq");
  if (!Prop(o, "recvCq", &recvCqObj)) recvCqObj = sendCqObj;
  CompletionQueue* rcq = CompletionQueue::From(env, recvCqObj, "recvCq");
  if (scq->context() != pd->context() || rcq->context() != pd->context())
    Throw(env, "ERR_WRONG_CONTEXT", "the CQs and the PD belong to different device contexts");
  ibv_qp_init_attr attr{};
  attr.qp_type = type_;
  attr.send_cq = scq->handle(env);
  attr.recv_cq = rcq->handle(env);
  ReadQpCap(env, o, &attr.cap);
  if (Prop(o, "sqSigAll", &v)) attr.sq_sig_all = v.ToBoolean() ? 1 : 0;
  attr.qp_context = this;
  SharedReceiveQueue* srq = nullptr;
  if (Prop(o, "srq", &srqObj)) {
    srq = SharedReceiveQueue::From(env, srqObj, "srq");
    if (srq->pd() != pd)
      Throw(env, "ERR_WRONG_PD", "the shared receive queue belongs to another protection domain");
    attr.srq = srq->handle(env);
  }
  if (Prop(o, "sendOps", &v)) {
    sendOps_ = ReadSendOps(env, v);
    if (type_ != IBV_QPT_RC &&
        (sendOps_ & ~uint64_t(IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM | IBV_QP_EX_WITH_RDMA_WRITE |
                              IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)))
      Throw(env, "ERR_UNSUPPORTED", "only RC queue pairs READ, use atomics, windows, ATOMIC_WRITE or FLUSH");
    if (type_ == IBV_QPT_UD && (sendOps_ & ~uint64_t(IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM)))
      Throw(env, "ERR_UNSUPPORTED", "UD queue pairs only send");
    const DeviceCaps caps = QueryCaps(env, pd->handle(env)->context);
    RequireSendOps(env, caps, sendOps_);
    rxe_ = caps.vendorId == kRxeVendorId;
    ibv_qp_init_attr_ex ax{};
    ax.qp_context = attr.qp_context;
    ax.send_cq = attr.send_cq;
    ax.recv_cq = attr.recv_cq;
    ax.srq = attr.srq;
    ax.cap = attr.cap;
    ax.qp_type = attr.qp_type;
    ax.sq_sig_all = attr.sq_sig_all;
    ax.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
    ax.pd = pd->handle(env);
    ax.send_ops_flags = sendOps_;
    errno = 0;
    ibv_qp* made = ibv_create_qp_ex(ax.pd->context, &ax);
    if (made == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_create_qp_ex");
    // A provider that took an operation it has no function for would crash the post: refuse it here.
    if (const char* missing = MissingSendOp(ibv_qp_to_qp_ex(made), sendOps_)) {
      ibv_destroy_qp(made);
      ThrowNotSupported(env,
                        std::string(missing) + ": the provider's extended send API does not implement it");
    }
    Adopt(made);
    qpx_ = ibv_qp_to_qp_ex(made);
    attr.cap = ax.cap;
  } else {
    Create(env, "ibv_create_qp", [&] { return ibv_create_qp(pd->handle(env), &attr); });
  }
  maxInline_ = attr.cap.max_inline_data;
  pd_.Hold(pd, info[0]);
  sendCq_.Hold(scq, sendCqObj);
  recvCq_.Hold(rcq, recvCqObj);
  if (srq != nullptr) srq_.Hold(srq, srqObj);
}

Napi::Object QueuePair::WrapCm(Napi::Env env, rdma_cm_id* id, Napi::Object pd, Napi::Object sendCq,
                               Napi::Object recvCq, Napi::Object owner) {
  return Data(env).qp.New({Napi::External<rdma_cm_id>::New(env, id), pd, sendCq, recvCq, owner});
}

void QueuePair::Dispose(ibv_qp* qp) {
  // Windows bound through this QP hold it on the device: they go first, in the reaper's order too.
  std::vector<MemoryWindow*> windows;
  windows.swap(windows_);
  for (MemoryWindow* w : windows) w->QpClosing();
  // A QP made by the CM is its id's: the id forgets it here, on the JS thread.
  if (cmId_ != nullptr)
    ReapCmQp(Env(), cmId_);
  else
    Reap(Env(), "ibv_destroy_qp", [qp] { return ibv_destroy_qp(qp); });
  prepared_.clear();
  pd_.Drop();
  sendCq_.Drop();
  recvCq_.Drop();
  srq_.Drop();
  ownerRef_.Reset();
}

void QueuePair::ForgetWindow(MemoryWindow* mw) {
  for (size_t i = 0; i < windows_.size(); i++)
    if (windows_[i] == mw) {
      windows_[i] = windows_.back();
      windows_.pop_back();
      return;
    }
}

void QueuePair::ReapCmQp(Napi::Env env, rdma_cm_id* id) {
  ibv_qp* qp = id->qp;
  if (qp == nullptr) return;
  id->qp = nullptr;
  Reap(env, "ibv_destroy_qp", [qp] { return ibv_destroy_qp(qp); });
}

Napi::Value QueuePair::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_qp* qp = handle(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("qpNum", Napi::Number::New(env, qp->qp_num));
  o.Set("type", Napi::String::New(env, type_ == IBV_QPT_RC ? "RC" : type_ == IBV_QPT_UC ? "UC" : "UD"));
  o.Set("maxInlineData", Napi::Number::New(env, maxInline_));
  return o;
}

Napi::Value QueuePair::State(const Napi::CallbackInfo& info) {
  if (!open()) return Napi::String::New(info.Env(), "CLOSED");
  return Napi::String::New(info.Env(), StateName(CurrentState(raw())));
}

// modify({ qpState, pkeyIndex, portNum, qkey, qpAccessFlags, pathMtu, destQpNum, rqPsn, sqPsn, maxRdAtomic,
//          maxDestRdAtomic, minRnrTimer, timeout, retryCnt, rnrRetry, ahAttr: { dlid, sl, portNum, isGlobal,
//          grh: { dgid, sgidIndex, hopLimit, flowLabel, trafficClass } } })
Napi::Value QueuePair::Modify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_qp* qp = handle(env);
  Napi::Object o = ArgObject(info, 0, "attributes");
  ibv_qp_attr a{};
  int mask = 0;
  int64_t n;
  Napi::Value v;
  if (Prop(o, "qpState", &v)) {
    if (!v.IsString()) ThrowArgType(env, "qpState", "a QP state name");
    int s = ValueOf(kQpState, v.As<Napi::String>().Utf8Value());
    if (s < 0) ThrowArgRange(env, "qpState", "must be RESET, INIT, RTR, RTS, SQD, SQE or ERR");
    ibv_qp_state cur = CurrentState(qp);
    if (!TransitionAllowed(cur, ibv_qp_state(s)))
      Throw(env, "ERR_QP_STATE",
            std::string("a QP cannot move from ") + StateName(cur) + " to " + StateName(ibv_qp_state(s)));
    a.qp_state = ibv_qp_state(s);
    mask |= IBV_QP_STATE;
  }
  if (OptInt(env, o, "pkeyIndex", 0, 0xffff, &n)) a.pkey_index = uint16_t(n), mask |= IBV_QP_PKEY_INDEX;
  if (OptInt(env, o, "portNum", 1, 255, &n)) a.port_num = uint8_t(n), mask |= IBV_QP_PORT;
  if (OptInt(env, o, "qkey", 0, 0xffffffffLL, &n)) a.qkey = uint32_t(n), mask |= IBV_QP_QKEY;
  if (OptInt(env, o, "qpAccessFlags", 0, 0xffff, &n)) {
    // What partners may do through the QP: the remote flags, FLUSH's included (which the device must have).
    constexpr int kQpAccess = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
                              IBV_ACCESS_REMOTE_ATOMIC | kAccessFlushGlobal | kAccessFlushPersistent;
    if (n & ~kQpAccess)
      ThrowArgRange(
          env, "qpAccessFlags",
          "LOCAL_WRITE, REMOTE_WRITE, REMOTE_READ, REMOTE_ATOMIC, FLUSH_GLOBAL and FLUSH_PERSISTENT only");
    RequireAccess(env, qp->context, int(n));
    a.qp_access_flags = unsigned(n), mask |= IBV_QP_ACCESS_FLAGS;
  }
  if (OptInt(env, o, "pathMtu", 256, 4096, &n)) a.path_mtu = MtuFromBytes(env, n), mask |= IBV_QP_PATH_MTU;
  if (OptInt(env, o, "destQpNum", 0, 0xffffff, &n)) a.dest_qp_num = uint32_t(n), mask |= IBV_QP_DEST_QPN;
  if (OptInt(env, o, "rqPsn", 0, 0xffffff, &n)) a.rq_psn = uint32_t(n), mask |= IBV_QP_RQ_PSN;
  if (OptInt(env, o, "sqPsn", 0, 0xffffff, &n)) a.sq_psn = uint32_t(n), mask |= IBV_QP_SQ_PSN;
  if (OptInt(env, o, "maxRdAtomic", 0, 255, &n))
    a.max_rd_atomic = uint8_t(n), mask |= IBV_QP_MAX_QP_RD_ATOMIC;
  if (OptInt(env, o, "maxDestRdAtomic", 0, 255, &n))
    a.max_dest_rd_atomic = uint8_t(n), mask |= IBV_QP_MAX_DEST_RD_ATOMIC;
  if (OptInt(env, o, "minRnrTimer", 0, 31, &n)) a.min_rnr_timer = uint8_t(n), mask |= IBV_QP_MIN_RNR_TIMER;
  if (OptInt(env, o, "timeout", 0, 31, &n)) a.timeout = uint8_t(n), mask |= IBV_QP_TIMEOUT;
  if (OptInt(env, o, "retryCnt", 0, 7, &n)) a.retry_cnt = uint8_t(n), mask |= IBV_QP_RETRY_CNT;
  if (OptInt(env, o, "rnrRetry", 0, 7, &n)) a.rnr_retry = uint8_t(n), mask |= IBV_QP_RNR_RETRY;
  if (Prop(o, "ahAttr", &v)) {
    ReadAhAttr(env, v, &a.ah_attr);
    mask |= IBV_QP_AV;
  }
  if (mask == 0) ThrowArgRange(env, "attributes", "no attribute to modify");
  int err = ibv_modify_qp(qp, &a, mask);
  if (err != 0) ThrowSys(env, err, "ibv_modify_qp");
  return env.Undefined();
}

Napi::Value QueuePair::Query(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_qp* qp = handle(env);
  ibv_qp_attr a;
  ibv_qp_init_attr init;
  int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS | IBV_QP_CAP;
  if (type_ != IBV_QPT_UD)
    mask |= IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_SQ_PSN | IBV_QP_AV;
  if (type_ == IBV_QPT_RC)
    mask |= IBV_QP_MAX_QP_RD_ATOMIC | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
            IBV_QP_RNR_RETRY | IBV_QP_MIN_RNR_TIMER;
  if (type_ == IBV_QPT_UD) mask |= IBV_QP_QKEY | IBV_QP_SQ_PSN;
  int err = ibv_query_qp(qp, &a, mask, &init);
  if (err != 0) ThrowSys(env, err, "ibv_query_qp");
  Napi::Object o = Napi::Object::New(env);
  o.Set("qpState", Napi::String::New(env, StateName(a.qp_state)));
  o.Set("pkeyIndex", Napi::Number::New(env, a.pkey_index));
  o.Set("portNum", Napi::Number::New(env, a.port_num));
  o.Set("qpAccessFlags", Napi::Number::New(env, a.qp_access_flags));
  if (type_ != IBV_QPT_UD) {
    o.Set("pathMtu", Napi::Number::New(env, MtuBytes(a.path_mtu)));
    o.Set("destQpNum", Napi::Number::New(env, a.dest_qp_num));
    o.Set("rqPsn", Napi::Number::New(env, a.rq_psn));
  }
  o.Set("sqPsn", Napi::Number::New(env, a.sq_psn));
  if (type_ == IBV_QPT_RC) {
    o.Set("maxRdAtomic", Napi::Number::New(env, a.max_rd_atomic));
    o.Set("maxDestRdAtomic", Napi::Number::New(env, a.max_dest_rd_atomic));
    o.Set("timeout", Napi::Number::New(env, a.timeout));
    o.Set("retryCnt", Napi::Number::New(env, a.retry_cnt));
    o.Set("rnrRetry", Napi::Number::New(env, a.rnr_retry));
    o.Set("minRnrTimer", Napi::Number::New(env, a.min_rnr_timer));
  }
  if (type_ == IBV_QPT_UD) o.Set("qkey", Napi::Number::New(env, a.qkey));
  if (type_ != IBV_QPT_UD && a.qp_state >= IBV_QPS_RTR) {
    // The path the QP was connected over: for RoCE, the partner's GID (an IPv4-mapped or IPv6 address).
    o.Set("ahAttr", AhAttrToJs(env, a.ah_attr));
  }
  Napi::Object cap = Napi::Object::New(env);
  cap.Set("maxSendWr", Napi::Number::New(env, init.cap.max_send_wr));
  cap.Set("maxRecvWr", Napi::Number::New(env, init.cap.max_recv_wr));
  cap.Set("maxSendSge", Napi::Number::New(env, init.cap.max_send_sge));
  cap.Set("maxRecvSge", Napi::Number::New(env, init.cap.max_recv_sge));
  cap.Set("maxInlineData", Napi::Number::New(env, init.cap.max_inline_data));
  o.Set("cap", cap);
  return o;
}

// FLUSH's { placement: 'global' | 'persistent', selectivity: 'range' | 'region', length }.
static void ReadFlush(Napi::Env env, Napi::Object wr, PlacementOperands& p) {
  Napi::Value v;
  if (!Prop(wr, "flush", &v) || !v.IsObject())
    ThrowArgType(env, "flush", "an object { placement, selectivity, length }");
  Napi::Object f = v.As<Napi::Object>();
  Napi::Value pl, sel;
  const std::string placement =
      Prop(f, "placement", &pl) && pl.IsString() ? pl.As<Napi::String>().Utf8Value() : "";
  if (placement == "global")
    p.flushType = kFlushGlobal;
  else if (placement == "persistent")
    p.flushType = kFlushPersistent;
  else
    ThrowArgRange(env, "flush.placement", "must be 'global' or 'persistent'");
  const std::string selectivity =
      Prop(f, "selectivity", &sel) && sel.IsString() ? sel.As<Napi::String>().Utf8Value() : "range";
  if (selectivity == "range")
    p.flushLevel = kFlushRange;
  else if (selectivity == "region")
    p.flushLevel = kFlushRegion;
  else
    ThrowArgRange(env, "flush.selectivity", "must be 'range' or 'region'");
  int64_t len = 0;
  if (p.flushLevel == kFlushRange && !OptInt(env, f, "length", 1, int64_t(1) << 40, &len))
    ThrowArgType(env, "flush.length", "a length in bytes (a range FLUSH)");
  p.flushLength = uint64_t(len);
}

// Builds a chain of send work requests from JS objects:
// [{ wrId, opcode, sgl, flags, imm, remoteAddr, rkey, compareAdd, swap, remoteQpn, remoteQkey, ah, value,
// flush }]
void QueuePair::BuildSend(Napi::Env env, Napi::Value arg, SendChain& chain, ChainUse use) {
  if (!arg.IsArray()) ThrowArgType(env, "wrs", "an array of work requests");
  Napi::Array list = arg.As<Napi::Array>();
  uint32_t count = list.Length();
  if (count > kMaxWrsPerPost)
    ThrowArgRange(env, "wrs", "at most " + std::to_string(kMaxWrsPerPost) + " per call");
  std::vector<ibv_send_wr>& wrs = chain.wrs;
  std::vector<std::vector<ibv_sge>>& sges = chain.sges;
  wrs.assign(count, ibv_send_wr());
  sges.assign(count, std::vector<ibv_sge>());
  chain.windows.assign(count, nullptr);
  // Only a batch carries ATOMIC_WRITE or FLUSH, so only a batch needs their operands.
  chain.placement.assign(use == ChainUse::kBatch ? count : 0, PlacementOperands());
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value e = list.Get(i);
    if (!e.IsObject()) ThrowArgType(env, "wrs[" + std::to_string(i) + "]", "an object");
    Napi::Object o = e.As<Napi::Object>();
    ibv_send_wr& w = wrs[i];
    std::memset(&w, 0, sizeof w);
    Napi::Value v;
    if (!Prop(o, "wrId", &v)) ThrowArgType(env, "wrId", "a bigint");
    w.wr_id = U64Prop(env, v, "wrId");
    // The opcode by name (SendWr.opcode), looked up in the one table the constants come from.
    if (!Prop(o, "opcode", &v) || !v.IsString()) ThrowArgType(env, "opcode", "a work request opcode name");
    const std::string name = v.As<Napi::String>().Utf8Value();
    const int op = ValueOf(kWrOpcode, name);
    if (op < 0) Throw(env, "ERR_UNKNOWN_OPCODE", "unknown opcode " + name);
    if (use == ChainUse::kRepost && (op == IBV_WR_LOCAL_INV || op == IBV_WR_BIND_MW))
      Throw(env, "ERR_UNSUPPORTED", "window binds and invalidations cannot be prepared for reposting");
    const bool placementOp = op == IBV_WR_ATOMIC_WRITE || op == kWrFlush;
    if (placementOp && use != ChainUse::kBatch)
      Throw(env, "ERR_UNSUPPORTED", name + " is posted with qp.postBatch() (the extended send API)");
    if (use == ChainUse::kBatch && !(sendOps_ & uint64_t(ValueOf(kSendOps, name))))
      Throw(env, "ERR_UNSUPPORTED", "the queue pair was created without " + name + " in sendOps");
    w.opcode = ibv_wr_opcode(op);
    uint64_t total = ReadSgl(env, o, sges[i], pd_.get());
    w.num_sge = int(sges[i].size());

    int64_t flags = 0;
    OptInt(env, o, "flags", 0, 0xff, &flags);
    if (flags & ~AllFlags(kSendFlags)) ThrowArgRange(env, "flags", "unknown send flags");
    w.send_flags = unsigned(flags);
    // rxe's ibv_wr_set_sge_list before rdma-core 64 takes the first entry's length for every entry.
    if (use == ChainUse::kBatch && rxe_ && !(w.send_flags & IBV_SEND_INLINE))
      for (const ibv_sge& g : sges[i])
        if (g.length != sges[i][0].length)
          ThrowNotSupported(env,
                            "a gather list of entries of different lengths in a batch: rxe's extended send "
                            "API miscounts it before rdma-core 64 (post it with postSend)");
    if ((w.send_flags & IBV_SEND_INLINE) && total > maxInline_)
      ThrowArgRange(env, "flags",
                    "inline data of " + std::to_string(total) + " bytes exceeds the QP's " +
                        std::to_string(maxInline_));
    int64_t imm;
    if (op == IBV_WR_SEND_WITH_IMM || op == IBV_WR_RDMA_WRITE_WITH_IMM) {
      if (!OptInt(env, o, "imm", 0, 0xffffffffLL, &imm))
        ThrowArgType(env, "imm", "a 32-bit unsigned integer");
      w.imm_data = htonl(uint32_t(imm));
    }
    // ATOMIC_WRITE and FLUSH address the partner's memory as RDMA does (remoteAddr, rkey in wr.rdma).
    bool rdma =
        op == IBV_WR_RDMA_WRITE || op == IBV_WR_RDMA_WRITE_WITH_IMM || op == IBV_WR_RDMA_READ || placementOp;
    bool atomic = op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD;
    if ((rdma || atomic) && type_ == IBV_QPT_UD) Throw(env, "ERR_UNSUPPORTED", "UD queue pairs only send");
    bool mwOp = op == IBV_WR_LOCAL_INV || op == IBV_WR_BIND_MW || op == IBV_WR_SEND_WITH_INV;
    if (mwOp && type_ == IBV_QPT_UD) Throw(env, "ERR_UNSUPPORTED", "UD queue pairs only send");
    if ((op == IBV_WR_RDMA_READ || atomic) && type_ == IBV_QPT_UC)
      Throw(env, "ERR_UNSUPPORTED", "UC queue pairs cannot READ or use atomics");
    if (op == IBV_WR_LOCAL_INV || op == IBV_WR_SEND_WITH_INV) {
      int64_t rk;
      if (!OptInt(env, o, "invalidateRkey", 0, 0xffffffffLL, &rk))
        ThrowArgType(env, "invalidateRkey", "a 32-bit unsigned integer");
      w.invalidate_rkey = uint32_t(rk);
    }
    if (op == IBV_WR_BIND_MW) {
      if (type_ != IBV_QPT_RC) Throw(env, "ERR_UNSUPPORTED", "windows are bound on RC queue pairs");
      chain.windows[i] = ReadBindMw(env, o, w, pd_.get());
    }
    if (rdma || atomic) {
      if (!Prop(o, "remoteAddr", &v)) ThrowArgType(env, "remoteAddr", "a bigint");
      uint64_t raddr = U64Prop(env, v, "remoteAddr");
      int64_t rkey;
      if (!OptInt(env, o, "rkey", 0, 0xffffffffLL, &rkey))
        ThrowArgType(env, "rkey", "a 32-bit unsigned integer");
      if (rdma) {
        w.wr.rdma.remote_addr = raddr;
        w.wr.rdma.rkey = uint32_t(rkey);
      } else {
        if (raddr % 8 != 0) ThrowArgRange(env, "remoteAddr", "atomics need an 8-byte aligned address");
        if (total != 8 || sges[i].size() != 1)
          ThrowArgRange(env, "sgl", "atomics need exactly one 8-byte entry");
        w.wr.atomic.remote_addr = raddr;
        w.wr.atomic.rkey = uint32_t(rkey);
        if (!Prop(o, "compareAdd", &v)) ThrowArgType(env, "compareAdd", "a bigint");
        w.wr.atomic.compare_add = U64Prop(env, v, "compareAdd");
        if (op == IBV_WR_ATOMIC_CMP_AND_SWP) {
          if (!Prop(o, "swap", &v)) ThrowArgType(env, "swap", "a bigint");
          w.wr.atomic.swap = U64Prop(env, v, "swap");
        }
      }
    }
    if (placementOp) {
      if (type_ != IBV_QPT_RC) Throw(env, "ERR_UNSUPPORTED", name + " runs on RC queue pairs");
      if (!sges[i].empty()) ThrowArgRange(env, "sgl", name + " takes no local data");
      PlacementOperands& p = chain.placement[i];
      if (op == IBV_WR_ATOMIC_WRITE) {
        if (w.wr.rdma.remote_addr % 8 != 0)
          ThrowArgRange(env, "remoteAddr", "ATOMIC_WRITE needs an 8-byte aligned address");
        if (!Prop(o, "value", &v)) ThrowArgType(env, "value", "a bigint (the 8 bytes written)");
        const uint64_t value = U64Prop(env, v, "value");
        std::memcpy(p.atomicValue, &value, sizeof value);
      } else {
        ReadFlush(env, o, p);
      }
    }
    if (type_ == IBV_QPT_UD) {
      if (!Prop(o, "ah", &v)) ThrowArgType(env, "ah", "an AddressHandle (UD sends need one)");
      AddressHandle* ah = AddressHandle::From(env, v, "ah");
      if (ah->pd() != pd_.get())
        Throw(env, "ERR_WRONG_PD", "the address handle belongs to another protection domain");
      w.wr.ud.ah = ah->handle(env);
      w.wr.ud.remote_qpn = uint32_t(ReqInt(env, o, "remoteQpn", 0, 0xffffff));
      w.wr.ud.remote_qkey = uint32_t(ReqInt(env, o, "remoteQkey", 0, 0xffffffffLL));
    }
  }
  for (uint32_t i = 0; i < count; i++) {
    wrs[i].sg_list = sges[i].empty() ? nullptr : sges[i].data();
    wrs[i].next = i + 1 < count ? &wrs[i + 1] : nullptr;
  }
}

void QueuePair::BindsPosted(SendChain& chain, size_t accepted) {
  for (size_t i = 0; i < accepted; i++)
    if (chain.wrs[i].opcode == IBV_WR_BIND_MW) {
      chain.wrs[i].bind_mw.mw->rkey = chain.wrs[i].bind_mw.rkey;
      chain.windows[i]->BoundThrough(this);
    }
}

void QueuePair::Post(Napi::Env env, SendChain& chain) {
  if (chain.wrs.empty()) return;
  ibv_send_wr* bad = nullptr;
  int err = ibv_post_send(handle(env), chain.wrs.data(), &bad);
  BindsPosted(chain, err == 0 ? chain.wrs.size() : bad ? size_t(bad - chain.wrs.data()) : 0);
  if (err != 0) ThrowPostError(env, err, "ibv_post_send", chain.wrs.data(), bad);
}

// Every request was checked by BuildSend: nothing between ibv_wr_start and ibv_wr_complete can throw,
// and a failed ibv_wr_complete posts none of the batch.
void QueuePair::PostExtended(Napi::Env env, SendChain& chain) {
  if (chain.wrs.empty()) return;
  ibv_qp_ex* qx = qpx_;
  std::vector<uint8_t> inlined;
  ibv_wr_start(qx);
  for (size_t i = 0; i < chain.wrs.size(); i++) {
    const ibv_send_wr& w = chain.wrs[i];
    const PlacementOperands& p = chain.placement[i];
    qx->wr_id = w.wr_id;
    // IBV_SEND_INLINE stays in the flags: rxe's kernel side reads it to find the data in the request.
    qx->wr_flags = w.send_flags;
    const uint32_t rkey = w.wr.rdma.rkey;
    const uint64_t raddr = w.wr.rdma.remote_addr;
    bool data = true;
    switch (int(w.opcode)) {
      case IBV_WR_RDMA_WRITE:
        ibv_wr_rdma_write(qx, rkey, raddr);
        break;
      case IBV_WR_RDMA_WRITE_WITH_IMM:
        ibv_wr_rdma_write_imm(qx, rkey, raddr, w.imm_data);
        break;
      case IBV_WR_SEND:
        ibv_wr_send(qx);
        break;
      case IBV_WR_SEND_WITH_IMM:
        ibv_wr_send_imm(qx, w.imm_data);
        break;
      case IBV_WR_SEND_WITH_INV:
        ibv_wr_send_inv(qx, w.invalidate_rkey);
        break;
      case IBV_WR_RDMA_READ:
        ibv_wr_rdma_read(qx, rkey, raddr);
        break;
      case IBV_WR_ATOMIC_CMP_AND_SWP:
        ibv_wr_atomic_cmp_swp(qx, w.wr.atomic.rkey, w.wr.atomic.remote_addr, w.wr.atomic.compare_add,
                              w.wr.atomic.swap);
        break;
      case IBV_WR_ATOMIC_FETCH_AND_ADD:
        ibv_wr_atomic_fetch_add(qx, w.wr.atomic.rkey, w.wr.atomic.remote_addr, w.wr.atomic.compare_add);
        break;
      case IBV_WR_LOCAL_INV:
        ibv_wr_local_inv(qx, w.invalidate_rkey), data = false;
        break;
      case IBV_WR_BIND_MW:
        ibv_wr_bind_mw(qx, w.bind_mw.mw, w.bind_mw.rkey, &w.bind_mw.bind_info), data = false;
        break;
      case IBV_WR_ATOMIC_WRITE:
        ibv_wr_atomic_write(qx, rkey, raddr, p.atomicValue), data = false;
        break;
#ifdef RDMA_CCM_HAVE_WR_FLUSH
      case kWrFlush:
        ibv_wr_flush(qx, rkey, raddr, size_t(p.flushLength), p.flushType, p.flushLevel), data = false;
        break;
#endif
    }
    if (type_ == IBV_QPT_UD) ibv_wr_set_ud_addr(qx, w.wr.ud.ah, w.wr.ud.remote_qpn, w.wr.ud.remote_qkey);
    if (!data) continue;
    if (w.send_flags & IBV_SEND_INLINE) {
      // Gathered into one buffer for ibv_wr_set_inline_data (the provider copies it at once): rxe's
      // ibv_wr_set_inline_data_list before rdma-core 64 records a length of 0.
      inlined.clear();
      for (const ibv_sge& g : chain.sges[i]) {
        const uint8_t* from = reinterpret_cast<const uint8_t*>(uintptr_t(g.addr));
        inlined.insert(inlined.end(), from, from + g.length);
      }
      ibv_wr_set_inline_data(qx, inlined.data(), inlined.size());
    } else {
      ibv_wr_set_sge_list(qx, chain.sges[i].size(), chain.sges[i].data());
    }
  }
  int err = ibv_wr_complete(qx);
  if (err != 0) {
    Napi::Error e = SysError(env, err, "ibv_wr_complete");
    e.Set("posted", Napi::Number::New(env, 0));
    throw e;
  }
  BindsPosted(chain, chain.wrs.size());
}

// postSend(wrs) and postBatch(wrs): one chain, every request read and checked before any is posted;
// postBatch posts it through the extended send API (a QP created with sendOps), where a batch the
// provider refuses posts none of its requests.
Napi::Value QueuePair::PostChain(const Napi::CallbackInfo& info, ChainUse use) {
  Napi::Env env = info.Env();
  handle(env);
  if (use == ChainUse::kBatch && qpx_ == nullptr)
    Throw(env, "ERR_UNSUPPORTED",
          "postBatch needs a queue pair created with sendOps (the extended send API)");
  SendChain chain;
  BuildSend(env, info[0], chain, use);
  if (use == ChainUse::kBatch)
    PostExtended(env, chain);
  else
    Post(env, chain);
  return env.Undefined();
}

Napi::Value QueuePair::PostSend(const Napi::CallbackInfo& info) { return PostChain(info, ChainUse::kPost); }

Napi::Value QueuePair::PostBatch(const Napi::CallbackInfo& info) { return PostChain(info, ChainUse::kBatch); }

// prepareSend(wrs) → handle: the chain is built once; postPrepared(handle) posts it again and again
// without touching a JS object (the benchmark fast path; lib/verbs keeps the regions open meanwhile).
Napi::Value QueuePair::PrepareSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  handle(env);
  auto chain = std::make_unique<SendChain>();
  BuildSend(env, info[0], *chain, ChainUse::kRepost);
  if (chain->wrs.empty()) ThrowArgRange(env, "wrs", "nothing to prepare");
  for (size_t i = 0; i < prepared_.size(); i++)
    if (!prepared_[i]) {
      prepared_[i] = std::move(chain);
      return Napi::Number::New(env, double(i));
    }
  prepared_.push_back(std::move(chain));
  return Napi::Number::New(env, double(prepared_.size() - 1));
}

SendChain& QueuePair::Prepared(Napi::Env env, const Napi::CallbackInfo& info) {
  int64_t h = ArgInt(info, 0, "handle", 0, 1 << 30);
  if (size_t(h) >= prepared_.size() || !prepared_[size_t(h)])
    ThrowArgRange(env, "handle", "no such prepared work request");
  return *prepared_[size_t(h)];
}

Napi::Value QueuePair::PostPrepared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  handle(env);
  Post(env, Prepared(env, info));
  return env.Undefined();
}

// postPreparedPoll(handle, cq, spinUs): postPrepared(handle), then cq.pollCount(1, spinUs), in one call
// into the addon instead of two. Every argument is read before anything is posted.
Napi::Value QueuePair::PostPreparedPoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  handle(env);
  SendChain& chain = Prepared(env, info);
  CompletionQueue* cq = CompletionQueue::From(env, info[1], "cq");
  cq->handle(env);
  int64_t spinUs = ArgIntOr(info, 2, "spinUs", 0, CompletionQueue::kMaxSpinUs, 0);
  Post(env, chain);
  return cq->CountCompletions(env, 1, spinUs);
}

Napi::Value QueuePair::ReleasePrepared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Prepared(env, info);
  prepared_[size_t(info[0].As<Napi::Number>().Int64Value())].reset();
  return env.Undefined();
}

// postRecv([{ wrId, sgl }])
Napi::Value QueuePair::PostRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_qp* qp = handle(env);
  if (srq_) Throw(env, "ERR_UNSUPPORTED", "this queue pair receives through its shared receive queue");
  RecvChain chain;
  BuildRecv(env, info[0], pd_.get(), chain);
  if (chain.wrs.empty()) return env.Undefined();
  ibv_recv_wr* bad = nullptr;
  int err = ibv_post_recv(qp, chain.wrs.data(), &bad);
  if (err != 0) ThrowPostError(env, err, "ibv_post_recv", chain.wrs.data(), bad);
  return env.Undefined();
}

// Ids at or above 2^63 are the library's own (lib/verbs numbers its requests there): a caller's
// descriptors may not use them.
static void CheckCallerId(Napi::Env env, const uint32_t* d, uint32_t i, bool library) {
  if (!library && (d[kDescIdHigh] & 0x80000000u))
    ThrowDesc(env, "ERR_OUT_OF_RANGE", i, "ids at or above 2^63 are the library's");
}

// postFast(desc: Uint32Array, count, library): `count` send requests from fixed-shape descriptors
// (work_request.h), one local entry each, posted in one ibv_post_send. The opcodes that need nothing
// else: RDMA_WRITE(_WITH_IMM), SEND(_WITH_IMM), SEND_WITH_INV, RDMA_READ, on RC and UC queue pairs.
// Every descriptor is checked before any is posted.
Napi::Value QueuePair::PostFast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_qp* qp = handle(env);
  uint32_t count = 0;
  const uint32_t* desc = ReadDescriptors(env, info[0], info[1], &count);
  const bool library = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  if (type_ == IBV_QPT_UD) Throw(env, "ERR_UNSUPPORTED", "UD sends need an address handle: use postSend");
  fastSends_.resize(count);
  fastSges_.resize(count);
  const unsigned allFlags = unsigned(AllFlags(kSendFlags));
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* d = desc + size_t(i) * kDescStride;
    CheckCallerId(env, d, i, library);
    ibv_send_wr& w = fastSends_[i];
    std::memset(&w, 0, sizeof w);
    w.wr_id = uint64_t(d[kDescId]) | uint64_t(d[kDescIdHigh]) << 32;
    const uint32_t op = d[kDescOpcode];
    switch (op) {
      case IBV_WR_RDMA_WRITE:
      case IBV_WR_RDMA_WRITE_WITH_IMM:
      case IBV_WR_RDMA_READ:
        if (op == IBV_WR_RDMA_READ && type_ == IBV_QPT_UC)
          ThrowDesc(env, "ERR_UNSUPPORTED", i, "UC queue pairs cannot READ");
        w.wr.rdma.remote_addr = uint64_t(d[kDescRemote]) | uint64_t(d[kDescRemoteHigh]) << 32;
        w.wr.rdma.rkey = d[kDescRkey];
        break;
      case IBV_WR_SEND:
      case IBV_WR_SEND_WITH_IMM:
        break;
      case IBV_WR_SEND_WITH_INV:
        w.invalidate_rkey = d[kDescImm];
        break;
      default:
        if (op <= 0xff && Has(kWrOpcode, int(op)))
          ThrowDesc(env, "ERR_UNSUPPORTED", i,
                    std::string(NameOf(kWrOpcode, int(op))) + " is posted with postSend");
        ThrowDesc(env, "ERR_UNKNOWN_OPCODE", i, "unknown opcode " + std::to_string(op));
    }
    w.opcode = ibv_wr_opcode(op);
    if (op == IBV_WR_RDMA_WRITE_WITH_IMM || op == IBV_WR_SEND_WITH_IMM) w.imm_data = htonl(d[kDescImm]);
    if (d[kDescFlags] & ~allFlags) ThrowDesc(env, "ERR_OUT_OF_RANGE", i, "unknown send flags");
    w.send_flags = d[kDescFlags];
    if (DescSge(env, d, i, pd_.get(), &fastSges_[i])) {
      w.sg_list = &fastSges_[i];
      w.num_sge = 1;
    }
    if ((w.send_flags & IBV_SEND_INLINE) && d[kDescLength] > maxInline_)
      ThrowDesc(env, "ERR_OUT_OF_RANGE", i,
                "inline data of " + std::to_string(d[kDescLength]) + " bytes exceeds the QP's " +
                    std::to_string(maxInline_));
    w.next = i + 1 < count ? &fastSends_[i + 1] : nullptr;
  }
  if (count == 0) return env.Undefined();
  ibv_send_wr* bad = nullptr;
  int err = ibv_post_send(qp, fastSends_.data(), &bad);
  if (err != 0) ThrowPostError(env, err, "ibv_post_send", fastSends_.data(), bad);
  return env.Undefined();
}

// postRecvFast(desc: Uint32Array, count, library): `count` receives from descriptors (id and local
// memory), posted in one ibv_post_recv.
Napi::Value QueuePair::PostRecvFast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_qp* qp = handle(env);
  uint32_t count = 0;
  const uint32_t* desc = ReadDescriptors(env, info[0], info[1], &count);
  const bool library = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  if (srq_) Throw(env, "ERR_UNSUPPORTED", "this queue pair receives through its shared receive queue");
  for (uint32_t i = 0; i < count; i++) CheckCallerId(env, desc + size_t(i) * kDescStride, i, library);
  BuildRecvFast(env, desc, count, pd_.get(), fastRecvs_, fastSges_);
  if (count == 0) return env.Undefined();
  ibv_recv_wr* bad = nullptr;
  int err = ibv_post_recv(qp, fastRecvs_.data(), &bad);
  if (err != 0) ThrowPostError(env, err, "ibv_post_recv", fastRecvs_.data(), bad);
  return env.Undefined();
}

}  // namespace rdma
