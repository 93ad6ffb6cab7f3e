// mapFile(path, length): shared memory mapped from a file or a device-DAX character device, for regions
// that must outlive the process (a node's NVRAM region of its partners' mirrored logs).
#pragma once
#include <napi.h>

namespace rdma {

Napi::Value MapFile(const Napi::CallbackInfo& info);
Napi::Value SyncMapped(const Napi::CallbackInfo& info);

}  // namespace rdma
