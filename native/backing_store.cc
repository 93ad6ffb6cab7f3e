#include "backing_store.h"

#include <v8.h>

#include <cstring>

namespace rdma {

BackingStore HoldBackingStore(Napi::ArrayBuffer ab) {
  // A napi_value is a v8::Local<v8::Value> in Node's implementation of Node-API (its
  // V8LocalValueFromJsValue converts the same way).
  napi_value v = ab;
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(v), "napi_value and v8::Local have the same representation");
  std::memcpy(static_cast<void*>(&local), &v, sizeof(v));
  return local.As<v8::ArrayBuffer>()->GetBackingStore();
}

void LeakBackingStore(BackingStore store) { new BackingStore(std::move(store)); }

}  // namespace rdma
