// Readers for properties of JS option objects: absent or undefined → not set; present, each is read by
// the one integer reader (errors.h), never a silent coercion.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "addon_data.h"
#include "errors.h"

namespace rdma {

// `name` (a string literal: it is cached by its address) as a JS string, made once per environment:
// reading or setting a property by a C string would make and internalize the string on every call.
inline Napi::Value Key(Napi::Env env, const char* name) {
  AddonData& d = Data(env);
  Napi::Object store = d.keyStore.Value();
  auto it = d.keys.find(name);
  if (it == d.keys.end()) {
    const uint32_t at = uint32_t(d.keys.size());
    store.Set(at, Napi::String::New(env, name));
    it = d.keys.emplace(name, at).first;
  }
  return store.Get(it->second);
}

inline bool Prop(Napi::Object o, const char* key, Napi::Value* out) {
  // An absent property reads as undefined: one lookup, never a silent coercion.
  Napi::Value v = o.Get(Key(o.Env(), key));
  if (v.IsUndefined()) return false;
  *out = v;
  return true;
}

inline bool OptInt(Napi::Env env, Napi::Object o, const char* key, int64_t min, int64_t max, int64_t* out) {
  Napi::Value v;
  if (!Prop(o, key, &v)) return false;
  *out = ReadInt(env, v, key, min, max);
  return true;
}

inline int64_t OptIntOr(Napi::Env env, Napi::Object o, const char* key, int64_t min, int64_t max,
                        int64_t dflt) {
  int64_t n;
  return OptInt(env, o, key, min, max, &n) ? n : dflt;
}

inline int64_t ReqInt(Napi::Env env, Napi::Object o, const char* key, int64_t min, int64_t max) {
  int64_t n;
  if (!OptInt(env, o, key, min, max, &n)) ThrowArgType(env, key, "an integer");
  return n;
}

inline uint64_t U64Prop(Napi::Env env, Napi::Value v, const char* key) {
  if (v.IsBigInt()) {
    bool lossless = true;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) ThrowArgRange(env, key, "must fit in 64 unsigned bits");
    return r;
  }
  if (v.IsNumber()) return uint64_t(ReadInt(env, v, key, 0, (int64_t(1) << 53) - 1));
  ThrowArgType(env, key, "a bigint");
}

}  // namespace rdma
