#include "reaper.h"
#include "cm_channel.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "cm_id.h"
#include "errors.h"

namespace rdma {

Napi::Function CmEventChannel::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "CmEventChannel",
                                 {
                                     InstanceMethod<&CmEventChannel::Ref>("ref"),
                                     InstanceMethod<&CmEventChannel::Unref>("unref"),
                                     InstanceMethod<&CmEventChannel::Close>("close"),
                                     InstanceAccessor<&CmEventChannel::Closed>("closed"),
                                 });
  Data(env).cmChannel = Napi::Persistent(f);
  return f;
}

// new CmEventChannel(onEvents(batch))
CmEventChannel::CmEventChannel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CmEventChannel>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) ThrowArgType(env, "onEvents", "a function");
  errno = 0;
  ch_ = rdma_create_event_channel();
  if (ch_ == nullptr) ThrowSys(env, errno ? errno : ENODEV, "rdma_create_event_channel");
  int flags = fcntl(ch_->fd, F_GETFL);
  if (flags < 0 || fcntl(ch_->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    rdma_destroy_event_channel(ch_);
    ch_ = nullptr;
    ThrowSys(env, err, "fcntl");
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  int err = uv_poll_init(loop, poll_, ch_->fd);
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    rdma_destroy_event_channel(ch_);
    ch_ = nullptr;
    ThrowSys(env, -err, "uv_poll_init");
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, OnReadable);
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  onEvents_ = Napi::Persistent(info[0].As<Napi::Function>());
}

CmEventChannel::~CmEventChannel() { Release(); }

void CmEventChannel::Release() {
  if (ch_ == nullptr) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
  rdma_event_channel* ch = ch_;
  Reap(Env(), "rdma_destroy_event_channel", [ch] {
    rdma_destroy_event_channel(ch);
    return 0;
  });
  ch_ = nullptr;
  onEvents_.Reset();
}

rdma_event_channel* CmEventChannel::handle(Napi::Env env) const {
  if (ch_ == nullptr) ThrowClosed(env, "CmEventChannel");
  return ch_;
}

CmEventChannel* CmEventChannel::From(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).cmChannel.Value())) ThrowArgType(env, name, "a CmEventChannel");
  return Napi::ObjectWrap<CmEventChannel>::Unwrap(v.As<Napi::Object>());
}

void CmEventChannel::Register(rdma_cm_id* id, Napi::Object obj) { ids_[id] = Napi::Weak(obj); }
void CmEventChannel::Unregister(rdma_cm_id* id) { ids_.erase(id); }

void CmEventChannel::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<CmEventChannel*>(handle->data);
  if (self == nullptr || self->ch_ == nullptr) return;
  Napi::Env env = self->env_;
  Napi::HandleScope scope(env);
  try {
    self->Drain();
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

static const char* EventName(rdma_cm_event_type t) {
  const char* s = rdma_event_str(t);
  return std::strncmp(s, "RDMA_CM_EVENT_", 14) == 0 ? s + 14 : s;
}

namespace {
// Acknowledges a CM event when the scope that read it ends, on every path (a JS exception included):
// an event left unacknowledged makes rdma_destroy_id of its id wait forever.
struct CmEventAck {
  rdma_cm_event* ev;
  ~CmEventAck() {
    if (ev != nullptr) rdma_ack_cm_event(ev);
  }
};
}  // namespace

void CmEventChannel::Drain() {
  Napi::Env env = env_;
  Napi::Array batch = Napi::Array::New(env);
  uint32_t n = 0;
  rdma_cm_event* ev = nullptr;
  while (ch_ != nullptr && rdma_get_cm_event(ch_, &ev) == 0) {
    CmEventAck ack{ev};
    rdma_cm_id* id = ev->id;
    Napi::Object o = Napi::Object::New(env);
    o.Set("event", Napi::String::New(env, EventName(ev->event)));
    o.Set("status", Napi::Number::New(env, ev->status));
    const void* pd = nullptr;
    uint8_t pdLen = 0;
    if (id->ps == RDMA_PS_TCP || id->ps == RDMA_PS_IB) {
      pd = ev->param.conn.private_data;
      pdLen = ev->param.conn.private_data_len;
    }
    if (pd != nullptr && pdLen > 0)
      o.Set("privateData", Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(pd), pdLen));
    if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST) {
      auto it = ids_.find(ev->listen_id);
      // A weak reference outlives its object: a collected listener reads as empty.
      Napi::Object listener = it != ids_.end() && !it->second.IsEmpty() ? it->second.Value() : Napi::Object();
      if (!listener.IsEmpty()) {
        o.Set("listenId", listener);
        // A new id for the incoming connection, on this channel.
        Napi::Object child = CmId::WrapIncoming(env, id, Value());
        o.Set("id", child);
        o.Set("responderResources", Napi::Number::New(env, ev->param.conn.responder_resources));
        o.Set("initiatorDepth", Napi::Number::New(env, ev->param.conn.initiator_depth));
      } else {
        // Nobody listens any more: refuse and forget the request (its id read before the ack frees the event).
        rdma_ack_cm_event(ev);
        ack.ev = nullptr;
        rdma_reject(id, nullptr, 0);
        rdma_destroy_id(id);
        continue;
      }
    } else {
      auto it = ids_.find(id);
      Napi::Object target = it != ids_.end() && !it->second.IsEmpty() ? it->second.Value() : Napi::Object();
      if (target.IsEmpty()) continue;
      o.Set("id", target);
    }
    batch.Set(n++, o);
  }
  if (n > 0 && !onEvents_.IsEmpty()) onEvents_.MakeCallback(Value(), {batch});
}

Napi::Value CmEventChannel::Ref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value CmEventChannel::Unref(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value CmEventChannel::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ch_ == nullptr); }

Napi::Value CmEventChannel::Close(const Napi::CallbackInfo& info) {
  if (ch_ != nullptr && children() > 0)
    Throw(info.Env(), Kind::Error, "ERR_BUSY", "CmEventChannel has " + std::to_string(children()) + " open CM ids");
  Release();
  return info.Env().Undefined();
}

Napi::Value SyncCmDevices(const Napi::CallbackInfo& info) {
  int n = 0;
  ibv_context** list = rdma_get_devices(&n);
  if (list != nullptr) rdma_free_devices(list);
  return Napi::Number::New(info.Env(), n);
}

}  // namespace rdma
