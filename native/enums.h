// The verbs enumerations the binding reports or accepts, each written once as a table of value and
// name (the name without its IBV_ prefix, as JS sees it). Native code names values through them, and
// the addon exports them (`constants`), so that the TypeScript layer takes its numbers from here.
#pragma once
#include <napi.h>

#include <string>

namespace rdma {

struct EnumEntry {
  int value;
  const char* name;
};

struct EnumTable {
  const EnumEntry* entries;
  size_t size;
};

extern const EnumTable kWcStatus, kWcOpcode, kWrOpcode, kQpState, kPortState, kAsyncEvent, kAtomicCap,
    kLinkLayer, kGidType, kNodeType, kTransport, kAccess, kSendFlags, kWcFlags, kSendOps;

// The name of `value`, or "UNKNOWN".
const char* NameOf(const EnumTable& t, int value);
// The value named `name`, or -1.
int ValueOf(const EnumTable& t, const std::string& name);
bool Has(const EnumTable& t, int value);
// Every flag of a flag table, or'ed.
int AllFlags(const EnumTable& t);

// { access: { LOCAL_WRITE: 1, ... }, sendFlags, wrOpcode, wcOpcode, wcStatus, wcFlags, qpState, ... }: name →
// value; and privateData: { connect, accept, reject }, the CM's limits in bytes.
Napi::Object ConstantsToJs(Napi::Env env);

}  // namespace rdma
