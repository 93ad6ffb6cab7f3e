#include "instruction_marker.h"

namespace rdma {

Napi::Value InstructionMarker(const Napi::CallbackInfo& info) {
#if defined(__x86_64__)
  // nopl 0x52434d31(%rax) opens a window, nopl 0x52434d30(%rax) closes it (bench/instructions/counter.c).
  if (info[0].ToBoolean())
    asm volatile(".byte 0x0f, 0x1f, 0x80, 0x31, 0x4d, 0x43, 0x52" ::: "memory");
  else
    asm volatile(".byte 0x0f, 0x1f, 0x80, 0x30, 0x4d, 0x43, 0x52" ::: "memory");
#endif
  return info.Env().Undefined();
}

}  // namespace rdma
