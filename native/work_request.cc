#include "work_request.h"

#include <string>

#include "errors.h"
#include "mr.h"
#include "props.h"

namespace rdma {

uint64_t ReadSgl(Napi::Env env, Napi::Object wr, std::vector<ibv_sge>& out, ProtectionDomain* pd) {
  Napi::Value v;
  if (!Prop(wr, "sgl", &v)) return 0;
  if (!v.IsArray()) ThrowArgType(env, "sgl", "an array of { mr, offset, length }");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > kMaxSge) ThrowArgRange(env, "sgl", "at most " + std::to_string(kMaxSge) + " entries");
  uint64_t total = 0;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsObject())
      ThrowArgType(env, "sgl[" + std::to_string(i) + "]", "an object { mr, offset, length }");
    Napi::Object s = e.As<Napi::Object>();
    MemoryRegion* mr = MemoryRegion::From(env, s.Get(Key(env, "mr")), "sgl.mr");
    if (mr->pd() != pd)
      Throw(env, "ERR_WRONG_PD", "a scatter/gather entry uses a region of another protection domain");
    int64_t off = 0, len = 0;
    OptInt(env, s, "offset", 0, int64_t(1) << 40, &off);
    if (!OptInt(env, s, "length", 0, 0xffffffffLL, &len)) ThrowArgType(env, "sgl.length", "an integer");
    out.push_back(mr->Sge(env, off, len, "sgl"));
    total += uint64_t(len);
  }
  return total;
}

void BuildRecv(Napi::Env env, Napi::Value arg, ProtectionDomain* pd, RecvChain& chain) {
  if (!arg.IsArray()) ThrowArgType(env, "wrs", "an array of receive requests");
  Napi::Array list = arg.As<Napi::Array>();
  uint32_t count = list.Length();
  if (count > kMaxWrsPerPost)
    ThrowArgRange(env, "wrs", "at most " + std::to_string(kMaxWrsPerPost) + " per call");
  chain.wrs.assign(count, ibv_recv_wr());
  chain.sges.assign(count, std::vector<ibv_sge>());
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value e = list.Get(i);
    if (!e.IsObject()) ThrowArgType(env, "wrs[" + std::to_string(i) + "]", "an object");
    Napi::Object o = e.As<Napi::Object>();
    ibv_recv_wr& w = chain.wrs[i];
    Napi::Value v;
    if (!Prop(o, "wrId", &v)) ThrowArgType(env, "wrId", "a bigint");
    w.wr_id = U64Prop(env, v, "wrId");
    ReadSgl(env, o, chain.sges[i], pd);
  }
  for (uint32_t i = 0; i < count; i++) {
    chain.wrs[i].sg_list = chain.sges[i].empty() ? nullptr : chain.sges[i].data();
    chain.wrs[i].num_sge = int(chain.sges[i].size());
    chain.wrs[i].next = i + 1 < count ? &chain.wrs[i + 1] : nullptr;
  }
}

const uint32_t* ReadDescriptors(Napi::Env env, napi_value desc, napi_value count, uint32_t* n) {
  bool isTyped = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (napi_is_typedarray(env, desc, &isTyped) != napi_ok || !isTyped ||
      napi_get_typedarray_info(env, desc, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint32_array)
    ThrowArgType(env, "descriptors", "a Uint32Array");
  double c = -1;
  napi_valuetype t = napi_undefined;
  if (napi_typeof(env, count, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, count, &c) != napi_ok || !(c >= 0 && c <= kMaxWrsPerPost) ||
      c != double(uint32_t(c)))
    ThrowArgRange(env, "count", "must be an integer from 0 to " + std::to_string(kMaxWrsPerPost));
  if (uint64_t(c) * kDescStride > length)
    ThrowArgRange(env, "count",
                  std::to_string(uint32_t(c)) + " descriptors of " + std::to_string(kDescStride) +
                      " words do not fit in " + std::to_string(length));
  *n = uint32_t(c);
  return static_cast<const uint32_t*>(data);
}

void ThrowDesc(Napi::Env env, const char* code, uint32_t i, const std::string& what) {
  Throw(env, code, "descriptor " + std::to_string(i) + ": " + what);
}

bool DescSge(Napi::Env env, const uint32_t* d, uint32_t i, ProtectionDomain* pd, ibv_sge* sge) {
  if (d[kDescMr] == kDescNoMr) {
    if (d[kDescLength] != 0) ThrowDesc(env, "ERR_OUT_OF_RANGE", i, "a length without a region");
    return false;
  }
  MemoryRegion* mr = MemoryRegion::ById(env, d[kDescMr]);
  if (mr == nullptr || !mr->open()) ThrowDesc(env, "ERR_CLOSED", i, "no open region has that id");
  if (mr->pd() != pd) ThrowDesc(env, "ERR_WRONG_PD", i, "the region belongs to another protection domain");
  const uint64_t offset = uint64_t(d[kDescOffset]) | uint64_t(d[kDescOffsetHigh]) << 32;
  if (offset > (uint64_t(1) << 40)) ThrowDesc(env, "ERR_OUT_OF_RANGE", i, "offset beyond 2^40");
  *sge = mr->Sge(env, int64_t(offset), int64_t(d[kDescLength]), "descriptor");
  return true;
}

void BuildRecvFast(Napi::Env env, const uint32_t* desc, uint32_t count, ProtectionDomain* pd,
                   std::vector<ibv_recv_wr>& wrs, std::vector<ibv_sge>& sges) {
  wrs.resize(count);
  sges.resize(count);
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* d = desc + size_t(i) * kDescStride;
    ibv_recv_wr& w = wrs[i];
    w.wr_id = uint64_t(d[kDescId]) | uint64_t(d[kDescIdHigh]) << 32;
    w.num_sge = DescSge(env, d, i, pd, &sges[i]) ? 1 : 0;
    w.sg_list = w.num_sge ? &sges[i] : nullptr;
    w.next = i + 1 < count ? &wrs[i + 1] : nullptr;
  }
}

template <typename Wr>
void ThrowPostError(Napi::Env env, int err, const char* call, const Wr* first, const Wr* bad) {
  Napi::Error e = SysError(env, err, call);
  e.Set("posted", Napi::Number::New(env, bad ? double(bad - first) : 0));
  throw e;
}

template void ThrowPostError<ibv_recv_wr>(Napi::Env, int, const char*, const ibv_recv_wr*,
                                          const ibv_recv_wr*);
template void ThrowPostError<ibv_send_wr>(Napi::Env, int, const char*, const ibv_send_wr*,
                                          const ibv_send_wr*);

}  // namespace rdma
