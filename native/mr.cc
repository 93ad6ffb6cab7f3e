#include "mr.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "addon_data.h"
#include "capabilities.h"
#include "enums.h"
#include "errors.h"
#include "pd.h"
#include "reaper.h"

namespace rdma {

static constexpr size_t kMaxAlloc = size_t(1) << 34;

Napi::Function MemoryRegion::Init(Napi::Env env) {
  return Define(env, {
                         InstanceMethod<&MemoryRegion::Info>("info"),
                         InstanceMethod<&MemoryRegion::Buffer>("buffer"),
                     });
}

// new MemoryRegion(pd, memory: ArrayBuffer | ArrayBufferView | number (bytes to allocate), access)
MemoryRegion::MemoryRegion(const Napi::CallbackInfo& info) : Base(info) {
  Napi::Env env = info.Env();
  ProtectionDomain* pdw = ProtectionDomain::From(env, info[0], "pd");
  ibv_pd* pd = pdw->handle(env);
  int64_t access = ArgInt(info, 2, "access", 0, 0x7fffffff);
  if (access & ~AllFlags(kAccess)) ThrowArgRange(env, "access", "unknown access flags");
  RequireAccess(env, pd->context, int(access));
  // The verbs spec: remote write or atomic access requires local write.
  if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) && !(access & IBV_ACCESS_LOCAL_WRITE))
    Throw(env, "ERR_INVALID_ACCESS", "REMOTE_WRITE and REMOTE_ATOMIC require LOCAL_WRITE");

  Napi::Value mem = info[1];
  if (mem.IsNumber()) {
    int64_t n = ArgInt(info, 1, "length", 1, int64_t(kMaxAlloc));
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    size_t alloc = (size_t(n) + page - 1) / page * page;
    void* p = nullptr;
    if (posix_memalign(&p, page, alloc) != 0) ThrowSys(env, ENOMEM, "posix_memalign");
    std::memset(p, 0, alloc);
    data_ = static_cast<uint8_t*>(p);
    length_ = size_t(n);
    // The JS Buffer owns the allocation: it is freed when the Buffer is collected, which cannot
    // happen while this region (which references it) is alive.
    Napi::Buffer<uint8_t> buf =
        Napi::Buffer<uint8_t>::New(env, data_, length_, [](Napi::Env, uint8_t* d) { std::free(d); });
    memoryRef_ = Napi::Persistent(buf.As<Napi::Object>());
    store_ = HoldBackingStore(buf.ArrayBuffer());
  } else if (mem.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = mem.As<Napi::ArrayBuffer>();
    if (ab.IsDetached()) Throw(env, "ERR_DETACHED", "the ArrayBuffer is detached");
    data_ = static_cast<uint8_t*>(ab.Data());
    length_ = ab.ByteLength();
    memoryRef_ = Napi::Persistent(ab.As<Napi::Object>());
    store_ = HoldBackingStore(ab);
  } else if (mem.IsTypedArray() || mem.IsDataView()) {
    Napi::ArrayBuffer ab;
    size_t off = 0;
    if (mem.IsTypedArray()) {
      Napi::TypedArray ta = mem.As<Napi::TypedArray>();
      ab = ta.ArrayBuffer();
      off = ta.ByteOffset();
      length_ = ta.ByteLength();
    } else {
      Napi::DataView dv = mem.As<Napi::DataView>();
      ab = dv.ArrayBuffer();
      off = dv.ByteOffset();
      length_ = dv.ByteLength();
    }
    if (ab.IsDetached()) Throw(env, "ERR_DETACHED", "the ArrayBuffer is detached");
    data_ = static_cast<uint8_t*>(ab.Data()) + off;
    memoryRef_ = Napi::Persistent(mem.As<Napi::Object>());
    store_ = HoldBackingStore(ab);
  } else {
    ThrowArgType(env, "memory", "an ArrayBuffer, a typed array, a DataView, or a length to allocate");
  }
  if (length_ == 0) Throw(env, "ERR_OUT_OF_RANGE", "cannot register zero bytes");
  access_ = int(access);
  Create(env, "ibv_reg_mr",
         [&] { return ibv_reg_mr(pd, data_, length_, access_); });  // on failure the members let go
  pd_.Hold(pdw, info[0]);
  // The low 24 bits are the region's slot in the table, the high 8 count its reuses: an id kept after
  // its region closed names no later region of that slot until the count wraps.
  AddonData& data = Data(env);
  if (data.freeRegions.empty() || (data.regions.size() < (1u << 24) && data.freeRegions.size() < 64)) {
    id_ = uint32_t(data.regions.size());
    data.regions.push_back(this);
  } else {
    const uint32_t old = data.freeRegions.front();
    data.freeRegions.erase(data.freeRegions.begin());
    id_ = ((old >> 24) + 1) % 256 << 24 | (old & 0xffffff);
    data.regions[id_ & 0xffffff] = this;
  }
}

MemoryRegion* MemoryRegion::ById(Napi::Env env, uint32_t id) {
  const AddonData& data = Data(env);
  const uint32_t slot = id & 0xffffff;
  MemoryRegion* mr = slot < data.regions.size() ? data.regions[slot] : nullptr;
  return mr != nullptr && mr->id_ == id ? mr : nullptr;
}

void MemoryRegion::Dispose(ibv_mr* mr) {
  // The memory lives until the region is deregistered; still registered after a failure (a window
  // bound over it), the device may still write it, so the reaper keeps it for the life of the process.
  Reap(
      Env(), "ibv_dereg_mr", [mr] { return ibv_dereg_mr(mr); }, std::move(store_));
  AddonData& data = Data(Env());
  data.regions[id_ & 0xffffff] = nullptr;
  data.freeRegions.push_back(id_);
  pd_.Drop();
  memoryRef_.Reset();
  store_.reset();
}

ibv_sge MemoryRegion::Sge(Napi::Env env, int64_t offset, int64_t length, const char* name) const {
  ibv_mr* mr = raw();
  if (mr == nullptr) Throw(env, "ERR_CLOSED", std::string(name) + ": MemoryRegion is closed");
  if (offset < 0 || length < 0 || uint64_t(offset) > length_ || uint64_t(length) > length_ - uint64_t(offset))
    ThrowArgRange(env, name,
                  "[" + std::to_string(offset) + ", +" + std::to_string(length) +
                      ") is outside the region of " + std::to_string(length_) + " bytes");
  ibv_sge s;
  s.addr = reinterpret_cast<uint64_t>(data_) + uint64_t(offset);
  s.length = uint32_t(length);
  s.lkey = mr->lkey;
  return s;
}

Napi::Value MemoryRegion::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_mr* mr = handle(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("addr", Napi::BigInt::New(env, uint64_t(reinterpret_cast<uintptr_t>(data_))));
  o.Set("length", Napi::Number::New(env, double(length_)));
  o.Set("lkey", Napi::Number::New(env, mr->lkey));
  o.Set("rkey", Napi::Number::New(env, mr->rkey));
  o.Set("id", Napi::Number::New(env, id_));
  return o;
}

// The memory under the region (the caller's object, or our Buffer); lib/verbs/mr.ts views it as a Buffer.
Napi::Value MemoryRegion::Buffer(const Napi::CallbackInfo& info) {
  if (memoryRef_.IsEmpty()) ThrowClosed(info.Env(), "MemoryRegion");
  return memoryRef_.Value();
}

}  // namespace rdma
