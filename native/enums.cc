#include "enums.h"

#include <infiniband/verbs.h>

#include "capabilities.h"
#include "cm_id.h"

namespace rdma {

#define E(prefix, name) \
  { prefix##name, #name }
#define TABLE(var, ...)                                  \
  static const EnumEntry var##Entries[] = {__VA_ARGS__}; \
  const EnumTable var = {var##Entries, sizeof var##Entries / sizeof var##Entries[0]};

TABLE(kWcStatus, E(IBV_WC_, SUCCESS), E(IBV_WC_, LOC_LEN_ERR), E(IBV_WC_, LOC_QP_OP_ERR),
      E(IBV_WC_, LOC_EEC_OP_ERR), E(IBV_WC_, LOC_PROT_ERR), E(IBV_WC_, WR_FLUSH_ERR), E(IBV_WC_, MW_BIND_ERR),
      E(IBV_WC_, BAD_RESP_ERR), E(IBV_WC_, LOC_ACCESS_ERR), E(IBV_WC_, REM_INV_REQ_ERR),
      E(IBV_WC_, REM_ACCESS_ERR), E(IBV_WC_, REM_OP_ERR), E(IBV_WC_, RETRY_EXC_ERR),
      E(IBV_WC_, RNR_RETRY_EXC_ERR), E(IBV_WC_, LOC_RDD_VIOL_ERR), E(IBV_WC_, REM_INV_RD_REQ_ERR),
      E(IBV_WC_, REM_ABORT_ERR), E(IBV_WC_, INV_EECN_ERR), E(IBV_WC_, INV_EEC_STATE_ERR),
      E(IBV_WC_, FATAL_ERR), E(IBV_WC_, RESP_TIMEOUT_ERR), E(IBV_WC_, GENERAL_ERR))

TABLE(kWcOpcode, E(IBV_WC_, SEND), E(IBV_WC_, RDMA_WRITE), E(IBV_WC_, RDMA_READ),
      {IBV_WC_COMP_SWAP, "COMP_SWAP"}, E(IBV_WC_, FETCH_ADD), E(IBV_WC_, BIND_MW), E(IBV_WC_, LOCAL_INV),
      {kWcFlush, "FLUSH"}, E(IBV_WC_, ATOMIC_WRITE), E(IBV_WC_, RECV), E(IBV_WC_, RECV_RDMA_WITH_IMM))

// The send opcodes a work request may carry (others, TSO and the tag-matching ones, are refused);
// ATOMIC_WRITE and FLUSH only through the extended send API (qp.postBatch()).
TABLE(kWrOpcode, E(IBV_WR_, RDMA_WRITE), E(IBV_WR_, RDMA_WRITE_WITH_IMM), E(IBV_WR_, SEND),
      E(IBV_WR_, SEND_WITH_IMM), E(IBV_WR_, RDMA_READ), E(IBV_WR_, ATOMIC_CMP_AND_SWP),
      E(IBV_WR_, ATOMIC_FETCH_AND_ADD), E(IBV_WR_, LOCAL_INV), E(IBV_WR_, BIND_MW), E(IBV_WR_, SEND_WITH_INV),
      E(IBV_WR_, ATOMIC_WRITE), {kWrFlush, "FLUSH"})

// The operations an extended QP is created for (ibv_qp_init_attr_ex.send_ops_flags), named as the opcodes.
TABLE(kSendOps, {IBV_QP_EX_WITH_RDMA_WRITE, "RDMA_WRITE"},
      {IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM, "RDMA_WRITE_WITH_IMM"}, {IBV_QP_EX_WITH_SEND, "SEND"},
      {IBV_QP_EX_WITH_SEND_WITH_IMM, "SEND_WITH_IMM"}, {IBV_QP_EX_WITH_RDMA_READ, "RDMA_READ"},
      {IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP, "ATOMIC_CMP_AND_SWP"},
      {IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD, "ATOMIC_FETCH_AND_ADD"}, {IBV_QP_EX_WITH_LOCAL_INV, "LOCAL_INV"},
      {IBV_QP_EX_WITH_BIND_MW, "BIND_MW"}, {IBV_QP_EX_WITH_SEND_WITH_INV, "SEND_WITH_INV"},
      {IBV_QP_EX_WITH_ATOMIC_WRITE, "ATOMIC_WRITE"}, {int(kQpExWithFlush), "FLUSH"})

TABLE(kQpState, E(IBV_QPS_, RESET), E(IBV_QPS_, INIT), E(IBV_QPS_, RTR), E(IBV_QPS_, RTS), E(IBV_QPS_, SQD),
      E(IBV_QPS_, SQE), E(IBV_QPS_, ERR))

TABLE(kPortState, E(IBV_PORT_, NOP), E(IBV_PORT_, DOWN), E(IBV_PORT_, INIT), E(IBV_PORT_, ARMED),
      E(IBV_PORT_, ACTIVE), E(IBV_PORT_, ACTIVE_DEFER))

TABLE(kAsyncEvent, E(IBV_EVENT_, CQ_ERR), E(IBV_EVENT_, QP_FATAL), E(IBV_EVENT_, QP_REQ_ERR),
      E(IBV_EVENT_, QP_ACCESS_ERR), E(IBV_EVENT_, COMM_EST), E(IBV_EVENT_, SQ_DRAINED),
      E(IBV_EVENT_, PATH_MIG), E(IBV_EVENT_, PATH_MIG_ERR), E(IBV_EVENT_, DEVICE_FATAL),
      E(IBV_EVENT_, PORT_ACTIVE), E(IBV_EVENT_, PORT_ERR), E(IBV_EVENT_, LID_CHANGE),
      E(IBV_EVENT_, PKEY_CHANGE), E(IBV_EVENT_, SM_CHANGE), E(IBV_EVENT_, SRQ_ERR),
      E(IBV_EVENT_, SRQ_LIMIT_REACHED), E(IBV_EVENT_, QP_LAST_WQE_REACHED), E(IBV_EVENT_, CLIENT_REREGISTER),
      E(IBV_EVENT_, GID_CHANGE), E(IBV_EVENT_, WQ_FATAL))

TABLE(kAtomicCap, E(IBV_ATOMIC_, NONE), E(IBV_ATOMIC_, HCA), E(IBV_ATOMIC_, GLOB))

TABLE(kLinkLayer, {IBV_LINK_LAYER_UNSPECIFIED, "Unspecified"}, {IBV_LINK_LAYER_INFINIBAND, "InfiniBand"},
      {IBV_LINK_LAYER_ETHERNET, "Ethernet"})

TABLE(kGidType, {IBV_GID_TYPE_IB, "IB"}, {IBV_GID_TYPE_ROCE_V1, "RoCEv1"}, {IBV_GID_TYPE_ROCE_V2, "RoCEv2"})

TABLE(kNodeType, E(IBV_NODE_, CA), E(IBV_NODE_, SWITCH), E(IBV_NODE_, ROUTER), E(IBV_NODE_, RNIC),
      E(IBV_NODE_, USNIC), E(IBV_NODE_, USNIC_UDP), E(IBV_NODE_, UNSPECIFIED))

TABLE(kTransport, E(IBV_TRANSPORT_, IB), E(IBV_TRANSPORT_, IWARP), E(IBV_TRANSPORT_, USNIC),
      E(IBV_TRANSPORT_, USNIC_UDP), E(IBV_TRANSPORT_, UNSPECIFIED))

// What a memory region may be registered with.
TABLE(kAccess, E(IBV_ACCESS_, LOCAL_WRITE), E(IBV_ACCESS_, REMOTE_WRITE), E(IBV_ACCESS_, REMOTE_READ),
      E(IBV_ACCESS_, REMOTE_ATOMIC), E(IBV_ACCESS_, MW_BIND), E(IBV_ACCESS_, ZERO_BASED),
      {kAccessFlushGlobal, "FLUSH_GLOBAL"}, {kAccessFlushPersistent, "FLUSH_PERSISTENT"})

TABLE(kWcFlags, E(IBV_WC_, GRH), E(IBV_WC_, WITH_IMM), E(IBV_WC_, IP_CSUM_OK), E(IBV_WC_, WITH_INV))

TABLE(kSendFlags, E(IBV_SEND_, FENCE), E(IBV_SEND_, SIGNALED), E(IBV_SEND_, SOLICITED), E(IBV_SEND_, INLINE))

const char* NameOf(const EnumTable& t, int value) {
  for (size_t i = 0; i < t.size; i++)
    if (t.entries[i].value == value) return t.entries[i].name;
  return "UNKNOWN";
}

int ValueOf(const EnumTable& t, const std::string& name) {
  for (size_t i = 0; i < t.size; i++)
    if (name == t.entries[i].name) return t.entries[i].value;
  return -1;
}

bool Has(const EnumTable& t, int value) {
  for (size_t i = 0; i < t.size; i++)
    if (t.entries[i].value == value) return true;
  return false;
}

int AllFlags(const EnumTable& t) {
  int all = 0;
  for (size_t i = 0; i < t.size; i++) all |= t.entries[i].value;
  return all;
}

Napi::Object ConstantsToJs(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  auto put = [&](const char* key, const EnumTable& t) {
    Napi::Object o = Napi::Object::New(env);
    for (size_t i = 0; i < t.size; i++) o.Set(t.entries[i].name, Napi::Number::New(env, t.entries[i].value));
    o.Freeze();
    out.Set(key, o);
  };
  put("access", kAccess);
  put("sendFlags", kSendFlags);
  put("wrOpcode", kWrOpcode);
  put("sendOps", kSendOps);
  put("wcOpcode", kWcOpcode);
  put("wcStatus", kWcStatus);
  put("wcFlags", kWcFlags);
  put("qpState", kQpState);
  put("portState", kPortState);
  put("asyncEvent", kAsyncEvent);
  Napi::Object pd = Napi::Object::New(env);
  pd.Set("connect", Napi::Number::New(env, double(kMaxConnectPd)));
  pd.Set("accept", Napi::Number::New(env, double(kMaxAcceptPd)));
  pd.Set("reject", Napi::Number::New(env, double(kMaxRejectPd)));
  pd.Set("udConnect", Napi::Number::New(env, double(kMaxUdConnectPd)));
  pd.Set("udAnswer", Napi::Number::New(env, double(kMaxUdAnswerPd)));
  pd.Freeze();
  out.Set("privateData", pd);
  out.Freeze();
  return out;
}

}  // namespace rdma
