// SharedReceiveQueue: ibv_srq, one pool of receive buffers for many queue pairs; child of a
// ProtectionDomain, parent of the queue pairs that receive through it.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "addon_data.h"
#include "wrapped.h"

namespace rdma {

class ProtectionDomain;

class SharedReceiveQueue : public Wrapped<SharedReceiveQueue, ibv_srq>, public Parent {
  RDMA_WRAPPED(SharedReceiveQueue, ibv_srq, srq)
  ProtectionDomain* pd() const { return pd_.get(); }

 private:
  JsMethod PostRecv, Modify, Query;

  ParentRef<ProtectionDomain> pd_;
};

}  // namespace rdma
