#include "cq.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "capabilities.h"
#include "context.h"
#include "enums.h"
#include "errors.h"
#include "props.h"
#include "reaper.h"
#include "rollback.h"

namespace rdma {

Napi::Object CompletionToJs(Napi::Env env, const ibv_wc& wc, const uint64_t* ts) {
  Napi::Object o = Napi::Object::New(env);
  o.Set(Key(env, "wrId"), Napi::BigInt::New(env, uint64_t(wc.wr_id)));
  o.Set(Key(env, "status"), Key(env, NameOf(kWcStatus, wc.status)));  // the tables' names are static
  o.Set(Key(env, "statusCode"), Napi::Number::New(env, wc.status));
  // Only wr_id, status, qp_num and vendor_err are valid for a failed completion.
  o.Set(Key(env, "opcode"), Key(env, wc.status == IBV_WC_SUCCESS ? NameOf(kWcOpcode, wc.opcode) : "UNKNOWN"));
  o.Set(Key(env, "byteLen"), Napi::Number::New(env, wc.status == IBV_WC_SUCCESS ? wc.byte_len : 0));
  if (wc.status == IBV_WC_SUCCESS && (wc.wc_flags & IBV_WC_WITH_IMM))
    o.Set(Key(env, "immData"), Napi::Number::New(env, ntohl(wc.imm_data)));
  if (wc.status == IBV_WC_SUCCESS && (wc.wc_flags & IBV_WC_WITH_INV))
    o.Set(Key(env, "invalidatedRkey"), Napi::Number::New(env, wc.invalidated_rkey));
  // Raw ibv_wc_flags, and the imm_data / invalidated_rkey union: kernel-driven providers (rxe) report a
  // SEND_WITH_INV receive with the kernel's flag layout, which lib/verbs reads knowing the QP type.
  o.Set(Key(env, "wcFlags"), Napi::Number::New(env, wc.status == IBV_WC_SUCCESS ? wc.wc_flags : 0));
  if (wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RECV)
    o.Set(Key(env, "exData"), Napi::Number::New(env, wc.invalidated_rkey));
  // UD receives: the first 40 bytes of the buffer hold the GRH when this is set.
  // With it, what ibv_create_ah_from_wc needs to answer the sender besides the GRH.
  if (wc.status == IBV_WC_SUCCESS && (wc.wc_flags & IBV_WC_GRH)) {
    o.Set(Key(env, "grh"), Napi::Boolean::New(env, true));
    o.Set(Key(env, "slid"), Napi::Number::New(env, wc.slid));
    o.Set(Key(env, "sl"), Napi::Number::New(env, wc.sl));
    o.Set(Key(env, "dlidPathBits"), Napi::Number::New(env, wc.dlid_path_bits));
    o.Set(Key(env, "pkeyIndex"), Napi::Number::New(env, wc.pkey_index));
  }
  o.Set(Key(env, "srcQp"), Napi::Number::New(env, wc.status == IBV_WC_SUCCESS ? wc.src_qp : 0));
  o.Set(Key(env, "qpNum"), Napi::Number::New(env, wc.qp_num));
  o.Set(Key(env, "vendorErr"), Napi::Number::New(env, wc.vendor_err));
  if (ts != nullptr) o.Set(Key(env, "timestamp"), Napi::BigInt::New(env, *ts));
  return o;
}

Napi::Function CompletionQueue::Init(Napi::Env env) {
  return Define(env, {
                         InstanceMethod<&CompletionQueue::Poll>("poll"),
                         InstanceMethod<&CompletionQueue::PollCount>("pollCount"),
                         InstanceMethod<&CompletionQueue::PollRing>("pollRing"),
                         InstanceMethod<&CompletionQueue::Ref>("ref"),
                         InstanceMethod<&CompletionQueue::Unref>("unref"),
                     });
}

// new CompletionQueue(context, cqe, onCompletions(batch: object[]), { extended, timestamps }?)
CompletionQueue::CompletionQueue(const Napi::CallbackInfo& info) : Base(info), Parent("queue pairs") {
  Napi::Env env = info.Env();
  Context* context = Context::From(env, info[0], "context");
  ibv_context* ctx = context->handle(env);
  int cqe = int(ArgInt(info, 1, "cqe", 1, 1 << 22));
  if (!info[2].IsFunction()) ThrowArgType(env, "onCompletions", "a function");
  bool extended = false;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    Napi::Object o = ArgObject(info, 3, "options");
    Napi::Value v;
    if (Prop(o, "timestamps", &v)) timestamps_ = v.ToBoolean();
    extended = timestamps_ || (Prop(o, "extended", &v) && v.ToBoolean());
  }
  if (timestamps_ && QueryCaps(env, ctx).timestampMask == 0)
    ThrowNotSupported(env,
                      "completion timestamps: the device reports none (its completion_timestamp_mask is 0)");

  errno = 0;
  channel_ = ibv_create_comp_channel(ctx);
  if (channel_ == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_create_comp_channel");
  // Until the CQ is ours, a failure destroys what was made (nothing else can be holding it yet).
  ibv_cq* cq = nullptr;
  Rollback undo([&] {
    watch_.Stop();
    if (cq != nullptr) ibv_destroy_cq(cq);
    ibv_destroy_comp_channel(channel_);
    channel_ = nullptr;
  });
  errno = 0;
  if (extended) {
    ibv_cq_init_attr_ex ax{};
    ax.cqe = uint32_t(cqe);
    ax.cq_context = this;
    ax.channel = channel_;
    ax.wc_flags = IBV_WC_STANDARD_FLAGS | (timestamps_ ? IBV_WC_EX_WITH_COMPLETION_TIMESTAMP : 0);
    cqx_ = ibv_create_cq_ex(ctx, &ax);
    if (cqx_ == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_create_cq_ex");
    cq = ibv_cq_ex_to_cq(cqx_);
  } else {
    cq = ibv_create_cq(ctx, cqe, this, channel_, 0);
    if (cq == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_create_cq");
  }
  int err = ibv_req_notify_cq(cq, 0);
  if (err != 0) ThrowSys(env, err, "ibv_req_notify_cq");
  watch_.Start(env, channel_->fd, [this] {
    if (open()) Drain();
  });
  Adopt(cq);
  undo.Commit();
  Napi::ArrayBuffer ringBuffer = Napi::ArrayBuffer::New(env, kRingRecords * kRingStride * sizeof(uint32_t));
  Napi::ArrayBuffer stateBuffer = Napi::ArrayBuffer::New(env, kStateWords * sizeof(int32_t));
  ringStore_ = HoldBackingStore(ringBuffer);
  stateStore_ = HoldBackingStore(stateBuffer);
  ring_ = static_cast<uint32_t*>(ringBuffer.Data());
  state_ = static_cast<int32_t*>(stateBuffer.Data());
  std::memset(ring_, 0, ringBuffer.ByteLength());
  std::memset(state_, 0, stateBuffer.ByteLength());
  info.This().As<Napi::Object>().DefineProperties({
      Napi::PropertyDescriptor::Value(
          "ring", Napi::Uint32Array::New(env, kRingRecords * kRingStride, ringBuffer, 0, napi_uint32_array),
          napi_enumerable),
      Napi::PropertyDescriptor::Value(
          "state", Napi::Int32Array::New(env, kStateWords, stateBuffer, 0, napi_int32_array),
          napi_enumerable),
  });
  // The callback reaches the JS wrapper, so it must not be a root: it lives on this object (weakly
  // referenced here), and an idle CQ nobody uses can be collected. ref() holds the CQ while work is
  // outstanding, so that what the work needs stays alive until its completion.
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("onCompletions", info[2], napi_default));
  onCompletions_ = Napi::Weak(info[2].As<Napi::Function>());
  context_.Hold(context, info[0]);
}

void CompletionQueue::Drain() {
  // Consume every pending event (the fd is non-blocking), acknowledge them, re-arm, then poll: a
  // completion that lands after the poll raises a new event, so none is missed. Each ring's worth
  // is handed to JS in one callback, with the count written.
  ibv_cq* cq = raw();
  void* ctx = nullptr;
  ibv_cq* evcq = nullptr;
  unsigned events = 0;
  while (ibv_get_cq_event(channel_, &evcq, &ctx) == 0) events++;
  if (events > 0) ibv_ack_cq_events(cq, events);
  ibv_req_notify_cq(cq, 0);
  Napi::Env env = Env();
  for (;;) {
    int n = FillRing(env, kRingRecords, 0);
    if (n == 0) break;
    Napi::Object self = Value();
    if (self.IsEmpty() || onCompletions_.IsEmpty() || onCompletions_.Value().IsEmpty())
      return;  // being collected
    onCompletions_.MakeCallback(self, {Napi::Number::New(env, n)});
    if (!open() || n < int(kRingRecords)) break;
  }
  // The work that completed started no more: the loop may end.
  if (state_[kStateBusy] == 0 && state_[kStateHeld] != 0) LetGo();
}

static void WriteRecord(uint32_t* r, const ibv_wc& wc, const uint64_t* ts) {
  const bool ok = wc.status == IBV_WC_SUCCESS;
  r[kRingIdLow] = uint32_t(wc.wr_id);
  r[kRingIdHigh] = uint32_t(wc.wr_id >> 32);
  r[kRingStatus] = wc.status;
  r[kRingOpcode] = ok ? uint32_t(wc.opcode) : kRingUnknown;
  r[kRingByteLen] = ok ? wc.byte_len : 0;
  r[kRingQpNum] = wc.qp_num;
  r[kRingData] = !ok ? 0 : (wc.wc_flags & IBV_WC_WITH_IMM) ? ntohl(wc.imm_data) : wc.invalidated_rkey;
  r[kRingFlags] = ok ? wc.wc_flags : 0;
  r[kRingSrcQp] = ok ? wc.src_qp : 0;
  r[kRingVendorErr] = wc.vendor_err;
  r[kRingSlid] = wc.slid;
  r[kRingSl] = wc.sl;
  r[kRingDlidPathBits] = wc.dlid_path_bits;
  r[kRingPkeyIndex] = wc.pkey_index;
  r[kRingTimestampLow] = ts ? uint32_t(*ts) : 0;
  r[kRingTimestampHigh] = ts ? uint32_t(*ts >> 32) : 0;
}

int CompletionQueue::FillRing(Napi::Env env, int max, int64_t spinUs) {
  ibv_wc wc[32];
  uint64_t ts[32];
  int n = 0;
  while (n < max) {
    int want = std::min(32, max - n);
    int got = PollInto(wc, ts, want, n == 0 ? spinUs : 0);
    if (got < 0) ThrowSys(env, EIO, cqx_ ? "ibv_start_poll" : "ibv_poll_cq");
    for (int i = 0; i < got; i++, n++)
      WriteRecord(ring_ + size_t(n) * kRingStride, wc[i], timestamps_ ? &ts[i] : nullptr);
    if (got < want) break;
  }
  return n;
}

// pollRing(max, spinUs = 0): up to max (1 … the ring's records) completions written to the ring,
// spinning up to spinUs µs for the first; their count.
Napi::Value CompletionQueue::PollRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  handle(env);
  int max = int(ArgInt(info, 0, "max", 1, kRingRecords));
  return Napi::Number::New(env, FillRing(env, max, ArgIntOr(info, 1, "spinUs", 0, kMaxSpinUs, 0)));
}

// ibv_poll_cq, spinning up to spinUs µs while the CQ is empty: a latency-critical loop then crosses
// into the addon once per completion instead of once per empty poll.
static int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// One completion of an extended CQ, read field by field, as an ibv_wc (only wr_id, status, qp_num and
// vendor_err are valid for a failed one).
static void ReadExtended(ibv_cq_ex* cq, ibv_wc* wc, uint64_t* ts, bool timestamps) {
  *wc = ibv_wc();
  wc->wr_id = cq->wr_id;
  wc->status = cq->status;
  wc->qp_num = ibv_wc_read_qp_num(cq);
  wc->vendor_err = ibv_wc_read_vendor_err(cq);
  if (wc->status == IBV_WC_SUCCESS) {
    wc->opcode = ibv_wc_read_opcode(cq);
    wc->byte_len = ibv_wc_read_byte_len(cq);
    wc->wc_flags = ibv_wc_read_wc_flags(cq);
    wc->imm_data = ibv_wc_read_imm_data(cq);  // the union that also holds invalidated_rkey
    wc->src_qp = ibv_wc_read_src_qp(cq);
    if (wc->wc_flags & IBV_WC_GRH) {  // IBV_WC_STANDARD_FLAGS asked for these too
      wc->slid = uint16_t(ibv_wc_read_slid(cq));
      wc->sl = ibv_wc_read_sl(cq);
      wc->dlid_path_bits = ibv_wc_read_dlid_path_bits(cq);
    }
    if (timestamps) ts[0] = ibv_wc_read_completion_ts(cq);
  } else if (timestamps) {
    ts[0] = 0;
  }
}

// An extended CQ is read one completion per ibv_start_poll / ibv_end_poll pair, never asking
// ibv_next_poll for more: rxe before rdma-core 55 advances its consumer index twice when next_poll
// finds the queue empty and end_poll follows, as the API requires, and the CQ is then corrupt.
int CompletionQueue::PollOnce(ibv_wc* wc, uint64_t* ts, int want) {
  if (cqx_ == nullptr) return ibv_poll_cq(raw(), want, wc);
  int got = 0;
  while (got < want) {
    ibv_poll_cq_attr attr{};
    int err = ibv_start_poll(cqx_, &attr);
    if (err == ENOENT) break;
    if (err != 0) return got > 0 ? got : -1;
    ReadExtended(cqx_, &wc[got], ts + got, timestamps_);
    ibv_end_poll(cqx_);
    got++;
  }
  return got;
}

int CompletionQueue::PollInto(ibv_wc* wc, uint64_t* ts, int want, int64_t spinUs) {
  int got = PollOnce(wc, ts, want);
  if (got != 0 || spinUs == 0) return got;
  int64_t deadline = MonotonicNs() + spinUs * 1000;
  do {
    got = PollOnce(wc, ts, want);
    if (got != 0) return got;
  } while (MonotonicNs() < deadline);
  return 0;
}

Napi::Array CompletionQueue::PollBatch(Napi::Env env, int max, int64_t spinUs) {
  Napi::Array out = Napi::Array::New(env);
  ibv_wc wc[32];
  uint64_t ts[32];
  uint32_t n = 0;
  while (int(n) < max) {
    int want = std::min(32, max - int(n));
    int got = PollInto(wc, ts, want, n == 0 ? spinUs : 0);
    if (got < 0) ThrowSys(env, EIO, cqx_ ? "ibv_start_poll" : "ibv_poll_cq");
    for (int i = 0; i < got; i++) out.Set(n++, CompletionToJs(env, wc[i], timestamps_ ? &ts[i] : nullptr));
    if (got < want) break;
  }
  return out;
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
// µs for the first), without making JS objects; or the first failed completion, which lib/verbs turns
// into its ERR_WC_<STATUS> error (for CQs that carry only raw work).
Napi::Value CompletionQueue::PollCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  handle(env);
  int max = int(ArgInt(info, 0, "max", 1, 4096));
  return CountCompletions(env, max, ArgIntOr(info, 1, "spinUs", 0, kMaxSpinUs, 0));
}

Napi::Value CompletionQueue::CountCompletions(Napi::Env env, int max, int64_t spinUs) {
  ibv_wc wc[64];
  uint64_t ts[64];
  int total = 0;
  while (total < max) {
    int want = std::min(64, max - total);
    int got = PollInto(wc, ts, want, total == 0 ? spinUs : 0);
    if (got < 0) ThrowSys(env, EIO, cqx_ ? "ibv_start_poll" : "ibv_poll_cq");
    for (int i = 0; i < got; i++)
      if (wc[i].status != IBV_WC_SUCCESS) return CompletionToJs(env, wc[i], timestamps_ ? &ts[i] : nullptr);
    total += got;
    if (got < want) break;
  }
  return Napi::Number::New(env, total);
}

Napi::Value CompletionQueue::Ref(const Napi::CallbackInfo& info) {
  watch_.Ref();
  state_[kStateHeld] = 1;
  if (!held_ && open()) {
    held_ = true;
    Napi::ObjectWrap<CompletionQueue>::Ref();  // a strong reference: not collected while work is outstanding
  }
  return info.Env().Undefined();
}

Napi::Value CompletionQueue::Unref(const Napi::CallbackInfo& info) {
  LetGo();
  return info.Env().Undefined();
}

void CompletionQueue::LetGo() {
  if (state_ == nullptr) return;  // not made
  watch_.Unref();
  state_[kStateHeld] = 0;
  Drop();
}

void CompletionQueue::Drop() {
  if (!held_) return;
  held_ = false;
  Napi::ObjectWrap<CompletionQueue>::Unref();
}

void CompletionQueue::Dispose(ibv_cq* cq) {
  watch_.Stop();
  ibv_comp_channel* channel = channel_;
  channel_ = nullptr;
  Reap(Env(), "ibv_destroy_cq", [cq, channel] {
    int err = ibv_destroy_cq(cq);
    if (err == 0) err = ibv_destroy_comp_channel(channel);
    return err;
  });
  context_.Drop();
  onCompletions_.Reset();
}

}  // namespace rdma
