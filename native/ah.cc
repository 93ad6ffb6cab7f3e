#include "ah.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "errors.h"
#include "names.h"
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
  if (inet_pton(AF_INET6, s.c_str(), gid->raw) != 1)
    ThrowArgRange(env, "dgid", "\"" + s + "\" is not a GID or IP address");
}

void ReadAhAttr(Napi::Env env, Napi::Value v, ibv_ah_attr* a) {
  if (!v.IsObject()) ThrowArgType(env, "ahAttr", "an object");
  Napi::Object ah = v.As<Napi::Object>();
  std::memset(a, 0, sizeof *a);
  int64_t n;
  if (OptInt(env, ah, "dlid", 0, 0xffff, &n)) a->dlid = uint16_t(n);
  if (OptInt(env, ah, "sl", 0, 15, &n)) a->sl = uint8_t(n);
  if (OptInt(env, ah, "srcPathBits", 0, 127, &n)) a->src_path_bits = uint8_t(n);
  if (OptInt(env, ah, "staticRate", 0, 255, &n)) a->static_rate = uint8_t(n);
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

Napi::Object AhAttrToJs(Napi::Env env, const ibv_ah_attr& a) {
  Napi::Object ah = Napi::Object::New(env);
  ah.Set("dlid", Napi::Number::New(env, a.dlid));
  ah.Set("sl", Napi::Number::New(env, a.sl));
  ah.Set("srcPathBits", Napi::Number::New(env, a.src_path_bits));
  ah.Set("staticRate", Napi::Number::New(env, a.static_rate));
  ah.Set("portNum", Napi::Number::New(env, a.port_num));
  if (a.is_global) {
    Napi::Object grh = Napi::Object::New(env);
    grh.Set("dgid", GidString(a.grh.dgid));
    grh.Set("sgidIndex", Napi::Number::New(env, a.grh.sgid_index));
    grh.Set("hopLimit", Napi::Number::New(env, a.grh.hop_limit));
    grh.Set("flowLabel", Napi::Number::New(env, a.grh.flow_label));
    grh.Set("trafficClass", Napi::Number::New(env, a.grh.traffic_class));
    ah.Set("grh", grh);
  }
  return ah;
}

// The receive completion ibv_init_ah_from_wc(3) reads: { srcQp, wcFlags, slid, sl, dlidPathBits, pkeyIndex }.
static ibv_wc ReadReceiveWc(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) ThrowArgType(env, "wc", "a receive work completion");
  Napi::Object o = v.As<Napi::Object>();
  ibv_wc wc{};
  wc.status = IBV_WC_SUCCESS;
  wc.opcode = IBV_WC_RECV;
  int64_t n;
  if (OptInt(env, o, "srcQp", 0, 0xffffff, &n)) wc.src_qp = uint32_t(n);
  if (OptInt(env, o, "wcFlags", 0, 0xffffffff, &n)) wc.wc_flags = unsigned(n);
  if (OptInt(env, o, "slid", 0, 0xffff, &n)) wc.slid = uint16_t(n);
  if (OptInt(env, o, "sl", 0, 15, &n)) wc.sl = uint8_t(n);
  if (OptInt(env, o, "dlidPathBits", 0, 127, &n)) wc.dlid_path_bits = uint8_t(n);
  if (OptInt(env, o, "pkeyIndex", 0, 0xffff, &n)) wc.pkey_index = uint16_t(n);
  return wc;
}

Napi::Function AddressHandle::Init(Napi::Env env) { return Define(env, {}); }

// new AddressHandle(pd, ahAttr), or new AddressHandle(pd, wc, grh, portNum): the way back to the sender
// of a UD receive, from a copy of the 40 GRH bytes it landed with (ibv_create_ah_from_wc).
AddressHandle::AddressHandle(const Napi::CallbackInfo& info) : Base(info) {
  Napi::Env env = info.Env();
  ProtectionDomain* pd = ProtectionDomain::From(env, info[0], "pd");
  if (info.Length() > 2) {
    ibv_wc wc = ReadReceiveWc(env, info[1]);
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      ThrowArgType(env, "grh", "a Uint8Array or Buffer");
    Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
    if (bytes.ByteLength() < sizeof(ibv_grh)) ThrowArgRange(env, "grh", "must hold the 40 bytes of the GRH");
    if (!(wc.wc_flags & IBV_WC_GRH)) ThrowArgRange(env, "wc", "carried no GRH (wcFlags lacks GRH)");
    ibv_grh grh;
    std::memcpy(&grh, bytes.Data(), sizeof grh);
    uint8_t port = uint8_t(ArgInt(info, 3, "portNum", 1, 255));
    Create(
        env, "ibv_create_ah_from_wc", [&] { return ibv_create_ah_from_wc(pd->handle(env), &wc, &grh, port); },
        EINVAL);
  } else {
    ibv_ah_attr attr;
    ReadAhAttr(env, info[1], &attr);
    Create(
        env, "ibv_create_ah", [&] { return ibv_create_ah(pd->handle(env), &attr); }, EINVAL);
  }
  pd_.Hold(pd, info[0]);
}

void AddressHandle::Dispose(ibv_ah* ah) {
  Reap(Env(), "ibv_destroy_ah", [ah] { return ibv_destroy_ah(ah); });
  pd_.Drop();
}

}  // namespace rdma
