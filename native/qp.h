// QueuePair: ibv_qp (RC, UC, UD), child of a ProtectionDomain that uses one or two CQs. Either created
// here with ibv_create_qp, or created by librdmacm on a CM id and wrapped (then destroyed through it).
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>
#include <rdma/rdma_cma.h>

#include <memory>
#include <vector>

namespace rdma {

class ProtectionDomain;
class CompletionQueue;
class SharedReceiveQueue;

// A chain of send work requests with their scatter/gather entries, ready for ibv_post_send.
struct SendChain {
  std::vector<ibv_send_wr> wrs;
  std::vector<std::vector<ibv_sge>> sges;
};

class QueuePair : public Napi::ObjectWrap<QueuePair> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit QueuePair(const Napi::CallbackInfo& info);
  ~QueuePair() override;

  // Wraps a QP that rdma_create_qp made on `id`; `owner` (the CM id's JS object) is kept alive.
  static Napi::Object WrapCm(Napi::Env env, rdma_cm_id* id, Napi::Object pd, Napi::Object sendCq, Napi::Object recvCq, Napi::Object owner);
  static QueuePair* From(Napi::Env env, Napi::Value v, const char* name);
  bool open() const { return qp_ != nullptr; }
  // Made by librdmacm on a CM id (rdma_create_qp) rather than by ibv_create_qp.
  bool cmOwned() const { return cmId_ != nullptr; }
  // Takes the QP out of use and queues its destroy with the reaper (also used by the CM id before it is
  // destroyed itself); a destroy the device refuses is a process warning.
  void Release();
  // Detaches a CM id's QP on the JS thread (what rdma_destroy_qp does; the CQs are ours) and queues its destroy.
  static void ReapCmQp(Napi::Env env, rdma_cm_id* id);
  ibv_qp* handle(Napi::Env env) const;  // throws ERR_CLOSED

 private:
  void Attach(Napi::Env env, Napi::Object pd, Napi::Object sendCq, Napi::Object recvCq);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value Modify(const Napi::CallbackInfo& info);
  Napi::Value Query(const Napi::CallbackInfo& info);
  Napi::Value PostSend(const Napi::CallbackInfo& info);
  Napi::Value PostRecv(const Napi::CallbackInfo& info);
  Napi::Value PrepareSend(const Napi::CallbackInfo& info);
  Napi::Value PostPrepared(const Napi::CallbackInfo& info);
  Napi::Value ReleasePrepared(const Napi::CallbackInfo& info);
  // forRepost: the chain is prepared to be posted many times (no binds or invalidations).
  void BuildSend(Napi::Env env, Napi::Value arg, SendChain& chain, bool forRepost);
  void Post(Napi::Env env, SendChain& chain);
  SendChain& Prepared(Napi::Env env, const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  ibv_qp* qp_ = nullptr;
  rdma_cm_id* cmId_ = nullptr;
  ibv_qp_type type_ = IBV_QPT_RC;
  uint32_t maxInline_ = 0;
  ProtectionDomain* pd_ = nullptr;
  CompletionQueue* sendCq_ = nullptr;
  CompletionQueue* recvCq_ = nullptr;
  SharedReceiveQueue* srq_ = nullptr;
  Napi::ObjectReference pdRef_, sendCqRef_, recvCqRef_, srqRef_, ownerRef_;
  std::vector<std::unique_ptr<SendChain>> prepared_;
};

}  // namespace rdma
