// alignedBuffer(length): a zeroed Buffer whose memory starts on a page boundary, for I/O with O_DIRECT
// (the disk witness), which needs buffers aligned to the device's logical block size.
#pragma once
#include <napi.h>

namespace rdma {

Napi::Value AlignedBuffer(const Napi::CallbackInfo& info);

}  // namespace rdma
