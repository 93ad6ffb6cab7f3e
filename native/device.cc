#include "device.h"

#include <infiniband/verbs.h>

#include <cerrno>

#include "enums.h"
#include "errors.h"
#include "names.h"

namespace rdma {

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
    o.Set("guid", GuidString(ibv_get_device_guid(d)));
    o.Set("nodeType", NameOf(kNodeType, d->node_type));
    o.Set("transport", NameOf(kTransport, d->transport_type));
    out.Set(uint32_t(i), o);
  }
  ibv_free_device_list(list);
  return out;
}

}  // namespace rdma
