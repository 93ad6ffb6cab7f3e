// The memory under an ArrayBuffer, held independently of the ArrayBuffer object.
//
// Node-API cannot keep an ArrayBuffer's memory alive across a transfer (structuredClone or postMessage
// with a transfer list, ArrayBuffer.prototype.transfer): the memory moves to the new buffer and is freed
// with it, while the NIC may still write it. A region therefore holds the memory's V8 backing store
// itself (a shared owner), so memory registered with the device is never freed before the region is.
#pragma once
#include <napi.h>

#include <memory>

namespace v8 {
class BackingStore;
}

namespace rdma {

using BackingStore = std::shared_ptr<v8::BackingStore>;

// A shared owner of `ab`'s memory (which must not be detached).
BackingStore HoldBackingStore(Napi::ArrayBuffer ab);

// Keeps `store` alive for the rest of the process (for memory the device may still reach).
void LeakBackingStore(BackingStore store);

}  // namespace rdma
