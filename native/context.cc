#include "reaper.h"
#include "context.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "cq.h"
#include "errors.h"
#include "srq.h"

namespace rdma {

Napi::Function Context::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Context",
                     {
                         InstanceAccessor<&Context::Name>("name"),
                         InstanceAccessor<&Context::Closed>("closed"),
                         InstanceMethod<&Context::QueryDevice>("queryDevice"),
                         InstanceMethod<&Context::QueryPort>("queryPort"),
                         InstanceMethod<&Context::QueryGidTable>("queryGidTable"),
                         InstanceMethod<&Context::WatchEvents>("watchEvents"),
                         InstanceMethod<&Context::Close>("close"),
                     });
  Data(env).context = Napi::Persistent(f);
  return f;
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsExternal()) {  // only native code can make an External
    ctx_ = info[0].As<Napi::External<ibv_context>>().Data();
    owned_ = false;
    name_ = ibv_get_device_name(ctx_->device);
    return;
  }
  name_ = ArgString(info, 0, "name");
  int n = 0;
  errno = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr) ThrowSys(env, errno ? errno : ENODEV, "ibv_get_device_list");
  ibv_device* dev = nullptr;
  for (int i = 0; i < n; i++)
    if (name_ == ibv_get_device_name(list[i])) dev = list[i];
  if (dev == nullptr) {
    ibv_free_device_list(list);
    Napi::Error e = SysError(env, ENODEV, "ibv_open_device");
    e.Set("message", Napi::String::New(env, "no RDMA device named \"" + name_ + "\" (ENODEV)"));
    throw e;
  }
  errno = 0;
  ctx_ = ibv_open_device(dev);
  int err = errno;
  ibv_free_device_list(list);
  if (ctx_ == nullptr) ThrowSys(env, err ? err : ENODEV, "ibv_open_device");
}

Context::~Context() { Release(); }

void Context::Release() {
  StopEvents();
  if (ctx_ != nullptr) {
    if (owned_) {
      ibv_context* ctx = ctx_;
      Reap(Env(), "ibv_close_device", [ctx] { return ibv_close_device(ctx); });
    }
    ctx_ = nullptr;
  }
}

Napi::Object Context::Wrap(Napi::Env env, ibv_context* ctx) {
  return Data(env).context.New({Napi::External<ibv_context>::New(env, ctx)});
}

ibv_context* Context::handle(Napi::Env env) const {
  if (ctx_ == nullptr) ThrowClosed(env, "Context");
  return ctx_;
}

Napi::Value Context::Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
Napi::Value Context::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ctx_ == nullptr); }

static std::string Hex64(uint64_t be) {
  uint64_t g = be64toh(be);
  char buf[20];
  std::snprintf(buf, sizeof buf, "%04x:%04x:%04x:%04x", unsigned(g >> 48) & 0xffff, unsigned(g >> 32) & 0xffff,
                unsigned(g >> 16) & 0xffff, unsigned(g) & 0xffff);
  return buf;
}

static const char* AtomicCapName(ibv_atomic_cap c) {
  switch (c) {
    case IBV_ATOMIC_NONE: return "NONE";
    case IBV_ATOMIC_HCA: return "HCA";
    case IBV_ATOMIC_GLOB: return "GLOB";
    default: return "UNKNOWN";
  }
}

Napi::Value Context::QueryDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_device_attr_ex ax{};
  int rc = ibv_query_device_ex(handle(env), nullptr, &ax);
  if (rc) ThrowSys(env, rc, "ibv_query_device_ex");
  const ibv_device_attr& a = ax.orig_attr;
  Napi::Object o = Napi::Object::New(env);
  o.Set("fwVer", a.fw_ver);
  o.Set("nodeGuid", Hex64(a.node_guid));
  o.Set("sysImageGuid", Hex64(a.sys_image_guid));
  o.Set("maxMrSize", Napi::BigInt::New(env, static_cast<uint64_t>(a.max_mr_size)));
  o.Set("pageSizeCap", Napi::BigInt::New(env, static_cast<uint64_t>(a.page_size_cap)));
  o.Set("vendorId", a.vendor_id);
  o.Set("vendorPartId", a.vendor_part_id);
  o.Set("hwVer", a.hw_ver);
  o.Set("maxQp", a.max_qp);
  o.Set("maxQpWr", a.max_qp_wr);
  o.Set("deviceCapFlags", a.device_cap_flags);
  o.Set("maxSge", a.max_sge);
  o.Set("maxCq", a.max_cq);
  o.Set("maxCqe", a.max_cqe);
  o.Set("maxMr", a.max_mr);
  o.Set("maxPd", a.max_pd);
  o.Set("maxQpRdAtom", a.max_qp_rd_atom);
  o.Set("maxQpInitRdAtom", a.max_qp_init_rd_atom);
  o.Set("atomicCap", AtomicCapName(a.atomic_cap));
  o.Set("maxMw", a.max_mw);
  o.Set("maxAh", a.max_ah);
  o.Set("maxSrq", a.max_srq);
  o.Set("maxSrqWr", a.max_srq_wr);
  o.Set("maxSrqSge", a.max_srq_sge);
  o.Set("maxPkeys", a.max_pkeys);
  o.Set("physPortCnt", a.phys_port_cnt);
  return o;
}

static const char* PortStateName(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_NOP: return "NOP";
    case IBV_PORT_DOWN: return "DOWN";
    case IBV_PORT_INIT: return "INIT";
    case IBV_PORT_ARMED: return "ARMED";
    case IBV_PORT_ACTIVE: return "ACTIVE";
    case IBV_PORT_ACTIVE_DEFER: return "ACTIVE_DEFER";
    default: return "UNKNOWN";
  }
}

static const char* LinkLayerName(uint8_t l) {
  switch (l) {
    case IBV_LINK_LAYER_INFINIBAND: return "InfiniBand";
    case IBV_LINK_LAYER_ETHERNET: return "Ethernet";
    default: return "Unspecified";
  }
}

static int MtuBytes(ibv_mtu m) { return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128 << m : 0; }

Napi::Value Context::QueryPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t port = ArgU32Or(info, 0, "port", 1);
  if (port < 1 || port > 255) ThrowArgRange(env, "port", "must be >= 1 and <= 255");
  ibv_port_attr a{};
  int rc = ibv_query_port(handle(env), static_cast<uint8_t>(port), &a);
  if (rc) ThrowSys(env, rc, "ibv_query_port");
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", PortStateName(a.state));
  o.Set("maxMtu", MtuBytes(a.max_mtu));
  o.Set("activeMtu", MtuBytes(a.active_mtu));
  o.Set("gidTblLen", a.gid_tbl_len);
  o.Set("portCapFlags", a.port_cap_flags);
  o.Set("maxMsgSz", a.max_msg_sz);
  o.Set("pkeyTblLen", a.pkey_tbl_len);
  o.Set("lid", a.lid);
  o.Set("smLid", a.sm_lid);
  o.Set("lmc", a.lmc);
  o.Set("activeWidth", a.active_width);
  o.Set("activeSpeed", a.active_speed);
  o.Set("physState", a.phys_state);
  o.Set("linkLayer", LinkLayerName(a.link_layer));
  return o;
}

std::string GidString(const ibv_gid& g) {
  char buf[INET6_ADDRSTRLEN];
  // The full 8-group form keeps GIDs comparable as text; `ip -6` style compression is avoided on purpose.
  std::snprintf(buf, sizeof buf, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x", g.raw[0],
                g.raw[1], g.raw[2], g.raw[3], g.raw[4], g.raw[5], g.raw[6], g.raw[7], g.raw[8], g.raw[9], g.raw[10],
                g.raw[11], g.raw[12], g.raw[13], g.raw[14], g.raw[15]);
  return buf;
}

static const char* GidTypeName(uint32_t t) {
  switch (t) {
    case IBV_GID_TYPE_IB: return "IB";
    case IBV_GID_TYPE_ROCE_V1: return "RoCEv1";
    case IBV_GID_TYPE_ROCE_V2: return "RoCEv2";
    default: return "UNKNOWN";
  }
}

Napi::Value Context::QueryGidTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_context* ctx = handle(env);
  ibv_device_attr da{};
  int rc = ibv_query_device(ctx, &da);
  if (rc) ThrowSys(env, rc, "ibv_query_device");
  size_t max = 0;
  for (uint8_t p = 1; p <= da.phys_port_cnt; p++) {
    ibv_port_attr pa{};
    rc = ibv_query_port(ctx, p, &pa);
    if (rc) ThrowSys(env, rc, "ibv_query_port");
    max += pa.gid_tbl_len;
  }
  std::vector<ibv_gid_entry> entries(max ? max : 1);
  ssize_t n = ibv_query_gid_table(ctx, entries.data(), entries.size(), 0);
  if (n < 0) ThrowSys(env, static_cast<int>(-n), "ibv_query_gid_table");
  Napi::Array out = Napi::Array::New(env);
  for (ssize_t i = 0; i < n; i++) {
    const ibv_gid_entry& e = entries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("port", e.port_num);
    o.Set("index", e.gid_index);
    o.Set("gid", GidString(e.gid));
    o.Set("type", GidTypeName(e.gid_type));
    char ifname[IF_NAMESIZE] = {0};
    if (e.ndev_ifindex != 0 && if_indextoname(e.ndev_ifindex, ifname) != nullptr)
      o.Set("netdev", ifname);
    else
      o.Set("netdev", env.Null());
    o.Set("ifindex", e.ndev_ifindex);
    out.Set(uint32_t(i), o);
  }
  return out;
}

static const char* AsyncEventName(ibv_event_type t) {
  switch (t) {
    case IBV_EVENT_CQ_ERR: return "CQ_ERR";
    case IBV_EVENT_QP_FATAL: return "QP_FATAL";
    case IBV_EVENT_QP_REQ_ERR: return "QP_REQ_ERR";
    case IBV_EVENT_QP_ACCESS_ERR: return "QP_ACCESS_ERR";
    case IBV_EVENT_COMM_EST: return "COMM_EST";
    case IBV_EVENT_SQ_DRAINED: return "SQ_DRAINED";
    case IBV_EVENT_PATH_MIG: return "PATH_MIG";
    case IBV_EVENT_PATH_MIG_ERR: return "PATH_MIG_ERR";
    case IBV_EVENT_DEVICE_FATAL: return "DEVICE_FATAL";
    case IBV_EVENT_PORT_ACTIVE: return "PORT_ACTIVE";
    case IBV_EVENT_PORT_ERR: return "PORT_ERR";
    case IBV_EVENT_LID_CHANGE: return "LID_CHANGE";
    case IBV_EVENT_PKEY_CHANGE: return "PKEY_CHANGE";
    case IBV_EVENT_SM_CHANGE: return "SM_CHANGE";
    case IBV_EVENT_SRQ_ERR: return "SRQ_ERR";
    case IBV_EVENT_SRQ_LIMIT_REACHED: return "SRQ_LIMIT_REACHED";
    case IBV_EVENT_QP_LAST_WQE_REACHED: return "QP_LAST_WQE_REACHED";
    case IBV_EVENT_CLIENT_REREGISTER: return "CLIENT_REREGISTER";
    case IBV_EVENT_GID_CHANGE: return "GID_CHANGE";
    case IBV_EVENT_WQ_FATAL: return "WQ_FATAL";
    default: return "UNKNOWN";
  }
}

// watchEvents(onEvents(batch: { type, portNum?, qpNum?, cq?, srq? }[])): start delivering async events.
// Only for contexts this library opened: librdmacm owns (and may close) the fd of its own contexts.
Napi::Value Context::WatchEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_context* ctx = handle(env);
  if (!owned_) Throw(env, Kind::Error, "ERR_UNSUPPORTED", "async events are delivered on contexts opened with Context.open(), not on librdmacm's");
  if (!info[0].IsFunction()) ThrowArgType(env, "onEvents", "a function");
  if (poll_ != nullptr) return env.Undefined();
  int flags = fcntl(ctx->async_fd, F_GETFL);
  if (flags < 0 || fcntl(ctx->async_fd, F_SETFL, flags | O_NONBLOCK) < 0) ThrowSys(env, errno, "fcntl");
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  int err = uv_poll_init(loop, poll_, ctx->async_fd);
  if (err != 0) {
    delete poll_;
    poll_ = nullptr;
    ThrowSys(env, -err, "uv_poll_init");
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, OnAsyncEvent);
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));  // watching events never keeps the process alive
  onEvents_ = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

void Context::OnAsyncEvent(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Context*>(handle->data);
  if (self == nullptr || self->ctx_ == nullptr) return;
  Napi::HandleScope scope(self->Env());
  try {
    self->DrainEvents();
  } catch (const Napi::Error& e) {
    napi_fatal_exception(self->Env(), e.Value());
  }
}

void Context::DrainEvents() {
  Napi::Env env = Env();
  Napi::Array batch = Napi::Array::New(env);
  ibv_async_event ev;
  // Each event is copied and acknowledged at once: destroying a QP/CQ/SRQ waits for its events' acks.
  while (ibv_get_async_event(ctx_, &ev) == 0) {
    // Acknowledged when this iteration ends, on every path (a JS exception included).
    struct Ack {
      ibv_async_event* ev;
      ~Ack() { ibv_ack_async_event(ev); }
    } ack{&ev};
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", AsyncEventName(ev.event_type));
    // A wrapper being collected has no JS object any more: the event then names no object.
    auto put = [&o](const char* key, Napi::Object v) {
      if (!v.IsEmpty()) o.Set(key, v);
    };
    switch (ev.event_type) {
      case IBV_EVENT_CQ_ERR: {
        auto* cq = static_cast<CompletionQueue*>(ev.element.cq->cq_context);
        if (cq != nullptr) put("cq", cq->Value());
        break;
      }
      case IBV_EVENT_SRQ_ERR:
      case IBV_EVENT_SRQ_LIMIT_REACHED: {
        auto* srq = static_cast<SharedReceiveQueue*>(ev.element.srq->srq_context);
        if (srq != nullptr) put("srq", srq->Value());
        break;
      }
      case IBV_EVENT_PORT_ACTIVE: case IBV_EVENT_PORT_ERR: case IBV_EVENT_LID_CHANGE: case IBV_EVENT_PKEY_CHANGE:
      case IBV_EVENT_SM_CHANGE: case IBV_EVENT_CLIENT_REREGISTER: case IBV_EVENT_GID_CHANGE:
        o.Set("portNum", ev.element.port_num);
        break;
      case IBV_EVENT_DEVICE_FATAL:
        break;
      default:
        if (ev.event_type != IBV_EVENT_WQ_FATAL) o.Set("qpNum", ev.element.qp->qp_num);
    }
    batch.Set(batch.Length(), o);
  }
  if (batch.Length() > 0) onEvents_.MakeCallback(Value(), {batch});
}

void Context::StopEvents() {
  if (poll_ == nullptr) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
  onEvents_.Reset();
}

Napi::Value Context::Close(const Napi::CallbackInfo& info) {
  if (ctx_ != nullptr && children() > 0)
    Throw(info.Env(), Kind::Error, "ERR_BUSY", "Context has " + std::to_string(children()) + " open children (close them first)");
  Release();
  return info.Env().Undefined();
}

}  // namespace rdma
