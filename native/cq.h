// CompletionQueue: ibv_cq with its own completion channel, whose fd libuv watches. When the channel
// fires, every available completion is polled and handed to JS in one callback (no thread, no spin).
// Idle CQs do not keep the process alive; lib/verbs refs the CQ while work is outstanding. An extended
// CQ (ibv_create_cq_ex) is read with ibv_start_poll / ibv_next_poll / ibv_end_poll, with completion
// timestamps when asked for; everything else is the same.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "addon_data.h"
#include "backing_store.h"
#include "fd_watch.h"
#include "wrapped.h"

namespace rdma {

class Context;

// The completion ring: the CQ's drain and pollRing() write completions here, kRingStride 32-bit words
// each, in a Uint32Array that JS reads without a call (the CQ's `ring`). A failed completion carries
// only its id, status, QP number and vendor error (the other words are 0; opcode is kRingUnknown).
enum WcWord : uint32_t {
  kRingIdLow = 0,
  kRingIdHigh,
  kRingStatus,
  kRingOpcode,
  kRingByteLen,
  kRingQpNum,
  kRingData,  // immediate data (host order) with IBV_WC_WITH_IMM, else the invalidated rkey word
  kRingFlags,
  kRingSrcQp,
  kRingVendorErr,
  kRingSlid,
  kRingSl,
  kRingDlidPathBits,
  kRingPkeyIndex,
  kRingTimestampLow,
  kRingTimestampHigh,
  kRingStride
};
constexpr uint32_t kRingUnknown = 0xffffffff;
constexpr uint32_t kRingRecords = 256;

// The CQ's `state` (an Int32Array shared with JS): whether work is outstanding (JS writes it) and
// whether the CQ holds the event loop (the addon writes it). A drain lets go of the loop once it ends
// with nothing outstanding; lib/verbs takes it with ref() when work is posted while it is let go, so a
// busy CQ whose completions keep work going never flips between the two.
enum CqStateWord : uint32_t { kStateBusy = 0, kStateHeld, kStateWords };

class CompletionQueue : public Wrapped<CompletionQueue, ibv_cq>, public Parent {
  RDMA_WRAPPED(CompletionQueue, ibv_cq, cq)
  void OnClose() { LetGo(); }

  Context* context() const { return context_.get(); }
  // How many completions the CQ has (at most max; spinning up to spinUs µs for the first), or the first
  // failed one as a JS object: pollCount's work, also done by a QP's postPreparedPoll.
  Napi::Value CountCompletions(Napi::Env env, int max, int64_t spinUs);
  // The longest a poll may spin: it holds the event loop meanwhile.
  static constexpr int64_t kMaxSpinUs = 1000000;

 private:
  JsMethod Poll, PollCount, PollRing, Ref, Unref;
  void Drain();
  Napi::Array PollBatch(Napi::Env env, int max, int64_t spinUs);
  // Up to `want` completions into wc (and, with timestamps, ts), spinning up to spinUs µs while there
  // are none: ibv_poll_cq, or the extended polling API for an extended CQ. Negative on a poll error.
  int PollInto(ibv_wc* wc, uint64_t* ts, int want, int64_t spinUs);
  int PollOnce(ibv_wc* wc, uint64_t* ts, int want);
  void Drop();
  void LetGo();
  // Up to `max` (at most kRingRecords) completions written to the ring; their count.
  int FillRing(Napi::Env env, int max, int64_t spinUs);

  ibv_cq_ex* cqx_ = nullptr;  // set for an extended CQ
  bool timestamps_ = false;   // its completions carry the device's timestamp

  ibv_comp_channel* channel_ = nullptr;
  FdWatch watch_;
  ParentRef<Context> context_;
  Napi::FunctionReference onCompletions_;
  bool held_ = false;  // ref() made the wrapper's reference strong
  uint32_t* ring_ = nullptr;
  int32_t* state_ = nullptr;
  BackingStore ringStore_,
      stateStore_;  // the memory of ring_ and state_, whatever JS does with their buffers
};

// A work completion as a JS object (with `timestamp`, the device's clock, when ts is given).
Napi::Object CompletionToJs(Napi::Env env, const ibv_wc& wc, const uint64_t* ts = nullptr);

}  // namespace rdma
