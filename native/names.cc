#include "names.h"

#include <endian.h>

#include <cstdio>

namespace rdma {

std::string GidString(const ibv_gid& g) {
  char buf[40];
  // The full 8-group form keeps GIDs comparable as text; `ip -6` style compression is avoided on purpose.
  std::snprintf(buf, sizeof buf, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
                g.raw[0], g.raw[1], g.raw[2], g.raw[3], g.raw[4], g.raw[5], g.raw[6], g.raw[7], g.raw[8],
                g.raw[9], g.raw[10], g.raw[11], g.raw[12], g.raw[13], g.raw[14], g.raw[15]);
  return buf;
}

std::string GuidString(__be64 guid) {
  uint64_t g = be64toh(guid);
  char buf[20];
  std::snprintf(buf, sizeof buf, "%04x:%04x:%04x:%04x", unsigned(g >> 48) & 0xffff,
                unsigned(g >> 32) & 0xffff, unsigned(g >> 16) & 0xffff, unsigned(g) & 0xffff);
  return buf;
}

}  // namespace rdma
