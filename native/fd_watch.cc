#include "fd_watch.h"

#include <fcntl.h>

#include <cerrno>

#include "errors.h"

namespace rdma {

void FdWatch::Start(Napi::Env env, int fd, std::function<void()> onReadable) {
  if (poll_ != nullptr) return;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) ThrowSys(env, errno, "fcntl");
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* poll = new uv_poll_t;
  int err = uv_poll_init(loop, poll, fd);
  if (err != 0) {
    delete poll;
    ThrowSys(env, -err, "uv_poll_init");
  }
  poll->data = this;
  poll_ = poll;
  env_ = env;
  onReadable_ = std::move(onReadable);
  uv_poll_start(poll_, UV_READABLE, OnPoll);
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
}

void FdWatch::Stop() {
  if (poll_ == nullptr) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;  // onReadable_ stays: Stop() may run inside it
}

void FdWatch::Ref() {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
}

void FdWatch::Unref() {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
}

void FdWatch::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<FdWatch*>(handle->data);
  if (self == nullptr) return;
  Napi::Env env(self->env_);
  Napi::HandleScope scope(env);
  try {
    self->onReadable_();
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

}  // namespace rdma
