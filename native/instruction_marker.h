// instructionMarker(start): executes the long NOP that bench/instructions' TCG plugin windows its
// instruction counts by (a NOP on every x86 CPU; nothing elsewhere).
#pragma once
#include <napi.h>

namespace rdma {

Napi::Value InstructionMarker(const Napi::CallbackInfo& info);

}  // namespace rdma
