// Scatter/gather lists and receive work requests read from JS, shared by queue pairs and shared
// receive queues: every entry is checked against its region and protection domain before posting.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

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

// Throws the error of a failed post, with `posted`: how many requests of the chain were accepted.
template <typename Wr>
[[noreturn]] void ThrowPostError(Napi::Env env, int err, const char* call, const Wr* first, const Wr* bad);

}  // namespace rdma
