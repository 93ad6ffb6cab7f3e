#include "ah.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "errors.h"
#include "pd.h"
#include "props.h"
#include "reaper.h"

namespace rdma {

static void ReadGid(Napi::Env env, Napi::Value v, ibv_gid* gid) {
  if (!v.IsString()) ThrowArgType(env, "dgid", "a GID string");
  std::string s = v.As<Napi::String>().Utf8Value();
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {  // IPv4 → its RoCE v2 (IPv4-mapped) GID
    std::memset(gid->raw, 0, 16);
    gid->raw[10] = gid->raw[11] = 0xff;
    std::memcpy(gid->raw + 12, &v4, 4);
    return;
  }
  if (inet_pton(AF_INET6, s.c_str(), gid->raw) != 1) ThrowArgRange(env, "dgid", "\"" + s + "\" is not a GID or IP address");
}

void ReadAhAttr(Napi::Env env, Napi::Value v, ibv_ah_attr* a) {
  if (!v.IsObject()) ThrowArgType(env, "ahAttr", "an object");
  Napi::Object ah = v.As<Napi::Object>();
  std::memset(a, 0, sizeof *a);
  int64_t n;
  if (OptInt(env, ah, "dlid", 0, 0xffff, &n)) a->dlid = uint16_t(n);
  if (OptInt(env, ah, "sl", 0, 15, &n)) a->sl = uint8_t(n);
  if (OptInt(env, ah, "srcPathBits", 0, 127, &n)) a->src_path_bits = uint8_t(n);
  a->port_num = OptInt(env, ah, "portNum", 1, 255, &n) ? uint8_t(n) : 1;
  Napi::Value g;
  if (Prop(ah, "grh", &g)) {
    if (!g.IsObject()) ThrowArgType(env, "grh", "an object");
    Napi::Object grh = g.As<Napi::Object>();
    a->is_global = 1;
    Napi::Value d;
    if (!Prop(grh, "dgid", &d)) ThrowArgType(env, "dgid", "a GID string");
    ReadGid(env, d, &a->grh.dgid);
    a->grh.sgid_index = OptInt(env, grh, "sgidIndex", 0, 255, &n) ? uint8_t(n) : 0;
    a->grh.hop_limit = OptInt(env, grh, "hopLimit", 0, 255, &n) ? uint8_t(n) : 64;
    if (OptInt(env, grh, "flowLabel", 0, 0xfffff, &n)) a->grh.flow_label = uint32_t(n);
    if (OptInt(env, grh, "trafficClass", 0, 255, &n)) a->grh.traffic_class = uint8_t(n);
  }
}

Napi::Function AddressHandle::Init(Napi::Env env) { return Define(env, {}); }

// new AddressHandle(pd, ahAttr)
AddressHandle::AddressHandle(const Napi::CallbackInfo& info) : Base(info) {
  Napi::Env env = info.Env();
  ProtectionDomain* pd = ProtectionDomain::From(env, info[0], "pd");
  ibv_ah_attr attr;
  ReadAhAttr(env, info[1], &attr);
  Create(env, "ibv_create_ah", [&] { return ibv_create_ah(pd->handle(env), &attr); }, EINVAL);
  pd_.Hold(pd, info[0]);
}

void AddressHandle::Dispose(ibv_ah* ah) {
  Reap(Env(), "ibv_destroy_ah", [ah] { return ibv_destroy_ah(ah); });
  pd_.Drop();
}

}  // namespace rdma
