#include "device.h"

#include <infiniband/verbs.h>

#include <cerrno>
#include <cstdio>

#include "errors.h"

namespace rdma {

static const char* NodeTypeName(ibv_node_type t) {
  switch (t) {
    case IBV_NODE_CA: return "CA";
    case IBV_NODE_SWITCH: return "SWITCH";
    case IBV_NODE_ROUTER: return "ROUTER";
    case IBV_NODE_RNIC: return "RNIC";
    case IBV_NODE_USNIC: return "USNIC";
    case IBV_NODE_USNIC_UDP: return "USNIC_UDP";
    case IBV_NODE_UNSPECIFIED: return "UNSPECIFIED";
    default: return "UNKNOWN";
  }
}

static const char* TransportName(ibv_transport_type t) {
  switch (t) {
    case IBV_TRANSPORT_IB: return "IB";
    case IBV_TRANSPORT_IWARP: return "IWARP";
    case IBV_TRANSPORT_USNIC: return "USNIC";
    case IBV_TRANSPORT_USNIC_UDP: return "USNIC_UDP";
    case IBV_TRANSPORT_UNSPECIFIED: return "UNSPECIFIED";
    default: return "UNKNOWN";
  }
}

Napi::Value GetDeviceList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = 0;
  errno = 0;
  ibv_device** list = ibv_get_device_list(&n);
  Napi::Array out = Napi::Array::New(env);
  if (list == nullptr) {
    // No RDMA support in this kernel is an empty list, like `ibv_devices`; anything else is an error.
    if (errno == ENOSYS || errno == 0) return out;
    ThrowSys(env, errno, "ibv_get_device_list");
  }
  for (int i = 0; i < n; i++) {
    ibv_device* d = list[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", ibv_get_device_name(d));
    char guid[20];
    uint64_t g = be64toh(ibv_get_device_guid(d));
    std::snprintf(guid, sizeof guid, "%04x:%04x:%04x:%04x", unsigned(g >> 48) & 0xffff, unsigned(g >> 32) & 0xffff,
                  unsigned(g >> 16) & 0xffff, unsigned(g) & 0xffff);
    o.Set("guid", guid);
    o.Set("nodeType", NodeTypeName(d->node_type));
    o.Set("transport", TransportName(d->transport_type));
    out.Set(uint32_t(i), o);
  }
  ibv_free_device_list(list);
  return out;
}

}  // namespace rdma
