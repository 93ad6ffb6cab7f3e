#include "reaper.h"
#include "cq.h"

#include <fcntl.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "context.h"
#include "errors.h"

namespace rdma {

static const char* OpcodeName(ibv_wc_opcode op) {
  switch (op) {
    case IBV_WC_SEND: return "SEND";
    case IBV_WC_RDMA_WRITE: return "RDMA_WRITE";
    case IBV_WC_RDMA_READ: return "RDMA_READ";
    case IBV_WC_COMP_SWAP: return "COMP_SWAP";
    case IBV_WC_FETCH_ADD: return "FETCH_ADD";
    case IBV_WC_BIND_MW: return "BIND_MW";
    case IBV_WC_LOCAL_INV: return "LOCAL_INV";
    case IBV_WC_RECV: return "RECV";
    case IBV_WC_RECV_RDMA_WITH_IMM: return "RECV_RDMA_WITH_IMM";
    default: return "UNKNOWN";
  }
}

// Status names without the IBV_WC_ prefix ("SUCCESS", "REM_ACCESS_ERR", ...).
static const char* StatusName(ibv_wc_status s) {
  switch (s) {
    case IBV_WC_SUCCESS: return "SUCCESS";
    case IBV_WC_LOC_LEN_ERR: return "LOC_LEN_ERR";
    case IBV_WC_LOC_QP_OP_ERR: return "LOC_QP_OP_ERR";
    case IBV_WC_LOC_EEC_OP_ERR: return "LOC_EEC_OP_ERR";
    case IBV_WC_LOC_PROT_ERR: return "LOC_PROT_ERR";
    case IBV_WC_WR_FLUSH_ERR: return "WR_FLUSH_ERR";
    case IBV_WC_MW_BIND_ERR: return "MW_BIND_ERR";
    case IBV_WC_BAD_RESP_ERR: return "BAD_RESP_ERR";
    case IBV_WC_LOC_ACCESS_ERR: return "LOC_ACCESS_ERR";
    case IBV_WC_REM_INV_REQ_ERR: return "REM_INV_REQ_ERR";
    case IBV_WC_REM_ACCESS_ERR: return "REM_ACCESS_ERR";
    case IBV_WC_REM_OP_ERR: return "REM_OP_ERR";
    case IBV_WC_RETRY_EXC_ERR: return "RETRY_EXC_ERR";
    case IBV_WC_RNR_RETRY_EXC_ERR: return "RNR_RETRY_EXC_ERR";
    case IBV_WC_LOC_RDD_VIOL_ERR: return "LOC_RDD_VIOL_ERR";
    case IBV_WC_REM_INV_RD_REQ_ERR: return "REM_INV_RD_REQ_ERR";
    case IBV_WC_REM_ABORT_ERR: return "REM_ABORT_ERR";
    case IBV_WC_INV_EECN_ERR: return "INV_EECN_ERR";
    case IBV_WC_INV_EEC_STATE_ERR: return "INV_EEC_STATE_ERR";
    case IBV_WC_FATAL_ERR: return "FATAL_ERR";
    case IBV_WC_RESP_TIMEOUT_ERR: return "RESP_TIMEOUT_ERR";
    case IBV_WC_GENERAL_ERR: return "GENERAL_ERR";
    default: return "UNKNOWN";
  }
}

Napi::Object CompletionToJs(Napi::Env env, const ibv_wc& wc) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("wrId", Napi::BigInt::New(env, uint64_t(wc.wr_id)));
  o.Set("status", Napi::String::New(env, StatusName(wc.status)));
  o.Set("statusCode", Napi::Number::New(env, wc.status));
  // Only wr_id, status, qp_num and vendor_err are valid for a failed completion.
  o.Set("opcode", Napi::String::New(env, wc.status == IBV_WC_SUCCESS ? OpcodeName(wc.opcode) : "UNKNOWN"));
  o.Set("byteLen", Napi::Number::New(env, wc.status == IBV_WC_SUCCESS ? wc.byte_len : 0));
  if (wc.status == IBV_WC_SUCCESS && (wc.wc_flags & IBV_WC_WITH_IMM)) o.Set("immData", Napi::Number::New(env, ntohl(wc.imm_data)));
  if (wc.status == IBV_WC_SUCCESS && (wc.wc_flags & IBV_WC_WITH_INV)) o.Set("invalidatedRkey", Napi::Number::New(env, wc.invalidated_rkey));
  // Raw ibv_wc_flags, and the imm_data / invalidated_rkey union: kernel-driven providers (rxe) report a
  // SEND_WITH_INV receive with the kernel's flag layout, which lib/verbs reads knowing the QP type.
  o.Set("wcFlags", Napi::Number::New(env, wc.status == IBV_WC_SUCCESS ? wc.wc_flags : 0));
  if (wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RECV) o.Set("exData", Napi::Number::New(env, wc.invalidated_rkey));
  // UD receives: the first 40 bytes of the buffer hold the GRH when this is set.
  if (wc.status == IBV_WC_SUCCESS && (wc.wc_flags & IBV_WC_GRH)) o.Set("grh", Napi::Boolean::New(env, true));
  o.Set("srcQp", Napi::Number::New(env, wc.status == IBV_WC_SUCCESS ? wc.src_qp : 0));
  o.Set("qpNum", Napi::Number::New(env, wc.qp_num));
  o.Set("vendorErr", Napi::Number::New(env, wc.vendor_err));
  return o;
}

Napi::Function CompletionQueue::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "CompletionQueue",
                                 {
                                     InstanceMethod<&CompletionQueue::Poll>("poll"),
                                     InstanceMethod<&CompletionQueue::PollCount>("pollCount"),
                                     InstanceMethod<&CompletionQueue::Ref>("ref"),
                                     InstanceMethod<&CompletionQueue::Unref>("unref"),
                                     InstanceAccessor<&CompletionQueue::Closed>("closed"),
                                     InstanceMethod<&CompletionQueue::Close>("close"),
                                 });
  Data(env).cq = Napi::Persistent(f);
  return f;
}

// new CompletionQueue(context, cqe, onCompletions(batch: object[]))
CompletionQueue::CompletionQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CompletionQueue>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  Napi::Object ctxObj = ArgObject(info, 0, "context");
  if (!ctxObj.InstanceOf(Data(env).context.Value())) ThrowArgType(env, "context", "a Context");
  context_ = Napi::ObjectWrap<Context>::Unwrap(ctxObj);
  ibv_context* ctx = context_->handle(env);
  int cqe = int(ArgInt(info, 1, "cqe", 1, 1 << 22));
  if (!info[2].IsFunction()) ThrowArgType(env, "onCompletions", "a function");

  errno = 0;
  channel_ = ibv_create_comp_channel(ctx);
  if (channel_ == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_create_comp_channel");
  int flags = fcntl(channel_->fd, F_GETFL);
  if (flags < 0 || fcntl(channel_->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    ibv_destroy_comp_channel(channel_);
    channel_ = nullptr;
    ThrowSys(env, err, "fcntl");
  }
  errno = 0;
  cq_ = ibv_create_cq(ctx, cqe, this, channel_, 0);
  if (cq_ == nullptr) {
    int err = errno ? errno : ENOMEM;
    ibv_destroy_comp_channel(channel_);
    channel_ = nullptr;
    ThrowSys(env, err, "ibv_create_cq");
  }
  int err = ibv_req_notify_cq(cq_, 0);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  if (err == 0) err = -uv_poll_init(loop, poll_, channel_->fd);
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    ibv_destroy_cq(cq_);
    ibv_destroy_comp_channel(channel_);
    cq_ = nullptr;
    channel_ = nullptr;
    ThrowSys(env, err, "ibv_req_notify_cq");
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, OnReadable);
  // Idle CQs do not keep the process alive; lib/verbs refs the CQ while work is outstanding.
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  // The callback reaches the JS wrapper, so it must not be a root: it lives on this object (weakly
  // referenced here), and an idle CQ nobody uses can be collected. ref() holds the CQ while work is
  // outstanding, so that what the work needs stays alive until its completion.
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value("onCompletions", info[2], napi_default));
  onCompletions_ = Napi::Weak(info[2].As<Napi::Function>());
  contextRef_ = Napi::Persistent(ctxObj);
  context_->AddChild();
}

CompletionQueue::~CompletionQueue() { Release(); }

void CompletionQueue::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<CompletionQueue*>(handle->data);
  if (self == nullptr || self->cq_ == nullptr) return;
  Napi::Env env = self->env_;
  Napi::HandleScope scope(env);
  try {
    self->Drain();
  } catch (const Napi::Error& e) {
    // Surfaces as an uncaughtException in JS instead of unwinding through libuv.
    napi_fatal_exception(env, e.Value());
  }
}

void CompletionQueue::Drain() {
  // Consume every pending event (the fd is non-blocking), acknowledge them, re-arm, then poll: a
  // completion that lands after the poll raises a new event, so none is missed.
  void* ctx = nullptr;
  ibv_cq* evcq = nullptr;
  unsigned events = 0;
  while (ibv_get_cq_event(channel_, &evcq, &ctx) == 0) events++;
  if (events > 0) ibv_ack_cq_events(cq_, events);
  ibv_req_notify_cq(cq_, 0);
  Napi::Array batch = PollBatch(env_, 1 << 16, 0);
  if (batch.Length() == 0) return;
  Napi::Object self = Value();
  if (self.IsEmpty() || onCompletions_.IsEmpty() || onCompletions_.Value().IsEmpty()) return;  // being collected
  onCompletions_.MakeCallback(self, {batch});
}

// ibv_poll_cq, spinning up to spinUs µs while the CQ is empty: a latency-critical loop then crosses
// into the addon once per completion instead of once per empty poll.
static int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
}

static int PollSpinning(ibv_cq* cq, int want, ibv_wc* wc, int64_t spinUs) {
  int got = ibv_poll_cq(cq, want, wc);
  if (got != 0 || spinUs == 0) return got;
  int64_t deadline = MonotonicNs() + spinUs * 1000;
  do {
    got = ibv_poll_cq(cq, want, wc);
    if (got != 0) return got;
  } while (MonotonicNs() < deadline);
  return 0;
}

// The longest a poll may spin: it holds the event loop meanwhile.
static constexpr int64_t kMaxSpinUs = 1000000;

Napi::Array CompletionQueue::PollBatch(Napi::Env env, int max, int64_t spinUs) {
  Napi::Array out = Napi::Array::New(env);
  ibv_wc wc[32];
  uint32_t n = 0;
  while (int(n) < max) {
    int want = std::min(32, max - int(n));
    int got = PollSpinning(cq_, want, wc, n == 0 ? spinUs : 0);
    if (got < 0) ThrowSys(env, EIO, "ibv_poll_cq");
    for (int i = 0; i < got; i++) out.Set(n++, CompletionToJs(env, wc[i]));
    if (got < want) break;
  }
  return out;
}

ibv_cq* CompletionQueue::handle(Napi::Env env) const {
  if (cq_ == nullptr) ThrowClosed(env, "CompletionQueue");
  return cq_;
}

CompletionQueue* CompletionQueue::From(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).cq.Value())) ThrowArgType(env, name, "a CompletionQueue");
  return Napi::ObjectWrap<CompletionQueue>::Unwrap(v.As<Napi::Object>());
}

// poll(max, spinUs = 0): completions available now, or within spinUs µs of spinning when there are none
// (for latency-critical callers).
Napi::Value CompletionQueue::Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  handle(env);
  int max = int(ArgInt(info, 0, "max", 1, 1 << 16));
  return PollBatch(env, max, ArgIntOr(info, 1, "spinUs", 0, kMaxSpinUs, 0));
}

// pollCount(max, spinUs = 0): how many completions were available (at most max; spinning up to spinUs
// µs for the first), without making JS objects; a failed one throws ERR_WC_<STATUS> with the completion
// (for CQs that carry only raw work).
Napi::Value CompletionQueue::PollCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_cq* cq = handle(env);
  int max = int(ArgInt(info, 0, "max", 1, 4096));
  int64_t spinUs = ArgIntOr(info, 1, "spinUs", 0, kMaxSpinUs, 0);
  ibv_wc wc[64];
  int total = 0;
  while (total < max) {
    int want = std::min(64, max - total);
    int got = PollSpinning(cq, want, wc, total == 0 ? spinUs : 0);
    if (got < 0) ThrowSys(env, EIO, "ibv_poll_cq");
    for (int i = 0; i < got; i++)
      if (wc[i].status != IBV_WC_SUCCESS) {
        Napi::Object c = CompletionToJs(env, wc[i]);
        Napi::Error e = Napi::Error::New(env, std::string("work request completed with ") + StatusName(wc[i].status));
        e.Set("code", Napi::String::New(env, std::string("ERR_WC_") + StatusName(wc[i].status)));
        e.Set("completion", c);
        throw e;
      }
    total += got;
    if (got < want) break;
  }
  return Napi::Number::New(env, total);
}

Napi::Value CompletionQueue::Ref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  if (!held_ && cq_ != nullptr) {
    held_ = true;
    Napi::ObjectWrap<CompletionQueue>::Ref();  // a strong reference: not collected while work is outstanding
  }
  return info.Env().Undefined();
}

Napi::Value CompletionQueue::Unref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  Drop();
  return info.Env().Undefined();
}

void CompletionQueue::Drop() {
  if (!held_) return;
  held_ = false;
  Napi::ObjectWrap<CompletionQueue>::Unref();
}

Napi::Value CompletionQueue::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cq_ == nullptr); }

void CompletionQueue::Release() {
  if (cq_ == nullptr) return;
  // Stop watching before the fd goes away; the handle's memory is freed once libuv is done with it.
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
  ibv_cq* cq = cq_;
  ibv_comp_channel* channel = channel_;
  Reap(Env(), "ibv_destroy_cq", [cq, channel] {
    int err = ibv_destroy_cq(cq);
    if (err == 0) err = ibv_destroy_comp_channel(channel);
    return err;
  });
  cq_ = nullptr;
  channel_ = nullptr;
  context_->RemoveChild();
  contextRef_.Reset();
  onCompletions_.Reset();
}

Napi::Value CompletionQueue::Close(const Napi::CallbackInfo& info) {
  if (cq_ != nullptr && children() > 0)
    Throw(info.Env(), Kind::Error, "ERR_BUSY", "CompletionQueue is used by " + std::to_string(children()) + " open queue pairs (close them first)");
  Drop();
  Release();
  return info.Env().Undefined();
}

}  // namespace rdma
