// Context: one opened RDMA device (ibv_context).
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

namespace rdma {

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override;

  ibv_context* handle(Napi::Env env) const;  // throws ERR_CLOSED when closed

 private:
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value QueryDevice(const Napi::CallbackInfo& info);
  Napi::Value QueryPort(const Napi::CallbackInfo& info);
  Napi::Value QueryGidTable(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Release();

  ibv_context* ctx_ = nullptr;
  std::string name_;
};

}  // namespace rdma
