// MemoryWindow: ibv_mw, a remotely accessible window onto part of a memory region, bound and revoked
// at run time (type 1 with ibv_bind_mw, type 2 with BIND_MW / LOCAL_INV work requests); child of a
// ProtectionDomain. A type 2 window bound through a queue pair holds that QP on the device until the
// window is deallocated (rxe cannot destroy the QP meanwhile): closing the QP deallocates it first.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "wrapped.h"

namespace rdma {

class ProtectionDomain;
class QueuePair;

class MemoryWindow : public Wrapped<MemoryWindow, ibv_mw> {
  RDMA_WRAPPED(MemoryWindow, ibv_mw, mw)
  ProtectionDomain* pd() const { return pd_.get(); }
  // A BIND_MW work request for this window was posted on `qp`.
  void BoundThrough(QueuePair* qp);
  // The QP it was bound through is being destroyed: the window is deallocated before it.
  void QpClosing() {
    boundQp_ = nullptr;
    Release();
  }

 private:
  JsMethod Type, Rkey, Bind;

  ParentRef<ProtectionDomain> pd_;
  QueuePair* boundQp_ = nullptr;  // the QP a type 2 bind was last posted on, until it closes
};

// Fills a type 2 BIND_MW work request from { mw, bind: { mr, offset, length, access } }: the window's
// new rkey is in w.bind_mw.rkey once the request is posted. Returns the window.
MemoryWindow* ReadBindMw(Napi::Env env, Napi::Object wr, ibv_send_wr& w, ProtectionDomain* pd);

}  // namespace rdma
