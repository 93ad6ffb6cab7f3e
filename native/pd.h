// ProtectionDomain: ibv_pd, child of a Context; parent of memory regions and queue pairs.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "addon_data.h"

namespace rdma {

class Context;

class ProtectionDomain : public Napi::ObjectWrap<ProtectionDomain>, public Parent {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ProtectionDomain(const Napi::CallbackInfo& info);
  ~ProtectionDomain() override;

  ibv_pd* handle(Napi::Env env) const;  // throws ERR_CLOSED
  Context* context() const { return context_; }
  static ProtectionDomain* From(Napi::Env env, Napi::Value v, const char* name);  // type-checked unwrap

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Release();

  ibv_pd* pd_ = nullptr;
  Context* context_ = nullptr;
  Napi::ObjectReference contextRef_;
};

}  // namespace rdma
