#include "reaper.h"
#include "pd.h"

#include <cerrno>

#include "context.h"
#include "errors.h"

namespace rdma {

Napi::Function ProtectionDomain::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "ProtectionDomain",
                                 {
                                     InstanceAccessor<&ProtectionDomain::Closed>("closed"),
                                     InstanceMethod<&ProtectionDomain::Close>("close"),
                                 });
  Data(env).pd = Napi::Persistent(f);
  return f;
}

ProtectionDomain::ProtectionDomain(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProtectionDomain>(info) {
  Napi::Env env = info.Env();
  Napi::Object ctxObj = ArgObject(info, 0, "context");
  if (!ctxObj.InstanceOf(Data(env).context.Value())) ThrowArgType(env, "context", "a Context");
  context_ = Napi::ObjectWrap<Context>::Unwrap(ctxObj);
  ibv_context* ctx = context_->handle(env);
  errno = 0;
  pd_ = ibv_alloc_pd(ctx);
  if (pd_ == nullptr) ThrowSys(env, errno ? errno : ENOMEM, "ibv_alloc_pd");
  contextRef_ = Napi::Persistent(ctxObj);
  context_->AddChild();
}

ProtectionDomain::~ProtectionDomain() { Release(); }

void ProtectionDomain::Release() {
  if (pd_ == nullptr) return;
  ibv_pd* pd = pd_;
  Reap(Env(), "ibv_dealloc_pd", [pd] { return ibv_dealloc_pd(pd); });
  pd_ = nullptr;
  context_->RemoveChild();
  contextRef_.Reset();
}

ibv_pd* ProtectionDomain::handle(Napi::Env env) const {
  if (pd_ == nullptr) ThrowClosed(env, "ProtectionDomain");
  return pd_;
}

ProtectionDomain* ProtectionDomain::From(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).pd.Value())) ThrowArgType(env, name, "a ProtectionDomain");
  return Napi::ObjectWrap<ProtectionDomain>::Unwrap(v.As<Napi::Object>());
}

Napi::Value ProtectionDomain::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), pd_ == nullptr); }

Napi::Value ProtectionDomain::Close(const Napi::CallbackInfo& info) {
  if (pd_ != nullptr && children() > 0)
    Throw(info.Env(), Kind::Error, "ERR_BUSY", "ProtectionDomain has " + std::to_string(children()) + " open children (close them first)");
  Release();
  return info.Env().Undefined();
}

}  // namespace rdma
