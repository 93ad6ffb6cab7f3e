// CmId: an rdma_cm_id on a CmEventChannel. Its steps (resolve, connect, accept, ...) return at once;
// their outcome arrives as an event on the channel. The id keeps its channel alive; a QP created on
// it is a verbs QueuePair, destroyed before the id. A QP of the caller's own (ibv_create_qp) may be
// connected instead: the caller moves it through the states the CM computes (transitionQp) and it
// stays the caller's to destroy. In the UDP port space (new CmId(channel, 'UDP')) the id's QP is UD:
// connect and accept exchange QPN and QKey (SIDR), and the id may join multicast groups.
#pragma once
#include <napi.h>
#include <rdma/rdma_cma.h>

#include "wrapped.h"

namespace rdma {

// Private data limits of the IB CM for RDMA_PS_TCP (rdma_cm adds its own header to connect requests).
constexpr size_t kMaxConnectPd = 56;
constexpr size_t kMaxAcceptPd = 196;
constexpr size_t kMaxRejectPd = 148;
// For RDMA_PS_UDP: a SIDR REQ holds 216 bytes less rdma_cm's 36-byte header; a SIDR REP (accept or reject)
// 136.
constexpr size_t kMaxUdConnectPd = 180;
constexpr size_t kMaxUdAnswerPd = 136;

class CmEventChannel;

class CmId : public Wrapped<CmId, rdma_cm_id> {
  RDMA_WRAPPED(CmId, rdma_cm_id, cmId)
  // Wraps the id librdmacm created for an incoming connection request on `channel`.
  static Napi::Object WrapIncoming(Napi::Env env, rdma_cm_id* id, Napi::Object channel);
  static Napi::Value CheckPrivateData(const Napi::CallbackInfo& info);

 private:
  JsMethod BindAddr, ResolveAddr, ResolveRoute, Listen, Connect, Accept, Reject, Disconnect, CreateQp,
      TransitionQp, Establish, Context, Addresses, JoinMulticast, LeaveMulticast;

  ParentRef<CmEventChannel> channel_;
  Napi::ObjectReference qpRef_;  // weak: the QueuePair made by CreateQp
};

}  // namespace rdma
