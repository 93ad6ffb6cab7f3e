// Destroys verbs and CM objects off the JS thread, one at a time, in the order they were closed.
//
// A destroy can block for seconds: rxe's ibv_destroy_qp waits until the packets of the QP still in the
// network stack are freed, which on a link that just died takes its retransmission timeouts, and
// rdma_destroy_id waits for the CM's exchange with the partner. On the JS thread that would stop every
// timer and heartbeat of the process. close() therefore takes an object out of use at once (its handle
// is gone, its parent's count drops) and hands the device call to this one thread. One thread in FIFO
// order keeps the device's rules: a QP is destroyed before its CQs, PD and CM id, because it was closed
// before them. What a destroy must keep alive (registered memory) is released back on the JS thread
// after it; a destroy that fails is reported as a process warning, and memory still registered is kept.
#pragma once
#include <napi.h>
#include <uv.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "backing_store.h"

namespace rdma {

class Reaper {
 public:
  explicit Reaper(Napi::Env env);
  ~Reaper();

  // Queues `destroy` (0 or an errno) of the object `what` names; `keep` lives until it has run.
  void Add(const char* what, std::function<int()> destroy, BackingStore keep = nullptr);
  // Calls `done` on the JS thread once everything queued before has been destroyed.
  void Drain(Napi::Function done);
  // Finishes the queue and stops the thread.
  void Stop();

 private:
  struct Item {
    const char* what = nullptr;
    std::function<int()> destroy;
    BackingStore keep;
    Napi::FunctionReference done;
    int err = 0;
  };
  void Work();
  void Finish(std::deque<std::unique_ptr<Item>> items, bool callJs);
  static void OnDone(uv_async_t* h);

  napi_env env_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Item>> queue_;
  std::deque<std::unique_ptr<Item>> done_;
  bool stopping_ = false;
  bool stopped_ = false;
  uv_async_t* async_ = nullptr;
  std::thread thread_;
};

// Starts the environment's reaper (at module load); it stops at the environment's teardown.
void StartReaper(Napi::Env env);
// Queues a destroy with the environment's reaper; after its teardown (finalizers at exit) runs it here.
void Reap(Napi::Env env, const char* what, std::function<int()> destroy, BackingStore keep = nullptr);

Napi::Value DrainReaper(const Napi::CallbackInfo& info);

}  // namespace rdma
