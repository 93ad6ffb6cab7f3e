// QueuePair: ibv_qp (RC, UC, UD), child of a ProtectionDomain that uses one or two CQs. Either created
// here with ibv_create_qp, or created by librdmacm on a CM id and wrapped (then destroyed through it).
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>
#include <rdma/rdma_cma.h>

#include <memory>
#include <vector>

#include "wrapped.h"

namespace rdma {

class ProtectionDomain;
class CompletionQueue;
class SharedReceiveQueue;
class MemoryWindow;

// What ibv_send_wr has no field for: the operands of the memory placement extensions.
struct PlacementOperands {
  uint8_t atomicValue[8] = {};  // ATOMIC_WRITE: the 8 bytes placed at the remote address
  uint64_t flushLength = 0;     // FLUSH: the range's length
  uint8_t flushType = 0;        // FLUSH: IBV_FLUSH_GLOBAL or IBV_FLUSH_PERSISTENT
  uint8_t flushLevel = 0;       // FLUSH: IBV_FLUSH_RANGE or IBV_FLUSH_MR
};

// A chain of send work requests with their scatter/gather entries, ready for ibv_post_send (or, posted
// one by one through the extended send API, for a batch); windows[i] is the window a BIND_MW request
// binds (null for other opcodes), placement[i] the operands of an ATOMIC_WRITE or FLUSH.
struct SendChain {
  std::vector<ibv_send_wr> wrs;
  std::vector<std::vector<ibv_sge>> sges;
  std::vector<MemoryWindow*> windows;
  std::vector<PlacementOperands> placement;
};

// What a chain is built for: posted once, prepared to be posted again and again, or a batch of the
// extended send API (the only way to post ATOMIC_WRITE and FLUSH).
enum class ChainUse { kPost, kRepost, kBatch };

// Reads { maxSendWr, maxRecvWr, maxSendSge, maxRecvSge, maxInlineData } with the defaults every QP has.
void ReadQpCap(Napi::Env env, Napi::Object o, ibv_qp_cap* cap);

// Dispose() queues the QP's destroy with the reaper (the CM id releases its QP that way before it is
// destroyed itself); the type 2 windows bound through the QP are deallocated first.
class QueuePair : public Wrapped<QueuePair, ibv_qp> {
  RDMA_WRAPPED(QueuePair, ibv_qp, qp)
  // Wraps a QP that rdma_create_qp made on `id`; `owner` (the CM id's JS object) is kept alive.
  static Napi::Object WrapCm(Napi::Env env, rdma_cm_id* id, Napi::Object pd, Napi::Object sendCq,
                             Napi::Object recvCq, Napi::Object owner);
  // Made by librdmacm on a CM id (rdma_create_qp) rather than by ibv_create_qp.
  bool cmOwned() const { return cmId_ != nullptr; }
  // Detaches a CM id's QP on the JS thread (what rdma_destroy_qp does; the CQs are ours) and queues its
  // destroy.
  static void ReapCmQp(Napi::Env env, rdma_cm_id* id);
  // The type 2 windows whose last bind was posted here.
  void RememberWindow(MemoryWindow* mw) { windows_.push_back(mw); }
  void ForgetWindow(MemoryWindow* mw);

 private:
  JsMethod Info, State, Modify, Query, PostSend, PostRecv, PrepareSend, PostPrepared, PostPreparedPoll,
      ReleasePrepared, PostBatch, PostFast, PostRecvFast;
  Napi::Value PostChain(const Napi::CallbackInfo& info, ChainUse use);
  void BuildSend(Napi::Env env, Napi::Value arg, SendChain& chain, ChainUse use);
  void Post(Napi::Env env, SendChain& chain);
  // Posts the chain through the extended send API: ibv_wr_start, one ibv_wr_* per request, ibv_wr_complete.
  void PostExtended(Napi::Env env, SendChain& chain);
  // The bound windows of an accepted chain get their new rkeys (as ibv_bind_mw does for type 1).
  void BindsPosted(SendChain& chain, size_t accepted);
  SendChain& Prepared(Napi::Env env, const Napi::CallbackInfo& info);

  rdma_cm_id* cmId_ = nullptr;
  ibv_qp_type type_ = IBV_QPT_RC;
  uint32_t maxInline_ = 0;
  ibv_qp_ex* qpx_ = nullptr;  // set when created with sendOps (ibv_create_qp_ex)
  uint64_t sendOps_ = 0;      // the IBV_QP_EX_WITH_* operations it was created for
  bool rxe_ = false;          // on rxe, whose extended API miscounts some gather lists
  ParentRef<ProtectionDomain> pd_;
  ParentRef<CompletionQueue> sendCq_, recvCq_;
  ParentRef<SharedReceiveQueue> srq_;
  Napi::ObjectReference ownerRef_;
  std::vector<std::unique_ptr<SendChain>> prepared_;
  std::vector<MemoryWindow*> windows_;
  // The fast path's requests, reused from post to post.
  std::vector<ibv_send_wr> fastSends_;
  std::vector<ibv_recv_wr> fastRecvs_;
  std::vector<ibv_sge> fastSges_;
};

}  // namespace rdma
