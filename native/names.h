// Text and number forms of verbs values that more than one object reports.
#pragma once
#include <infiniband/verbs.h>

#include <string>

namespace rdma {

// A GID in the full eight-group form (comparable as text), as queryGidTable() and qp.query() report it.
std::string GidString(const ibv_gid& g);
// A GUID (network order) as ibv_devinfo prints it: four groups of four hex digits.
std::string GuidString(__be64 guid);
// An MTU in bytes (0 for an invalid value).
inline int MtuBytes(ibv_mtu m) { return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128 << m : 0; }

}  // namespace rdma
