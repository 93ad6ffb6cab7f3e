// ProtectionDomain: ibv_pd, child of a Context; parent of memory regions, windows, address handles,
// shared receive queues and queue pairs.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "addon_data.h"
#include "wrapped.h"

namespace rdma {

class Context;

class ProtectionDomain : public Wrapped<ProtectionDomain, ibv_pd>, public Parent {
  RDMA_WRAPPED(ProtectionDomain, ibv_pd, pd)
  Context* context() const { return context_.get(); }

 private:
  ParentRef<Context> context_;
};

}  // namespace rdma
