#include "errors.h"

#include <uv.h>

#include <cmath>
#include <cstring>

namespace rdma {

const char* ErrnoName(int err) {
  // libuv knows the portable names; it reports unknown ones with this prefix.
  const char* n = uv_err_name(-err);
  if (n == nullptr || std::strncmp(n, "Unknown", 7) == 0) {
    static thread_local char buf[32];
    std::snprintf(buf, sizeof buf, "E%d", err);
    return buf;
  }
  return n;
}

Napi::Error SysError(Napi::Env env, int err, const std::string& syscall) {
  if (err <= 0) err = EIO;
  const char* name = ErrnoName(err);
  std::string msg = syscall + " failed: " + std::strerror(err) + " (" + name + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void ThrowSys(Napi::Env env, int err, const std::string& syscall) { throw SysError(env, err, syscall); }

Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = std::strcmp(code, "ERR_INVALID_ARG_TYPE") == 0 ? Napi::TypeError::New(env, message)
                  : std::strcmp(code, "ERR_OUT_OF_RANGE") == 0   ? Napi::RangeError::New(env, message)
                                                                 : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

void Throw(Napi::Env env, const char* code, const std::string& message) {
  throw CodeError(env, code, message);
}

void ThrowClosed(Napi::Env env, const char* what) {
  Throw(env, "ERR_CLOSED", std::string(what) + " is closed");
}

void ThrowArgType(Napi::Env env, const std::string& name, const char* expected) {
  Throw(env, "ERR_INVALID_ARG_TYPE", "The \"" + name + "\" argument must be " + expected);
}

void ThrowArgRange(Napi::Env env, const std::string& name, const std::string& detail) {
  Throw(env, "ERR_OUT_OF_RANGE", "The value of \"" + name + "\" is out of range: " + detail);
}

static void ThrowIntRange(Napi::Env env, const std::string& name, int64_t min, int64_t max,
                          const std::string& got) {
  ThrowArgRange(env, name,
                "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + got);
}

int64_t ReadInt(Napi::Env env, Napi::Value v, const std::string& name, int64_t min, int64_t max) {
  // A number is read in one engine call (the common case on every hot path); only then the other types.
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok) {
    if (!std::isfinite(d) || std::floor(d) != d) ThrowArgRange(env, name, "must be an integer");
    if (d < double(min) || d > double(max)) ThrowIntRange(env, name, min, max, v.ToString().Utf8Value());
    return int64_t(d);
  }
  if (!v.IsBigInt()) ThrowArgType(env, name, "an integer");
  bool lossless = false;
  int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless || x < min || x > max) ThrowIntRange(env, name, min, max, v.ToString().Utf8Value() + "n");
  return x;
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  return ReadInt(info.Env(), info[i], name, min, max);
}

int64_t ArgIntOr(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max,
                 int64_t dflt) {
  if (info.Length() <= i || info[i].IsUndefined()) return dflt;
  return ArgInt(info, i, name, min, max);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) ThrowArgType(info.Env(), name, "of type string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsObject()) ThrowArgType(info.Env(), name, "an object");
  return info[i].As<Napi::Object>();
}

}  // namespace rdma
