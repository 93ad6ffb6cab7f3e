#include "capabilities.h"

#include "errors.h"

namespace rdma {

DeviceCaps QueryCaps(Napi::Env env, ibv_context* ctx) {
  ibv_device_attr_ex ax{};
  int rc = ibv_query_device_ex(ctx, nullptr, &ax);
  if (rc) ThrowSys(env, rc, "ibv_query_device_ex");
  DeviceCaps c;
  c.vendorId = ax.orig_attr.vendor_id;
  c.flagsEx = ax.device_cap_flags_ex;
  c.timestampMask = ax.completion_timestamp_mask;
  c.coreClockKhz = ax.hca_core_clock;
  return c;
}

void ThrowNotSupported(Napi::Env env, const std::string& what) { Throw(env, "ERR_NOT_SUPPORTED", what); }

void RequireAccess(Napi::Env env, ibv_context* ctx, int access) {
  if (!(access & (kAccessFlushGlobal | kAccessFlushPersistent))) return;
  const uint64_t flags = QueryCaps(env, ctx).flagsEx;
  if ((access & kAccessFlushGlobal) && !(flags & kCapFlushGlobal))
    ThrowNotSupported(
        env, "access FLUSH_GLOBAL: the device cannot FLUSH to global visibility (FLUSH_GLOBAL capability)");
  if ((access & kAccessFlushPersistent) && !(flags & kCapFlushPersistent))
    ThrowNotSupported(
        env, "access FLUSH_PERSISTENT: the device cannot FLUSH to persistence (FLUSH_PERSISTENT capability)");
}

void RequireSendOps(Napi::Env env, const DeviceCaps& caps, uint64_t sendOps) {
  if (!(sendOps & (kQpExWithFlush | IBV_QP_EX_WITH_ATOMIC_WRITE))) return;
#ifndef RDMA_CCM_HAVE_WR_FLUSH
  if (sendOps & kQpExWithFlush)
    ThrowNotSupported(env,
                      "FLUSH: this addon was built against an rdma-core without ibv_wr_flush (rdma-core 45 "
                      "or later has it)");
#endif
  const uint64_t flags = caps.flagsEx;
  if ((sendOps & kQpExWithFlush) && !(flags & (kCapFlushGlobal | kCapFlushPersistent)))
    ThrowNotSupported(env,
                      "FLUSH: the device has neither the FLUSH_GLOBAL nor the FLUSH_PERSISTENT capability");
  if ((sendOps & IBV_QP_EX_WITH_ATOMIC_WRITE) && !(flags & kCapAtomicWrite))
    ThrowNotSupported(env, "ATOMIC_WRITE: the device lacks the ATOMIC_WRITE capability");
}

}  // namespace rdma
