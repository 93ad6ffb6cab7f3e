// crc32c(view, start, end, crc): CRC-32C (Castagnoli) of `view[start, end)` continuing from `crc`, the
// checksum of every partner-visible block and log record (docs/protocol.md). SSE 4.2's crc32 instruction
// where the CPU has it (8 bytes per instruction), else a slicing-by-8 table.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace rdma {

// The same value whichever way the CPU computes it; `crc` is a previous result (0 to begin).
uint32_t Crc32c(uint32_t crc, const uint8_t* p, size_t n);

Napi::Value Crc32cJs(const Napi::CallbackInfo& info);

}  // namespace rdma
