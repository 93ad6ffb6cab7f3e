// sdNotify(socketPath, message): systemd's service notification (sd_notify's protocol) — one datagram on
// an AF_UNIX socket. Node.js has no unix datagram sockets, and libsystemd is not a dependency worth
// taking for one sendto(); the protocol is systemd's documented one.
#pragma once
#include <napi.h>

namespace rdma {

Napi::Value SdNotify(const Napi::CallbackInfo& info);

}  // namespace rdma
