#include "pd.h"

#include "context.h"
#include "reaper.h"

namespace rdma {

Napi::Function ProtectionDomain::Init(Napi::Env env) { return Define(env, {}); }

// new ProtectionDomain(context)
ProtectionDomain::ProtectionDomain(const Napi::CallbackInfo& info) : Base(info), Parent("children") {
  Napi::Env env = info.Env();
  Context* ctx = Context::From(env, info[0], "context");
  Create(env, "ibv_alloc_pd", [&] { return ibv_alloc_pd(ctx->handle(env)); });
  context_.Hold(ctx, info[0]);
}

void ProtectionDomain::Dispose(ibv_pd* pd) {
  Reap(Env(), "ibv_dealloc_pd", [pd] { return ibv_dealloc_pd(pd); });
  context_.Drop();
}

}  // namespace rdma
