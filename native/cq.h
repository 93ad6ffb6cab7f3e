// CompletionQueue: ibv_cq with its own completion channel, whose fd libuv watches. When the channel
// fires, every available completion is polled and handed to JS in one callback (no thread, no spin).
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>
#include <uv.h>

#include "addon_data.h"

namespace rdma {

class Context;

class CompletionQueue : public Napi::ObjectWrap<CompletionQueue>, public Parent {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit CompletionQueue(const Napi::CallbackInfo& info);
  ~CompletionQueue() override;

  ibv_cq* handle(Napi::Env env) const;
  Context* context() const { return context_; }
  static CompletionQueue* From(Napi::Env env, Napi::Value v, const char* name);

 private:
  Napi::Value Poll(const Napi::CallbackInfo& info);
  Napi::Value PollCount(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  void Drain();
  Napi::Array PollBatch(Napi::Env env, int max, int64_t spinUs);
  void Release();

  ibv_cq* cq_ = nullptr;
  ibv_comp_channel* channel_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  Context* context_ = nullptr;
  Napi::ObjectReference contextRef_;
  Napi::FunctionReference onCompletions_;
  bool held_ = false;  // ref() made the wrapper's reference strong
  void Drop();
  Napi::Env env_;
};

// A work completion as a JS object.
Napi::Object CompletionToJs(Napi::Env env, const ibv_wc& wc);

}  // namespace rdma
