// AddressHandle: ibv_ah, the path to a remote port that UD sends carry; child of a ProtectionDomain.
#pragma once
#include <infiniband/verbs.h>
#include <napi.h>

#include "wrapped.h"

namespace rdma {

class ProtectionDomain;

// Reads { dlid, sl, srcPathBits, portNum, grh: { dgid, sgidIndex, hopLimit, flowLabel, trafficClass } };
// dgid is a GID string or an IP address (its RoCE v2 GID).
void ReadAhAttr(Napi::Env env, Napi::Value v, ibv_ah_attr* out);
// The same shape back, for attributes the device or the CM computed (a QP's path, a CM event's UD peer).
Napi::Object AhAttrToJs(Napi::Env env, const ibv_ah_attr& a);

class AddressHandle : public Wrapped<AddressHandle, ibv_ah> {
  RDMA_WRAPPED(AddressHandle, ibv_ah, ah)
  ProtectionDomain* pd() const { return pd_.get(); }

 private:
  ParentRef<ProtectionDomain> pd_;
};

}  // namespace rdma
