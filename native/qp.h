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

// A chain of send work requests with their scatter/gather entries, ready for ibv_post_send; windows[i]
// is the window a BIND_MW request binds (null for other opcodes).
struct SendChain {
  std::vector<ibv_send_wr> wrs;
  std::vector<std::vector<ibv_sge>> sges;
  std::vector<MemoryWindow*> windows;
};

// Reads { maxSendWr, maxRecvWr, maxSendSge, maxRecvSge, maxInlineData } with the defaults every QP has.
void ReadQpCap(Napi::Env env, Napi::Object o, ibv_qp_cap* cap);

// Dispose() queues the QP's destroy with the reaper (the CM id releases its QP that way before it is
// destroyed itself); the type 2 windows bound through the QP are deallocated first.
class QueuePair : public Wrapped<QueuePair, ibv_qp> {
  RDMA_WRAPPED(QueuePair, ibv_qp, qp)
  // Wraps a QP that rdma_create_qp made on `id`; `owner` (the CM id's JS object) is kept alive.
  static Napi::Object WrapCm(Napi::Env env, rdma_cm_id* id, Napi::Object pd, Napi::Object sendCq, Napi::Object recvCq, Napi::Object owner);
  // Made by librdmacm on a CM id (rdma_create_qp) rather than by ibv_create_qp.
  bool cmOwned() const { return cmId_ != nullptr; }
  // Detaches a CM id's QP on the JS thread (what rdma_destroy_qp does; the CQs are ours) and queues its destroy.
  static void ReapCmQp(Napi::Env env, rdma_cm_id* id);
  // The type 2 windows whose last bind was posted here.
  void RememberWindow(MemoryWindow* mw) { windows_.push_back(mw); }
  void ForgetWindow(MemoryWindow* mw);

 private:
  JsMethod Info, State, Modify, Query, PostSend, PostRecv, PrepareSend, PostPrepared, PostPreparedPoll, ReleasePrepared;
  // forRepost: the chain is prepared to be posted many times (no binds or invalidations).
  void BuildSend(Napi::Env env, Napi::Value arg, SendChain& chain, bool forRepost);
  void Post(Napi::Env env, SendChain& chain);
  SendChain& Prepared(Napi::Env env, const Napi::CallbackInfo& info);

  rdma_cm_id* cmId_ = nullptr;
  ibv_qp_type type_ = IBV_QPT_RC;
  uint32_t maxInline_ = 0;
  ParentRef<ProtectionDomain> pd_;
  ParentRef<CompletionQueue> sendCq_, recvCq_;
  ParentRef<SharedReceiveQueue> srq_;
  Napi::ObjectReference ownerRef_;
  std::vector<std::unique_ptr<SendChain>> prepared_;
  std::vector<MemoryWindow*> windows_;
};

}  // namespace rdma
