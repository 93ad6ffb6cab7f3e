// What a device can do beyond the base verbs (ibv_query_device_ex), and the one check that refuses the
// rest before anything is made: ERR_NOT_SUPPORTED, naming what the device, the provider or this build
// of the addon lacks.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include <string>

namespace rdma {

// device_cap_flags_ex bits of the kernel's uapi (IB_UVERBS_DEVICE_*, kernel 6.2 on); rdma-core's headers
// do not name them.
constexpr uint64_t kCapFlushGlobal = 1ULL << 38;
constexpr uint64_t kCapFlushPersistent = 1ULL << 39;
constexpr uint64_t kCapAtomicWrite = 1ULL << 40;

// The memory placement extensions' values, named here for builds against rdma-core before 45, whose
// headers lack them (the values are the kernel's uapi).
#ifdef RDMA_CCM_HAVE_WR_FLUSH
constexpr int kWrFlush = IBV_WR_FLUSH;
constexpr int kWcFlush = IBV_WC_FLUSH;
constexpr uint64_t kQpExWithFlush = IBV_QP_EX_WITH_FLUSH;
constexpr int kAccessFlushGlobal = IBV_ACCESS_FLUSH_GLOBAL;
constexpr int kAccessFlushPersistent = IBV_ACCESS_FLUSH_PERSISTENT;
constexpr uint8_t kFlushGlobal = IBV_FLUSH_GLOBAL, kFlushPersistent = IBV_FLUSH_PERSISTENT;
constexpr uint8_t kFlushRange = IBV_FLUSH_RANGE, kFlushRegion = IBV_FLUSH_MR;
#else
constexpr int kWrFlush = 14;
constexpr int kWcFlush = 8;
constexpr uint64_t kQpExWithFlush = 1 << 11;
constexpr int kAccessFlushGlobal = 1 << 8;
constexpr int kAccessFlushPersistent = 1 << 9;
constexpr uint8_t kFlushGlobal = 1, kFlushPersistent = 2;
constexpr uint8_t kFlushRange = 0, kFlushRegion = 1;
#endif

// rxe's vendor id (its devices may have any name).
constexpr uint32_t kRxeVendorId = 0xffffff;

struct DeviceCaps {
  uint32_t vendorId = 0;
  uint64_t flagsEx = 0;        // device_cap_flags_ex
  uint64_t timestampMask = 0;  // completion_timestamp_mask: 0 when completions carry no timestamp
  uint64_t coreClockKhz = 0;   // hca_core_clock
};

DeviceCaps QueryCaps(Napi::Env env, ibv_context* ctx);

[[noreturn]] void ThrowNotSupported(Napi::Env env, const std::string& what);

// Refuses memory access flags the device cannot honour (FLUSH_GLOBAL, FLUSH_PERSISTENT).
void RequireAccess(Napi::Env env, ibv_context* ctx, int access);

// Refuses extended send operations (IBV_QP_EX_WITH_*) the device (`caps`) or this build cannot post.
void RequireSendOps(Napi::Env env, const DeviceCaps& caps, uint64_t sendOps);

}  // namespace rdma
