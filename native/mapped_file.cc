#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

namespace rdma {

namespace {

struct Mapping {
  void* addr;
  size_t length;
};

}  // namespace

// Returns { buffer, sync, device }: `sync` when the mapping is MAP_SYNC (a DAX file: stores reach the
// media without msync, once flushed from the CPU caches), `device` for a character device (device DAX,
// whose mappings are synchronous by nature). A regular file is created or grown to `length` unless
// `existing` is true, when it must already be that large (as a device must: a mapping past the end of
// a file faults on access). The Buffer unmaps when it is collected; the descriptor is closed at once.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int64_t length = ArgInt(info, 1, "length", 1, int64_t(1) << 40);
  bool existing = info.Length() > 2 && info[2].ToBoolean().Value();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | (existing ? 0 : O_CREAT), 0600);
  if (fd < 0) ThrowSys(env, errno, "open " + path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    ThrowSys(env, e, "fstat " + path);
  }
  bool device = S_ISCHR(st.st_mode);
  if (!device && !S_ISREG(st.st_mode)) {
    close(fd);
    Throw(env, "ERR_INVALID_ARG_VALUE", path + " is neither a regular file nor a character device");
  }
  if (!device && existing && st.st_size < length) {
    close(fd);
    Throw(env, "ERR_OUT_OF_RANGE",
          path + " holds " + std::to_string(st.st_size) + " bytes, not the " + std::to_string(length) +
              " needed");
  }
  if (!device && st.st_size < length && ftruncate(fd, length) != 0) {
    int e = errno;
    close(fd);
    ThrowSys(env, e, "ftruncate " + path);
  }
  bool sync = true;
  void* addr = mmap(nullptr, size_t(length), PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
  if (addr == MAP_FAILED && (errno == EOPNOTSUPP || errno == EINVAL)) {
    // Not a DAX mapping (page cache): still shared, but durable only through msync.
    sync = device;
    addr = mmap(nullptr, size_t(length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED) ThrowSys(env, e, "mmap " + path);
  auto* m = new Mapping{addr, size_t(length)};
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(
      env, static_cast<uint8_t*>(addr), size_t(length),
      [](Napi::Env, uint8_t*, Mapping* m) {
        munmap(m->addr, m->length);
        delete m;
      },
      m);
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", buffer);
  out.Set("sync", Napi::Boolean::New(env, sync));
  out.Set("device", Napi::Boolean::New(env, device));
  return out;
}

namespace {

// Writes the CPU cache lines holding [from, to) back to memory and orders them before later stores: on
// a DAX mapping the stores are then in the persistence domain of a platform with ADR (as libpmem's
// pmem_persist does), and no page cache stands between (msync has nothing to write; device DAX refuses it).
// False where this build knows no cache-line write-back instruction: the caller then msyncs.
bool WriteBackCacheLines(uintptr_t from, uintptr_t to) {
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
  constexpr uintptr_t kLine = 64;
  for (uintptr_t p = from / kLine * kLine; p < to; p += kLine) {
#if defined(__aarch64__)
    asm volatile("dc civac, %0" : : "r"(p) : "memory");
#else
    asm volatile("clflush %0" : "+m"(*reinterpret_cast<volatile char*>(p)));
#endif
  }
#if defined(__aarch64__)
  asm volatile("dsb sy" ::: "memory");
#else
  asm volatile("sfence" ::: "memory");
#endif
  return true;
#else
  (void)from;
  (void)to;
  return false;
#endif
}

}  // namespace

// syncMapped(buffer, offset, length, dax): makes the range of a mapped Buffer durable: with `dax` (a
// mapping mapFile() reported `sync`) by writing its CPU cache lines back, else by msync(MS_SYNC) of its pages
// (also on a DAX mapping where no write-back instruction is known: a file on a DAX filesystem takes it,
// device DAX refuses it with EINVAL, a system error rather than a silent no-op).
Napi::Value SyncMapped(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) ThrowArgType(env, "buffer", "a Buffer from mapFile()");
  auto buffer = info[0].As<Napi::Buffer<uint8_t>>();
  int64_t offset = ArgInt(info, 1, "offset", 0, int64_t(buffer.Length()));
  int64_t length = ArgInt(info, 2, "length", 0, int64_t(buffer.Length()) - offset);
  bool dax = info.Length() > 3 && info[3].ToBoolean().Value();
  uintptr_t start = reinterpret_cast<uintptr_t>(buffer.Data()) + uintptr_t(offset);
  if (dax && WriteBackCacheLines(start, start + uintptr_t(length))) return env.Undefined();
  uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t from = start / page * page;
  if (length > 0 &&
      msync(reinterpret_cast<void*>(from), size_t(start + uintptr_t(length) - from), MS_SYNC) != 0)
    ThrowSys(env, errno, "msync");
  return env.Undefined();
}

}  // namespace rdma
