// MemoryWindow: ibv_mw, a remotely accessible window onto part of a memory region, bound and revoked
// at run time (type 1 with ibv_bind_mw, type 2 with BIND_MW / LOCAL_INV work requests); child of a
// ProtectionDomain.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

namespace rdma {

class ProtectionDomain;
class QueuePair;

class MemoryWindow : public Napi::ObjectWrap<MemoryWindow> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit MemoryWindow(const Napi::CallbackInfo& info);
  ~MemoryWindow() override;

  ibv_mw* handle(Napi::Env env) const;
  ProtectionDomain* pd() const { return pd_; }
  static MemoryWindow* From(Napi::Env env, Napi::Value v, const char* name);

 private:
  Napi::Value Type(const Napi::CallbackInfo& info);
  Napi::Value Rkey(const Napi::CallbackInfo& info);
  Napi::Value Bind(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Release();

  ibv_mw* mw_ = nullptr;
  ProtectionDomain* pd_ = nullptr;
  Napi::ObjectReference pdRef_;
};

// Fills a type 2 BIND_MW work request from { mw, bind: { mr, offset, length, access } } and returns
// the rkey the window will have once the bind completes.
uint32_t ReadBindMw(Napi::Env env, Napi::Object wr, ibv_send_wr& w, ProtectionDomain* pd);

}  // namespace rdma
