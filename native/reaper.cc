#include "reaper.h"

#include <cstring>
#include <string>
#include <unordered_map>

#include "errors.h"

namespace rdma {

namespace {
// One reaper per environment (the main thread and each worker). The map outlives them all: a finalizer
// that runs after its environment's reaper stopped finds none and destroys inline.
std::mutex reapersMutex;
std::unordered_map<napi_env, Reaper*>& Reapers() {
  static auto* m = new std::unordered_map<napi_env, Reaper*>();
  return *m;
}

// A callback from the loop has no caller to throw to: what it throws is an uncaught exception.
template <typename F>
void Call(Napi::Env env, F f) {
  try {
    f();
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

void StopAtTeardown(void* env) {
  Reaper* r = nullptr;
  {
    std::lock_guard<std::mutex> lock(reapersMutex);
    auto it = Reapers().find(static_cast<napi_env>(env));
    if (it == Reapers().end()) return;
    r = it->second;
    Reapers().erase(it);
  }
  delete r;
}
}  // namespace

Reaper::Reaper(Napi::Env env) : env_(env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  async_ = new uv_async_t;
  uv_async_init(loop, async_, OnDone);
  async_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));  // an idle reaper does not keep the process alive
  thread_ = std::thread([this] { Work(); });
}

Reaper::~Reaper() { Stop(); }

void Reaper::Add(const char* what, std::function<int()> destroy, BackingStore keep) {
  auto item = std::make_unique<Item>();
  item->what = what;
  item->destroy = std::move(destroy);
  item->keep = std::move(keep);
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.push_back(std::move(item));
  wake_.notify_one();
}

void Reaper::Drain(Napi::Function done) {
  auto item = std::make_unique<Item>();
  item->done = Napi::Persistent(done);
  std::lock_guard<std::mutex> lock(mutex_);
  uv_ref(reinterpret_cast<uv_handle_t*>(async_));  // someone waits: keep the loop alive
  queue_.push_back(std::move(item));
  wake_.notify_one();
}

void Reaper::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left
    std::unique_ptr<Item> item = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // Only the device call runs here: no JS value is touched off the JS thread.
    if (item->destroy) item->err = item->destroy();
    lock.lock();
    done_.push_back(std::move(item));
    uv_async_send(async_);
  }
}

void Reaper::OnDone(uv_async_t* h) {
  auto* self = static_cast<Reaper*>(h->data);
  if (self == nullptr) return;
  std::deque<std::unique_ptr<Item>> items;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    items.swap(self->done_);
    bool waiting = false;
    for (auto& i : self->queue_) waiting = waiting || !i->done.IsEmpty();
    if (!waiting) uv_unref(reinterpret_cast<uv_handle_t*>(self->async_));
  }
  self->Finish(std::move(items), true);
}

void Reaper::Finish(std::deque<std::unique_ptr<Item>> items, bool callJs) {
  Napi::Env env(env_);
  for (auto& item : items) {
    if (item->err != 0) {
      // Memory a region could not be deregistered from may still be written by the device.
      if (item->keep) LeakBackingStore(std::move(item->keep));
      if (callJs) {
        Napi::HandleScope scope(env);
        std::string msg = std::string(item->what) + " failed: " + std::strerror(item->err) + " (" +
                          ErrnoName(item->err) + ")";
        Napi::Object process = env.Global().Get("process").As<Napi::Object>();
        Napi::Value warn = process.Get("emitWarning");
        Napi::Object opts = Napi::Object::New(env);
        opts.Set("code", "ERR_RDMA_DESTROY");
        opts.Set("detail", std::string("errno ") + std::to_string(item->err));
        if (warn.IsFunction())
          Call(env, [&] {
            warn.As<Napi::Function>().MakeCallback(process, {Napi::String::New(env, msg), opts});
          });
      }
    }
    if (!item->done.IsEmpty() && callJs) {
      Napi::HandleScope scope(env);
      Call(env, [&] { item->done.Value().MakeCallback(env.Global(), {}); });
    }
  }
}

void Reaper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  std::deque<std::unique_ptr<Item>> items;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    items.swap(done_);
  }
  Finish(std::move(items), false);
  async_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(async_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void StartReaper(Napi::Env env) {
  auto* r = new Reaper(env);
  {
    std::lock_guard<std::mutex> lock(reapersMutex);
    Reapers()[env] = r;
  }
  napi_add_env_cleanup_hook(env, StopAtTeardown, static_cast<napi_env>(env));
}

static Reaper* Find(napi_env env) {
  std::lock_guard<std::mutex> lock(reapersMutex);
  auto it = Reapers().find(env);
  return it == Reapers().end() ? nullptr : it->second;
}

void Reap(Napi::Env env, const char* what, std::function<int()> destroy, BackingStore keep) {
  if (Reaper* r = Find(env)) return r->Add(what, std::move(destroy), std::move(keep));
  // Torn down already: nobody waits any more. Memory still registered after a failure is kept.
  if (destroy() != 0 && keep) LeakBackingStore(std::move(keep));
}

// drainReaper(done): calls done() once every object closed so far has been destroyed.
Napi::Value DrainReaper(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) ThrowArgType(info.Env(), "done", "a function");
  Reaper* r = Find(info.Env());
  if (r == nullptr) Throw(info.Env(), "ERR_CLOSED", "the environment is shutting down");
  r->Drain(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace rdma
