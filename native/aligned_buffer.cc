#include "aligned_buffer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "errors.h"

namespace rdma {

Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n = ArgInt(info, 0, "length", 1, int64_t(1) << 30);
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  size_t alloc = (size_t(n) + page - 1) / page * page;
  void* p = nullptr;
  if (posix_memalign(&p, page, alloc) != 0) ThrowSys(env, ENOMEM, "posix_memalign");
  std::memset(p, 0, alloc);
  // The Buffer owns the allocation and frees it when it is collected.
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), size_t(n),
                                    [](Napi::Env, uint8_t* d) { std::free(d); });
}

}  // namespace rdma
