#include "cm_channel.h"

#include <cerrno>
#include <cstring>

#include "ah.h"
#include "cm_id.h"
#include "errors.h"
#include "reaper.h"
#include "rollback.h"

namespace rdma {

Napi::Function CmEventChannel::Init(Napi::Env env) {
  return Define(env, {
                         InstanceMethod<&CmEventChannel::Ref>("ref"),
                         InstanceMethod<&CmEventChannel::Unref>("unref"),
                     });
}

// new CmEventChannel(onEvents(batch))
CmEventChannel::CmEventChannel(const Napi::CallbackInfo& info) : Base(info), Parent("CM ids") {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) ThrowArgType(env, "onEvents", "a function");
  Create(
      env, "rdma_create_event_channel", [] { return rdma_create_event_channel(); }, ENODEV);
  Rollback undo([this] {
    rdma_destroy_event_channel(raw());
    Adopt(nullptr);
  });
  watch_.Start(env, raw()->fd, [this] {
    if (open()) Drain();
  });
  undo.Commit();
  onEvents_ = Napi::Persistent(info[0].As<Napi::Function>());
}

void CmEventChannel::Dispose(rdma_event_channel* ch) {
  watch_.Stop();
  Reap(Env(), "rdma_destroy_event_channel", [ch] {
    rdma_destroy_event_channel(ch);
    return 0;
  });
  onEvents_.Reset();
}

void CmEventChannel::Register(rdma_cm_id* id, Napi::Object obj) { ids_[id] = Napi::Weak(obj); }
void CmEventChannel::Unregister(rdma_cm_id* id) { ids_.erase(id); }

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
  Napi::Env env = Env();
  Napi::Array batch = Napi::Array::New(env);
  uint32_t n = 0;
  rdma_cm_event* ev = nullptr;
  while (open() && rdma_get_cm_event(raw(), &ev) == 0) {
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
    } else if (id->ps == RDMA_PS_UDP) {
      // A multicast event's private_data is the join's context pointer, not bytes from the wire.
      const bool mc = ev->event == RDMA_CM_EVENT_MULTICAST_JOIN || ev->event == RDMA_CM_EVENT_MULTICAST_ERROR;
      if (!mc) {
        pd = ev->param.ud.private_data;
        pdLen = ev->param.ud.private_data_len;
      }
      // The peer the CM resolved: the partner's QP (ESTABLISHED after a SIDR REP) or the group.
      if (ev->event == RDMA_CM_EVENT_ESTABLISHED || ev->event == RDMA_CM_EVENT_MULTICAST_JOIN) {
        Napi::Object ud = Napi::Object::New(env);
        ud.Set("qpNum", Napi::Number::New(env, ev->param.ud.qp_num));
        ud.Set("qkey", Napi::Number::New(env, ev->param.ud.qkey));
        ud.Set("ahAttr", AhAttrToJs(env, ev->param.ud.ah_attr));
        o.Set("ud", ud);
      }
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
        if (id->ps != RDMA_PS_UDP) {
          o.Set("responderResources", Napi::Number::New(env, ev->param.conn.responder_resources));
          o.Set("initiatorDepth", Napi::Number::New(env, ev->param.conn.initiator_depth));
        }
      } else {
        // Nobody listens any more: refuse and forget the request (its id read before the ack frees the
        // event).
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
  watch_.Ref();
  return info.Env().Undefined();
}

Napi::Value CmEventChannel::Unref(const Napi::CallbackInfo& info) {
  watch_.Unref();
  return info.Env().Undefined();
}

Napi::Value SyncCmDevices(const Napi::CallbackInfo& info) {
  int n = 0;
  ibv_context** list = rdma_get_devices(&n);
  if (list != nullptr) rdma_free_devices(list);
  return Napi::Number::New(info.Env(), n);
}

}  // namespace rdma
