#include "crc32c.h"

#include <cstdlib>
#include <cstring>

#include "errors.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace rdma {
namespace {

constexpr uint32_t kPoly = 0x82f63b78;  // Castagnoli, reflected

struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = c & 1 ? kPoly ^ (c >> 1) : c >> 1;
      t[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
      for (int k = 1; k < 8; k++) t[k][n] = t[0][t[k - 1][n] & 0xff] ^ (t[k - 1][n] >> 8);
  }
};

const Tables kTables;

// Slicing-by-8: eight table lookups per 8 bytes (reads little-endian words, as on every target Linux runs
// RDMA on but big-endian POWER and s390x, which take the byte loop).
uint32_t Portable(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= c;
    c = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^ t[4][(v >> 24) & 0xff] ^
        t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^ t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
  }
#endif
  for (; n; n--) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// Eight crc32 instructions (each reading its 8 bytes) and three of loop per 64 bytes.
__attribute__((target("sse4.2"))) uint32_t Sse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  for (; n >= 64; p += 64, n -= 64) {
    for (int k = 0; k < 64; k += 8) {
      uint64_t v;
      std::memcpy(&v, p + k, 8);
      c = _mm_crc32_u64(c, v);
    }
  }
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = uint32_t(c);
  for (; n; n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

// RDMA_CCM_CRC32C=table takes the table on any CPU (its test compares both ways).
const bool kHasSse42 = [] {
  const char* forced = std::getenv("RDMA_CCM_CRC32C");
  if (forced && std::strcmp(forced, "table") == 0) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#endif

}  // namespace

uint32_t Crc32c(uint32_t crc, const uint8_t* p, size_t n) {
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (kHasSse42) return ~Sse42(c, p, n);
#endif
  return ~Portable(c, p, n);
}

Napi::Value Crc32cJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // One engine call reads the view (a Buffer is a Uint8Array); its data pointer includes its offset.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array)
    ThrowArgType(env, "view", "a Uint8Array or Buffer");
  const int64_t start = ArgInt(info, 1, "start", 0, int64_t(length));
  const int64_t end = ArgInt(info, 2, "end", start, int64_t(length));
  const int64_t crc = ArgInt(info, 3, "crc", 0, 0xffffffff);
  const uint8_t* p = static_cast<const uint8_t*>(data) + start;
  return Napi::Number::New(env, Crc32c(uint32_t(crc), p, size_t(end - start)));
}

}  // namespace rdma
