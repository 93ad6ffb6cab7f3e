// AddressHandle: ibv_ah, the path to a remote port that UD sends carry; child of a ProtectionDomain.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

namespace rdma {

class ProtectionDomain;

// Reads { dlid, sl, srcPathBits, portNum, grh: { dgid, sgidIndex, hopLimit, flowLabel, trafficClass } };
// dgid is a GID string or an IP address (its RoCE v2 GID).
void ReadAhAttr(Napi::Env env, Napi::Value v, ibv_ah_attr* out);

class AddressHandle : public Napi::ObjectWrap<AddressHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit AddressHandle(const Napi::CallbackInfo& info);
  ~AddressHandle() override;

  ibv_ah* handle(Napi::Env env) const;
  ProtectionDomain* pd() const { return pd_; }
  static AddressHandle* From(Napi::Env env, Napi::Value v, const char* name);

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Release();

  ibv_ah* ah_ = nullptr;
  ProtectionDomain* pd_ = nullptr;
  Napi::ObjectReference pdRef_;
};

}  // namespace rdma
