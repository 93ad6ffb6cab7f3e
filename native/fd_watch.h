// FdWatch: libuv watching one of rdma-core's event fds (a device's async events, a completion channel,
// a CM event channel) on the JS thread. The fd is made non-blocking, so that a drain reads until it is
// empty; the callback runs inside a handle scope, and a JS exception thrown in it surfaces as an
// uncaughtException instead of unwinding through libuv. A watch does not keep the process alive unless
// it is ref()'d.
#pragma once
#include <napi.h>
#include <uv.h>

#include <functional>

namespace rdma {

class FdWatch {
 public:
  FdWatch() = default;
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;
  ~FdWatch() { Stop(); }

  // Starts watching `fd`; throws the failing call (fcntl, uv_poll_init) as a system error.
  void Start(Napi::Env env, int fd, std::function<void()> onReadable);
  // Stops watching before the fd goes away; libuv frees the handle once it is done with it. Idempotent.
  void Stop();
  void Ref();
  void Unref();
  bool active() const { return poll_ != nullptr; }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events);

  uv_poll_t* poll_ = nullptr;
  napi_env env_ = nullptr;
  std::function<void()> onReadable_;
};

}  // namespace rdma
