// Error construction shared by every native class: each JS error carries a stable `code`,
// and system errors also carry `errno` and `syscall`.
#pragma once
#include <napi.h>
#include <string>

namespace rdma {

// Error for a failed C library call: code is the errno name (e.g. "ENODEV").
Napi::Error SysError(Napi::Env env, int err, const std::string& syscall);
[[noreturn]] void ThrowSys(Napi::Env env, int err, const std::string& syscall);

// Error for misuse from JavaScript, with the given code. As with Node's own errors (and lib/errors.ts),
// ERR_INVALID_ARG_TYPE is a TypeError, ERR_OUT_OF_RANGE a RangeError, every other code an Error.
Napi::Error CodeError(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void Throw(Napi::Env env, const char* code, const std::string& message);

// Common misuse shortcuts.
[[noreturn]] void ThrowClosed(Napi::Env env, const char* what);
[[noreturn]] void ThrowArgType(Napi::Env env, const std::string& name, const char* expected);
[[noreturn]] void ThrowArgRange(Napi::Env env, const std::string& name, const std::string& detail);

// The one integer reader: a number that is an integer (or a bigint) from min to max. Anything else but
// a number is ERR_INVALID_ARG_TYPE; a fraction, NaN or a value out of range is ERR_OUT_OF_RANGE (Node's
// own rule for integer arguments). Arguments and option properties both read through it.
int64_t ReadInt(Napi::Env env, Napi::Value v, const std::string& name, int64_t min, int64_t max);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
// An optional argument: dflt when it is absent or undefined.
int64_t ArgIntOr(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max,
                 int64_t dflt);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Object ArgObject(const Napi::CallbackInfo& info, size_t i, const char* name);

// Name of an errno value ("ENODEV"), or "E<number>" when unknown.
const char* ErrnoName(int err);

}  // namespace rdma
