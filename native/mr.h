// MemoryRegion: ibv_mr over a caller's ArrayBuffer/typed array, or over page-aligned memory the
// region allocates itself. It holds the memory itself (its backing store), so the memory outlives the
// region's registration even if its ArrayBuffer is detached or transferred meanwhile.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "backing_store.h"

namespace rdma {

class ProtectionDomain;

class MemoryRegion : public Napi::ObjectWrap<MemoryRegion> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit MemoryRegion(const Napi::CallbackInfo& info);
  ~MemoryRegion() override;

  // Checked view of [offset, offset+length) for a scatter/gather entry; throws on closed or out of range.
  ibv_sge Sge(Napi::Env env, int64_t offset, int64_t length, const char* name) const;
  static MemoryRegion* From(Napi::Env env, Napi::Value v, const char* name);
  ProtectionDomain* pd() const { return pd_; }
  ibv_mr* mr() const { return mr_; }
  int access() const { return access_; }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Release();

  ibv_mr* mr_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t length_ = 0;
  int access_ = 0;
  ProtectionDomain* pd_ = nullptr;
  Napi::ObjectReference pdRef_;
  Napi::ObjectReference memoryRef_;  // the ArrayBuffer (caller's) or external Buffer (ours)
  BackingStore store_;               // the memory itself, whatever becomes of that object
};

}  // namespace rdma
