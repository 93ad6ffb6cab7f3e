#include "cm_id.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "addon_data.h"
#include "cm_channel.h"
#include "context.h"
#include "cq.h"
#include "errors.h"
#include "pd.h"
#include "props.h"
#include "qp.h"
#include "reaper.h"

namespace rdma {

// An address string (IPv4, IPv6, or a GID in IPv6 notation; an IPv4-mapped GID becomes IPv4) plus port.
static void ParseAddr(Napi::Env env, const std::string& s, uint32_t port, sockaddr_storage* out,
                      const char* name) {
  std::memset(out, 0, sizeof *out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(uint16_t(port));
    return;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      v4->sin_family = AF_INET;
      std::memcpy(&v4->sin_addr, a6.s6_addr + 12, 4);
      v4->sin_port = htons(uint16_t(port));
      return;
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = a6;
    v6->sin6_port = htons(uint16_t(port));
    return;
  }
  Throw(env, "ERR_INVALID_ADDRESS",
        std::string(name) + ": \"" + s + "\" is not an IPv4, IPv6 or GID address");
}

static Napi::Value AddrToJs(Napi::Env env, const sockaddr* sa) {
  if (sa == nullptr) return env.Null();
  char buf[INET6_ADDRSTRLEN] = {0};
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  } else {
    return env.Null();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("address", Napi::String::New(env, buf));
  o.Set("port", Napi::Number::New(env, port));
  return o;
}

static std::vector<uint8_t> PrivateData(Napi::Env env, Napi::Value v, size_t max, const char* what) {
  std::vector<uint8_t> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    ThrowArgType(env, "privateData", "a Uint8Array or Buffer");
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  if (a.ByteLength() > max)
    Throw(env, "ERR_CM_PRIVATE_DATA_TOO_LONG",
          std::string(what) + " private data of " + std::to_string(a.ByteLength()) + " bytes exceeds the " +
              std::to_string(max) + " the transport allows");
  out.assign(a.Data(), a.Data() + a.ByteLength());
  return out;
}

static rdma_conn_param ConnParam(Napi::Env env, Napi::Object o, const std::vector<uint8_t>& pd) {
  rdma_conn_param p{};
  p.private_data = pd.empty() ? nullptr : pd.data();
  p.private_data_len = uint8_t(pd.size());
  p.responder_resources = uint8_t(OptIntOr(env, o, "responderResources", 0, 255, 1));
  p.initiator_depth = uint8_t(OptIntOr(env, o, "initiatorDepth", 0, 255, 1));
  p.retry_count = uint8_t(OptIntOr(env, o, "retryCount", 0, 7, 7));
  p.rnr_retry_count = uint8_t(OptIntOr(env, o, "rnrRetryCount", 0, 7, 7));
  p.flow_control = 1;
  return p;
}

// A QP of the caller's own to connect on `id`: RC, made by ibv_create_qp (not by librdmacm on some
// id), open, and on the device this id resolved or was bound to.
static ibv_qp* OwnQp(Napi::Env env, rdma_cm_id* id, Napi::Value v) {
  QueuePair* q = QueuePair::From(env, v, "qp");
  if (q->cmOwned()) Throw(env, "ERR_CM_QP_OWNED", "this QP was made by the CM for another id");
  ibv_qp* qp = q->handle(env);
  if (qp->qp_type != IBV_QPT_RC)
    Throw(env, "ERR_CM_QP_TYPE", "only an RC QP can be connected through the CM");
  if (id->qp != nullptr) Throw(env, "ERR_CM_HAS_QP", "this CM id already has a QP");
  if (id->verbs == nullptr)
    Throw(env, "ERR_CM_NO_DEVICE", "the CM id is not bound to a device yet (resolve or bind first)");
  if (qp->context != id->verbs)
    Throw(env, "ERR_WRONG_CONTEXT",
          "the QP must come from the CM's device context (use contextFor(address))");
  return qp;
}

Napi::Function CmId::Init(Napi::Env env) {
  return Define(env, {
                         InstanceMethod<&CmId::BindAddr>("bindAddr"),
                         InstanceMethod<&CmId::ResolveAddr>("resolveAddr"),
                         InstanceMethod<&CmId::ResolveRoute>("resolveRoute"),
                         InstanceMethod<&CmId::Listen>("listen"),
                         InstanceMethod<&CmId::Connect>("connect"),
                         InstanceMethod<&CmId::Accept>("accept"),
                         InstanceMethod<&CmId::Reject>("reject"),
                         InstanceMethod<&CmId::Disconnect>("disconnect"),
                         InstanceMethod<&CmId::CreateQp>("createQp"),
                         InstanceMethod<&CmId::TransitionQp>("transitionQp"),
                         InstanceMethod<&CmId::Establish>("establish"),
                         InstanceMethod<&CmId::Context>("context"),
                         InstanceMethod<&CmId::Addresses>("addresses"),
                         InstanceMethod<&CmId::JoinMulticast>("joinMulticast"),
                         InstanceMethod<&CmId::LeaveMulticast>("leaveMulticast"),
                         StaticMethod<&CmId::CheckPrivateData>("checkPrivateData"),
                     });
}

// new CmId(channel, 'TCP' | 'UDP') — or, from native code, new CmId(channel, External<rdma_cm_id>) for an
// incoming request.
CmId::CmId(const Napi::CallbackInfo& info) : Base(info) {
  Napi::Env env = info.Env();
  CmEventChannel* channel = CmEventChannel::From(env, info[0], "channel");
  rdma_event_channel* ch = channel->handle(env);
  if (info.Length() > 1 && info[1].IsExternal()) {
    Adopt(info[1].As<Napi::External<rdma_cm_id>>().Data());
  } else {
    std::string space = info[1].IsUndefined() ? "TCP" : ArgString(info, 1, "portSpace");
    if (space != "TCP" && space != "UDP") ThrowArgRange(env, "portSpace", "must be 'TCP' or 'UDP'");
    rdma_cm_id* id = nullptr;
    if (rdma_create_id(ch, &id, nullptr, space == "UDP" ? RDMA_PS_UDP : RDMA_PS_TCP) != 0)
      ThrowSys(env, errno, "rdma_create_id");
    Adopt(id);
  }
  channel_.Hold(channel, info[0]);
  channel->Register(raw(), Value());
}

Napi::Object CmId::WrapIncoming(Napi::Env env, rdma_cm_id* id, Napi::Object channel) {
  return Data(env).cmId.New({channel, Napi::External<rdma_cm_id>::New(env, id)});
}

void CmId::Dispose(rdma_cm_id* id) {
  // The QP goes first: librdmacm requires it, and the QueuePair must not destroy it again.
  if (id->qp != nullptr && !qpRef_.IsEmpty()) {
    Napi::Object q = qpRef_.Value();
    if (!q.IsEmpty()) Napi::ObjectWrap<QueuePair>::Unwrap(q)->Release();
  }
  QueuePair::ReapCmQp(Env(), id);  // still a QP without its wrapper
  channel_->Unregister(id);
  Reap(Env(), "rdma_destroy_id", [id] { return rdma_destroy_id(id) == 0 ? 0 : errno; });
  channel_.Drop();
  qpRef_.Reset();
}

Napi::Value CmId::BindAddr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  sockaddr_storage sa;
  ParseAddr(env, ArgString(info, 0, "address"), uint32_t(ArgInt(info, 1, "port", 0, 65535)), &sa, "address");
  if (rdma_bind_addr(id, reinterpret_cast<sockaddr*>(&sa)) != 0) ThrowSys(env, errno, "rdma_bind_addr");
  return env.Undefined();
}

// resolveAddr(source | null, destination, port, timeoutMs): ADDR_RESOLVED or ADDR_ERROR follows.
Napi::Value CmId::ResolveAddr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  sockaddr_storage src, dst;
  bool hasSrc = info[0].IsString();
  if (hasSrc) ParseAddr(env, info[0].As<Napi::String>().Utf8Value(), 0, &src, "sourceAddress");
  ParseAddr(env, ArgString(info, 1, "address"), uint32_t(ArgInt(info, 2, "port", 1, 65535)), &dst, "address");
  int timeout = int(ArgInt(info, 3, "timeoutMs", 1, 3600000));
  if (rdma_resolve_addr(id, hasSrc ? reinterpret_cast<sockaddr*>(&src) : nullptr,
                        reinterpret_cast<sockaddr*>(&dst), timeout) != 0)
    ThrowSys(env, errno, "rdma_resolve_addr");
  return env.Undefined();
}

Napi::Value CmId::ResolveRoute(const Napi::CallbackInfo& info) {
  rdma_cm_id* id = handle(info.Env());
  if (rdma_resolve_route(id, int(ArgInt(info, 0, "timeoutMs", 1, 3600000))) != 0)
    ThrowSys(info.Env(), errno, "rdma_resolve_route");
  return info.Env().Undefined();
}

Napi::Value CmId::Listen(const Napi::CallbackInfo& info) {
  rdma_cm_id* id = handle(info.Env());
  if (rdma_listen(id, int(ArgInt(info, 0, "backlog", 1, 65535))) != 0)
    ThrowSys(info.Env(), errno, "rdma_listen");
  return info.Env().Undefined();
}

// Fills in the QP number for a connect or accept: the CM's own QP, or options.qp (the caller's).
static void ConnQp(Napi::Env env, rdma_cm_id* id, Napi::Object o, rdma_conn_param* p, const char* what) {
  Napi::Value v = o.Get("qp");
  if (v.IsUndefined()) {
    if (id->qp == nullptr)
      Throw(env, "ERR_CM_NO_QP", std::string("create the QP before calling ") + what + "()");
    return;
  }
  ibv_qp* qp = OwnQp(env, id, v);
  p->qp_num = qp->qp_num;
  p->srq = qp->srq != nullptr;
}

static bool IsUd(const rdma_cm_id* id) { return id->ps == RDMA_PS_UDP; }

// How much private data a step carries in this id's port space.
static size_t MaxPrivateData(bool ud, const std::string& kind) {
  if (kind == "connect") return ud ? kMaxUdConnectPd : kMaxConnectPd;
  if (kind == "accept") return ud ? kMaxUdAnswerPd : kMaxAcceptPd;
  if (kind == "reject") return ud ? kMaxUdAnswerPd : kMaxRejectPd;
  return 0;
}

// The connection parameters of connect() and accept(), read from { privateData, responderResources,
// initiatorDepth, retryCount, rnrRetryCount, qp? }; `pd` holds the private data for the call. A UD id
// answers with its own QP's number (librdmacm reads it from id->qp) and the port space's QKey.
static rdma_conn_param ReadConnect(const Napi::CallbackInfo& info, rdma_cm_id* id, const char* what,
                                   std::vector<uint8_t>& pd) {
  Napi::Env env = info.Env();
  Napi::Object o = ArgObject(info, 0, "options");
  pd = PrivateData(env, o.Get("privateData"), MaxPrivateData(IsUd(id), what), what);
  rdma_conn_param p = ConnParam(env, o, pd);
  if (IsUd(id)) {
    if (id->qp == nullptr)
      Throw(env, "ERR_CM_NO_QP", std::string("create the QP before calling ") + what + "()");
    if (!o.Get("qp").IsUndefined())
      Throw(env, "ERR_CM_QP_TYPE", "a UD CM id answers with its own QP (createQp)");
    return p;
  }
  ConnQp(env, id, o, &p, what);
  return p;
}

// connect(options): with a QP of the caller's, CONNECT_RESPONSE follows instead of ESTABLISHED (see
// transitionQp and establish).
Napi::Value CmId::Connect(const Napi::CallbackInfo& info) {
  rdma_cm_id* id = handle(info.Env());
  std::vector<uint8_t> pd;
  rdma_conn_param p = ReadConnect(info, id, "connect", pd);
  if (rdma_connect(id, &p) != 0) ThrowSys(info.Env(), errno, "rdma_connect");
  return info.Env().Undefined();
}

Napi::Value CmId::Accept(const Napi::CallbackInfo& info) {
  rdma_cm_id* id = handle(info.Env());
  std::vector<uint8_t> pd;
  rdma_conn_param p = ReadConnect(info, id, "accept", pd);
  if (rdma_accept(id, &p) != 0) ThrowSys(info.Env(), errno, "rdma_accept");
  return info.Env().Undefined();
}

// CmId.checkPrivateData(data, 'connect' | 'accept' | 'reject', 'TCP' | 'UDP'): the check connect(),
// accept() and reject() make, for callers that refuse bad private data before they create anything.
Napi::Value CmId::CheckPrivateData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  const bool ud = info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "UDP";
  const size_t max = MaxPrivateData(ud, kind);
  if (max == 0) Throw(env, "ERR_INVALID_ARG_VALUE", "kind must be 'connect', 'accept' or 'reject'");
  PrivateData(env, info[0], max, kind.c_str());
  return env.Undefined();
}

Napi::Value CmId::Reject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  std::vector<uint8_t> pd = PrivateData(env, info[0], MaxPrivateData(IsUd(id), "reject"), "reject");
  if (rdma_reject(id, pd.empty() ? nullptr : pd.data(), uint8_t(pd.size())) != 0)
    ThrowSys(env, errno, "rdma_reject");
  return env.Undefined();
}

Napi::Value CmId::Disconnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  if (IsUd(id)) Throw(env, "ERR_CM_PORT_SPACE", "a UD CM id has no connection to disconnect; close it");
  if (rdma_disconnect(id) != 0) ThrowSys(env, errno, "rdma_disconnect");
  return env.Undefined();
}

// createQp(pd, sendCq, recvCq, { maxSendWr, maxRecvWr, maxSendSge, maxRecvSge, maxInlineData }) → QueuePair
Napi::Value CmId::CreateQp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  if (id->qp != nullptr) Throw(env, "ERR_CM_HAS_QP", "this CM id already has a QP");
  ProtectionDomain* pd = ProtectionDomain::From(env, info[0], "pd");
  CompletionQueue* scq = CompletionQueue::From(env, info[1], "sendCq");
  CompletionQueue* rcq = CompletionQueue::From(env, info[2], "recvCq");
  Napi::Object o = ArgObject(info, 3, "options");
  if (id->verbs == nullptr)
    Throw(env, "ERR_CM_NO_DEVICE", "the CM id is not bound to a device yet (resolve or bind first)");
  if (pd->handle(env)->context != id->verbs)
    Throw(env, "ERR_WRONG_CONTEXT",
          "the PD must come from the CM's device context (use contextFor(address))");
  ibv_qp_init_attr attr{};
  // librdmacm moves a UD QP to RTS itself, with the port space's QKey.
  attr.qp_type = IsUd(id) ? IBV_QPT_UD : IBV_QPT_RC;
  attr.send_cq = scq->handle(env);
  attr.recv_cq = rcq->handle(env);
  ReadQpCap(env, o, &attr.cap);
  if (rdma_create_qp(id, pd->handle(env), &attr) != 0) ThrowSys(env, errno, "rdma_create_qp");
  Napi::Object qp = QueuePair::WrapCm(env, id, info[0].As<Napi::Object>(), info[1].As<Napi::Object>(),
                                      info[2].As<Napi::Object>(), Value());
  qpRef_ = Napi::Weak(qp);
  return qp;
}

// joinMulticast(group, sendOnly): MULTICAST_JOIN (with the group's address vector, QPN and QKey) or
// MULTICAST_ERROR follows. The id must be bound (bindAddr or resolveAddr) and in the UDP port space;
// librdmacm attaches the id's QP to the group when it reads the join event.
Napi::Value CmId::JoinMulticast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  if (!IsUd(id)) Throw(env, "ERR_CM_PORT_SPACE", "multicast needs a CM id in the UDP port space");
  if (id->verbs == nullptr)
    Throw(env, "ERR_CM_NO_DEVICE", "the CM id is not bound to a device yet (bind or resolve first)");
  sockaddr_storage sa;
  ParseAddr(env, ArgString(info, 0, "group"), 0, &sa, "group");
  rdma_cm_join_mc_attr_ex attr{};
  attr.comp_mask = RDMA_CM_JOIN_MC_ATTR_ADDRESS | RDMA_CM_JOIN_MC_ATTR_JOIN_FLAGS;
  attr.join_flags =
      info[1].ToBoolean() ? RDMA_MC_JOIN_FLAG_SENDONLY_FULLMEMBER : RDMA_MC_JOIN_FLAG_FULLMEMBER;
  attr.addr = reinterpret_cast<sockaddr*>(&sa);
  if (rdma_join_multicast_ex(id, &attr, nullptr) != 0) ThrowSys(env, errno, "rdma_join_multicast_ex");
  return env.Undefined();
}

// leaveMulticast(group): detaches the id's QP and leaves at once (no event). librdmacm waits for the
// join's events to be acknowledged, which the channel does as it reads them.
Napi::Value CmId::LeaveMulticast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  if (!IsUd(id)) Throw(env, "ERR_CM_PORT_SPACE", "multicast needs a CM id in the UDP port space");
  sockaddr_storage sa;
  ParseAddr(env, ArgString(info, 0, "group"), 0, &sa, "group");
  if (rdma_leave_multicast(id, reinterpret_cast<sockaddr*>(&sa)) != 0)
    ThrowSys(env, errno, "rdma_leave_multicast");
  return env.Undefined();
}

// transitionQp(qp, 'INIT' | 'RTR' | 'RTS', { maxDestRdAtomic, maxRdAtomic, minRnrTimer }): moves a QP of the
// caller's to the next state with the attributes the CM computed for this connection (rdma_init_qp_attr),
// as librdmacm does for its own QPs; the overrides replace the CM's values where given.
Napi::Value CmId::TransitionQp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  ibv_qp* qp = OwnQp(env, id, info[0]);
  std::string target = ArgString(info, 1, "state");
  ibv_qp_state want;
  if (target == "INIT")
    want = IBV_QPS_INIT;
  else if (target == "RTR")
    want = IBV_QPS_RTR;
  else if (target == "RTS")
    want = IBV_QPS_RTS;
  else
    ThrowArgRange(env, "state", "must be INIT, RTR or RTS");
  ibv_qp_attr cur;
  ibv_qp_init_attr init;
  if (ibv_query_qp(qp, &cur, IBV_QP_STATE, &init) != 0) ThrowSys(env, errno, "ibv_query_qp");
  // INIT from RESET or INIT (refreshing port, P_Key and access), then each state from the one before.
  bool ok = want == IBV_QPS_INIT ? (cur.qp_state == IBV_QPS_RESET || cur.qp_state == IBV_QPS_INIT)
                                 : cur.qp_state == ibv_qp_state(want - 1);
  if (!ok) Throw(env, "ERR_QP_STATE", "the CM cannot move this QP to " + target + " from its current state");
  ibv_qp_attr a{};
  int mask = 0;
  a.qp_state = want;
  if (rdma_init_qp_attr(id, &a, &mask) != 0) ThrowSys(env, errno, "rdma_init_qp_attr");
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    Napi::Object o = ArgObject(info, 2, "overrides");
    auto set = [&](const char* key, uint8_t max, uint8_t* field, int bit) {
      int64_t n;
      if (!OptInt(env, o, key, 0, max, &n)) return;
      *field = uint8_t(n);
      mask |= bit;
    };
    if (want == IBV_QPS_RTR) {
      set("maxDestRdAtomic", 255, &a.max_dest_rd_atomic, IBV_QP_MAX_DEST_RD_ATOMIC);
      set("minRnrTimer", 31, &a.min_rnr_timer, IBV_QP_MIN_RNR_TIMER);
    }
    if (want == IBV_QPS_RTS) set("maxRdAtomic", 255, &a.max_rd_atomic, IBV_QP_MAX_QP_RD_ATOMIC);
  }
  int err = ibv_modify_qp(qp, &a, mask);
  if (err != 0) ThrowSys(env, err, "ibv_modify_qp");
  return env.Undefined();
}

// establish(): on the connecting side, once its own QP is in RTS after CONNECT_RESPONSE, completes the
// connection (the partner sees ESTABLISHED).
Napi::Value CmId::Establish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  if (id->qp != nullptr)
    Throw(env, "ERR_CM_HAS_QP", "a connection on the CM's own QP is established by the CM");
  if (rdma_establish(id) != 0) ThrowSys(env, errno, "rdma_establish");
  return env.Undefined();
}

// The device context librdmacm uses for this id (after bind or address resolution), as a verbs Context.
Napi::Value CmId::Context(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  if (id->verbs == nullptr) return env.Null();
  return Context::Wrap(env, id->verbs);
}

Napi::Value CmId::Addresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rdma_cm_id* id = handle(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("local", AddrToJs(env, rdma_get_local_addr(id)));
  o.Set("remote", AddrToJs(env, rdma_get_peer_addr(id)));
  o.Set("portNum", Napi::Number::New(env, id->port_num));
  o.Set("portSpace", Napi::String::New(env, IsUd(id) ? "UDP" : "TCP"));
  o.Set("device", id->verbs ? Napi::String::New(env, ibv_get_device_name(id->verbs->device)) : env.Null());
  return o;
}

}  // namespace rdma
