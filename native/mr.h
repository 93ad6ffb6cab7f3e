// MemoryRegion: ibv_mr over a caller's ArrayBuffer/typed array, or over page-aligned memory the
// region allocates itself. It holds the memory itself (its backing store), so the memory outlives the
// region's registration even if its ArrayBuffer is detached or transferred meanwhile.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "backing_store.h"
#include "wrapped.h"

namespace rdma {

class ProtectionDomain;

class MemoryRegion : public Wrapped<MemoryRegion, ibv_mr> {
  RDMA_WRAPPED(MemoryRegion, ibv_mr, mr)
  // Checked view of [offset, offset+length) for a scatter/gather entry; throws on closed or out of range.
  ibv_sge Sge(Napi::Env env, int64_t offset, int64_t length, const char* name) const;
  ProtectionDomain* pd() const { return pd_.get(); }
  ibv_mr* mr() const { return raw(); }
  int access() const { return access_; }
  // The open region numbered `id` (see AddonData::regions), or null.
  static MemoryRegion* ById(Napi::Env env, uint32_t id);

 private:
  JsMethod Info, Buffer;

  uint8_t* data_ = nullptr;
  size_t length_ = 0;
  int access_ = 0;
  uint32_t id_ = 0;
  ParentRef<ProtectionDomain> pd_;
  Napi::ObjectReference memoryRef_;  // the ArrayBuffer (caller's) or external Buffer (ours)
  BackingStore store_;               // the memory itself, whatever becomes of that object
};

}  // namespace rdma
