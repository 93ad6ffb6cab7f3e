#include "context.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "capabilities.h"
#include "cq.h"
#include "enums.h"
#include "errors.h"
#include "names.h"
#include "reaper.h"
#include "srq.h"

namespace rdma {

Napi::Function Context::Init(Napi::Env env) {
  return Define(env, {
                         InstanceAccessor<&Context::Name>("name"),
                         InstanceMethod<&Context::QueryDevice>("queryDevice"),
                         InstanceMethod<&Context::QueryPort>("queryPort"),
                         InstanceMethod<&Context::QueryGidTable>("queryGidTable"),
                         InstanceMethod<&Context::WatchEvents>("watchEvents"),
                     });
}

// new Context(name) — or, from native code only, new Context(External<ibv_context>) for librdmacm's
Context::Context(const Napi::CallbackInfo& info) : Base(info), Parent("children") {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsExternal()) {  // only native code can make an External
    ibv_context* ctx = info[0].As<Napi::External<ibv_context>>().Data();
    Adopt(ctx);
    owned_ = false;
    name_ = ibv_get_device_name(ctx->device);
    return;
  }
  name_ = ArgString(info, 0, "name");
  int n = 0;
  errno = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr) ThrowSys(env, errno ? errno : ENODEV, "ibv_get_device_list");
  std::unique_ptr<ibv_device*, void (*)(ibv_device**)> freeList(list, ibv_free_device_list);  // on every path
  ibv_device* dev = nullptr;
  for (int i = 0; i < n; i++)
    if (name_ == ibv_get_device_name(list[i])) dev = list[i];
  if (dev == nullptr) {
    Napi::Error e = SysError(env, ENODEV, "ibv_open_device");
    e.Set("message", Napi::String::New(env, "no RDMA device named \"" + name_ + "\" (ENODEV)"));
    throw e;
  }
  Create(
      env, "ibv_open_device", [dev] { return ibv_open_device(dev); }, ENODEV);
}

void Context::Dispose(ibv_context* ctx) {
  watch_.Stop();
  onEvents_.Reset();
  if (owned_) Reap(Env(), "ibv_close_device", [ctx] { return ibv_close_device(ctx); });
}

Napi::Object Context::Wrap(Napi::Env env, ibv_context* ctx) {
  return Data(env).context.New({Napi::External<ibv_context>::New(env, ctx)});
}

Napi::Value Context::Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }

Napi::Value Context::QueryDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_device_attr_ex ax{};
  int rc = ibv_query_device_ex(handle(env), nullptr, &ax);
  if (rc) ThrowSys(env, rc, "ibv_query_device_ex");
  const ibv_device_attr& a = ax.orig_attr;
  Napi::Object o = Napi::Object::New(env);
  o.Set("fwVer", a.fw_ver);
  o.Set("nodeGuid", GuidString(a.node_guid));
  o.Set("sysImageGuid", GuidString(a.sys_image_guid));
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
  o.Set("atomicCap", NameOf(kAtomicCap, a.atomic_cap));
  o.Set("maxMw", a.max_mw);
  o.Set("maxAh", a.max_ah);
  o.Set("maxSrq", a.max_srq);
  o.Set("maxSrqWr", a.max_srq_wr);
  o.Set("maxSrqSge", a.max_srq_sge);
  o.Set("maxPkeys", a.max_pkeys);
  o.Set("physPortCnt", a.phys_port_cnt);
  // Beyond the base verbs: what decides which extended operations are offered.
  o.Set("deviceCapFlagsEx", Napi::BigInt::New(env, uint64_t(ax.device_cap_flags_ex)));
  o.Set("completionTimestampMask", Napi::BigInt::New(env, uint64_t(ax.completion_timestamp_mask)));
  o.Set("hcaCoreClockKhz", Napi::Number::New(env, double(ax.hca_core_clock)));
  Napi::Object caps = Napi::Object::New(env);
  caps.Set("atomicWrite", Napi::Boolean::New(env, ax.device_cap_flags_ex & kCapAtomicWrite));
  caps.Set("flushGlobal", Napi::Boolean::New(env, ax.device_cap_flags_ex & kCapFlushGlobal));
  caps.Set("flushPersistent", Napi::Boolean::New(env, ax.device_cap_flags_ex & kCapFlushPersistent));
  caps.Set("completionTimestamps", Napi::Boolean::New(env, ax.completion_timestamp_mask != 0));
#ifdef RDMA_CCM_HAVE_WR_FLUSH
  caps.Set("flushInThisBuild", Napi::Boolean::New(env, true));
#else
  caps.Set("flushInThisBuild", Napi::Boolean::New(env, false));
#endif
  o.Set("capabilities", caps);
  return o;
}

Napi::Value Context::QueryPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t port = ArgIntOr(info, 0, "port", 1, 255, 1);
  ibv_port_attr a{};
  int rc = ibv_query_port(handle(env), static_cast<uint8_t>(port), &a);
  if (rc) ThrowSys(env, rc, "ibv_query_port");
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", NameOf(kPortState, a.state));
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
  o.Set("linkLayer", NameOf(kLinkLayer, a.link_layer));
  return o;
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
    o.Set("type", NameOf(kGidType, int(e.gid_type)));
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

// watchEvents(onEvents(batch: { type, portNum?, qpNum?, cq?, srq? }[])): start delivering async events.
// Only for contexts this library opened: librdmacm owns (and may close) the fd of its own contexts.
Napi::Value Context::WatchEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ibv_context* ctx = handle(env);
  if (!owned_)
    Throw(env, "ERR_UNSUPPORTED",
          "async events are delivered on contexts opened with Context.open(), not on librdmacm's");
  if (!info[0].IsFunction()) ThrowArgType(env, "onEvents", "a function");
  if (watch_.active()) return env.Undefined();
  // Watching events never keeps the process alive.
  watch_.Start(env, ctx->async_fd, [this] {
    if (open()) DrainEvents();
  });
  onEvents_ = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

void Context::DrainEvents() {
  Napi::Env env = Env();
  Napi::Array batch = Napi::Array::New(env);
  ibv_async_event ev;
  // Each event is copied and acknowledged at once: destroying a QP/CQ/SRQ waits for its events' acks.
  while (ibv_get_async_event(raw(), &ev) == 0) {
    // Acknowledged when this iteration ends, on every path (a JS exception included).
    struct Ack {
      ibv_async_event* ev;
      ~Ack() { ibv_ack_async_event(ev); }
    } ack{&ev};
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", NameOf(kAsyncEvent, ev.event_type));
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
      case IBV_EVENT_PORT_ACTIVE:
      case IBV_EVENT_PORT_ERR:
      case IBV_EVENT_LID_CHANGE:
      case IBV_EVENT_PKEY_CHANGE:
      case IBV_EVENT_SM_CHANGE:
      case IBV_EVENT_CLIENT_REREGISTER:
      case IBV_EVENT_GID_CHANGE:
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

}  // namespace rdma
