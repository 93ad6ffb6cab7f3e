// Per-environment data: the constructors of classes that native code instantiates itself
// (e.g. the CM layer wrapping librdmacm's context and QPs as verbs objects).
#pragma once
#include <napi.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace rdma {

class MemoryRegion;

struct AddonData {
  // Property names made into JS strings once (Key(), props.h): their index in `keyStore` (an array,
  // since Node-API before version 10 refers to objects only), by the address of their literal.
  std::unordered_map<const char*, uint32_t> keys;
  Napi::ObjectReference keyStore;
  Napi::FunctionReference context;
  Napi::FunctionReference pd;
  Napi::FunctionReference cq;
  Napi::FunctionReference qp;
  Napi::FunctionReference mr;
  Napi::FunctionReference ah;
  Napi::FunctionReference srq;
  Napi::FunctionReference mw;
  Napi::FunctionReference cmChannel;
  Napi::FunctionReference cmId;
  // Open memory regions by slot (the low 24 bits of MemoryRegion's `id`, what a fast-path descriptor
  // names its local memory by), and the ids of closed regions whose slots are free, oldest first.
  std::vector<MemoryRegion*> regions;
  std::vector<uint32_t> freeRegions;
};

inline AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Parent bookkeeping shared by every object that has children: a parent with live children cannot be
// closed (ERR_BUSY), and children hold a reference to their parent so it outlives them.
class Parent {
 public:
  // `children` names them in the ERR_BUSY message ("queue pairs", "CM ids").
  explicit Parent(const char* children) : kind_(children) {}
  const char* childKind() const { return kind_; }
  void AddChild() { children_++; }
  void RemoveChild() { children_--; }
  int children() const { return children_; }

 private:
  const char* kind_;
  int children_ = 0;
};

}  // namespace rdma
