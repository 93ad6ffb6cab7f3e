// Device enumeration: ibv_get_device_list without opening anything.
#pragma once
#include <napi.h>

namespace rdma {
Napi::Value GetDeviceList(const Napi::CallbackInfo& info);
}
