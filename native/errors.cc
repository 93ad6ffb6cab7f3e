#include "errors.h"

#include <uv.h>

#include <cmath>
#include <cstring>
#include <limits>

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

Napi::Error CodeError(Napi::Env env, Kind kind, const char* code, const std::string& message) {
  Napi::Error e = kind == Kind::Type    ? Napi::TypeError::New(env, message)
                  : kind == Kind::Range ? Napi::RangeError::New(env, message)
                                        : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

void Throw(Napi::Env env, Kind kind, const char* code, const std::string& message) {
  throw CodeError(env, kind, code, message);
}

void ThrowClosed(Napi::Env env, const char* what) {
  Throw(env, Kind::Error, "ERR_CLOSED", std::string(what) + " is closed");
}

void ThrowArgType(Napi::Env env, const std::string& name, const char* expected) {
  Throw(env, Kind::Type, "ERR_INVALID_ARG_TYPE", "The \"" + name + "\" argument must be " + expected);
}

void ThrowArgRange(Napi::Env env, const std::string& name, const std::string& detail) {
  Throw(env, Kind::Range, "ERR_OUT_OF_RANGE", "The value of \"" + name + "\" is out of range: " + detail);
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  Napi::Value v = info[i];
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless || x < min || x > max)
      ThrowArgRange(info.Env(), name, "must be >= " + std::to_string(min) + " and <= " + std::to_string(max));
    return x;
  }
  if (!v.IsNumber()) ThrowArgType(info.Env(), name, "of type number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) ThrowArgRange(info.Env(), name, "must be an integer");
  if (d < static_cast<double>(min) || d > static_cast<double>(max))
    ThrowArgRange(info.Env(), name, "must be >= " + std::to_string(min) + " and <= " + std::to_string(max));
  return static_cast<int64_t>(d);
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<uint32_t>(ArgInt(info, i, name, 0, std::numeric_limits<uint32_t>::max()));
}

int64_t ArgIntOr(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max, int64_t dflt) {
  if (info.Length() <= i || info[i].IsUndefined()) return dflt;
  return ArgInt(info, i, name, min, max);
}

uint32_t ArgU32Or(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t dflt) {
  return static_cast<uint32_t>(ArgIntOr(info, i, name, 0, std::numeric_limits<uint32_t>::max(), dflt));
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
