// Scatter/gather lists and receive work requests read from JS, shared by queue pairs and shared
// receive queues: every entry is checked against its region and protection domain before posting.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include <string>
#include <vector>

namespace rdma {

class ProtectionDomain;

constexpr uint32_t kMaxWrsPerPost = 4096;
constexpr uint32_t kMaxSge = 64;

// Reads wr.sgl = [{ mr, offset, length }] into `out`; returns the total length.
uint64_t ReadSgl(Napi::Env env, Napi::Object wr, std::vector<ibv_sge>& out, ProtectionDomain* pd);

// A chain of receive work requests with their scatter/gather entries, ready for ibv_post_(srq_)recv.
struct RecvChain {
  std::vector<ibv_recv_wr> wrs;
  std::vector<std::vector<ibv_sge>> sges;
};

// Builds a chain from [{ wrId, sgl }].
void BuildRecv(Napi::Env env, Napi::Value arg, ProtectionDomain* pd, RecvChain& chain);

// The fast path's work request descriptor: kDescStride 32-bit words per request in a Uint32Array, the
// same layout for sends and receives (a receive reads the id and its local memory only). Numbers
// instead of named properties: one typed array is read per post, however many requests it holds.
enum DescWord : uint32_t {
  kDescId = 0,      // wr_id, low 32 bits
  kDescIdHigh,      // wr_id, high 32 bits
  kDescOpcode,      // IBV_WR_* (sends)
  kDescFlags,       // IBV_SEND_* (sends)
  kDescMr,          // the local region's id (MemoryRegion's `id`), or kDescNoMr for no local data
  kDescOffset,      // byte offset in the region, low 32 bits
  kDescOffsetHigh,  // byte offset, high 32 bits
  kDescLength,      // bytes
  kDescRemote,      // RDMA: the partner's address, low 32 bits
  kDescRemoteHigh,  // RDMA: the partner's address, high 32 bits
  kDescRkey,        // RDMA: the partner's rkey
  kDescImm,         // *_WITH_IMM: immediate data (host order); SEND_WITH_INV: the rkey to invalidate
  kDescStride
};
constexpr uint32_t kDescNoMr = 0xffffffff;

// The first `count` descriptors of desc: a Uint32Array holding at least count * kDescStride words
// (ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE otherwise).
const uint32_t* ReadDescriptors(Napi::Env env, napi_value desc, napi_value count, uint32_t* n);

// The scatter/gather entry of descriptor `d` (index i, for errors) into `sge`, checked against its
// region and protection domain; false for a descriptor without local data.
bool DescSge(Napi::Env env, const uint32_t* d, uint32_t i, ProtectionDomain* pd, ibv_sge* sge);

// The error naming descriptor i.
[[noreturn]] void ThrowDesc(Napi::Env env, const char* code, uint32_t i, const std::string& what);

// Receives from descriptors into `chain` (one entry each at most).
void BuildRecvFast(Napi::Env env, const uint32_t* desc, uint32_t count, ProtectionDomain* pd,
                   std::vector<ibv_recv_wr>& wrs, std::vector<ibv_sge>& sges);

// Throws the error of a failed post, with `posted`: how many requests of the chain were accepted.
template <typename Wr>
[[noreturn]] void ThrowPostError(Napi::Env env, int err, const char* call, const Wr* first, const Wr* bad);

}  // namespace rdma
