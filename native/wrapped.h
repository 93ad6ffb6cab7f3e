// Wrapped<T, H>: what every native verbs and CM object shares, written once. T is the class, H the
// rdma-core object it owns. T declares, with RDMA_WRAPPED(T, H, slot), kName (its JS class name), kCtor
// (its constructor's slot in AddonData), its constructor from JS, a destructor (the finalizer of an
// object nobody closed) that calls Release(), and Dispose(H*), which T defines: it queues the device's
// destroy with the reaper and lets go of what T holds.
//
// - From(env, value, name): the type-checked unwrap of an argument (ERR_INVALID_ARG_TYPE naming it);
// - handle(env): the live object, or ERR_CLOSED;
// - `closed` and `close()` on the JS class: close() is idempotent, and a parent with live children
//   refuses it with ERR_BUSY;
// - Release(): takes the object out of use exactly once, on every path (close, finalizer, a parent
//   that closes its children).
#pragma once
#include <napi.h>

#include <cerrno>
#include <string>
#include <type_traits>
#include <vector>

#include "addon_data.h"
#include "errors.h"

namespace rdma {

// The signature of a JS method or accessor: `JsMethod Query, Modify;` declares member functions, which
// Init lists.
using JsMethod = Napi::Value(const Napi::CallbackInfo& info);

#define RDMA_WRAPPED(T, H, slot)                  \
 public:                                          \
  static constexpr const char* kName = #T;        \
  static constexpr auto kCtor = &AddonData::slot; \
  static Napi::Function Init(Napi::Env env);      \
  explicit T(const Napi::CallbackInfo& info);     \
  ~T() override { Release(); }                    \
  void Dispose(H* h);

template <class T, class H>
class Wrapped : public Napi::ObjectWrap<T> {
 public:
  H* handle(Napi::Env env) const {
    if (h_ == nullptr) ThrowClosed(env, T::kName);
    return h_;
  }
  bool open() const { return h_ != nullptr; }

  static T* From(Napi::Env env, Napi::Value v, const char* name) {
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf((Data(env).*T::kCtor).Value())) {
      const char first = T::kName[0];
      bool vowel = first == 'A' || first == 'E' || first == 'I' || first == 'O' || first == 'U';
      ThrowArgType(env, name, (std::string(vowel ? "an " : "a ") + T::kName).c_str());
    }
    return Napi::ObjectWrap<T>::Unwrap(v.As<Napi::Object>());
  }

  void Release() {
    if (h_ == nullptr) return;
    H* h = h_;
    h_ = nullptr;
    static_cast<T*>(this)->Dispose(h);
  }

 protected:
  using Base = Wrapped<T, H>;
  using Members = std::vector<typename Napi::ObjectWrap<T>::PropertyDescriptor>;

  explicit Wrapped(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}

  // Defines the JS class with T's members plus `closed` and `close`; native code that makes objects of
  // T finds the constructor in Data(env).
  static Napi::Function Define(Napi::Env env, Members members) {
    using W = Napi::ObjectWrap<T>;
    members.push_back(W::InstanceAccessor(
        "closed", static_cast<typename W::InstanceGetterCallback>(&Base::Closed), nullptr));
    members.push_back(
        W::InstanceMethod("close", static_cast<typename W::InstanceMethodCallback>(&Base::Close)));
    Napi::Function f = W::DefineClass(env, T::kName, members);
    Data(env).*T::kCtor = Napi::Persistent(f);
    return f;
  }

  // Makes the object: `create` returns it, or null with errno set (`fallback` when errno is not).
  template <class F>
  void Create(Napi::Env env, const char* call, F create, int fallback = ENOMEM) {
    errno = 0;
    H* h = create();
    if (h == nullptr) ThrowSys(env, errno ? errno : fallback, call);
    h_ = h;
  }
  // Takes an object made elsewhere (librdmacm's, or one made with extra steps).
  void Adopt(H* h) { h_ = h; }
  H* raw() const { return h_; }

  // Called by close() before Release(); T hides it to let go of what only an explicit close drops.
  void OnClose() {}

 private:
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), h_ == nullptr); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if constexpr (std::is_base_of_v<Parent, T>) {
      const Parent* p = static_cast<T*>(this);
      if (h_ != nullptr && p->children() > 0)
        Throw(info.Env(), "ERR_BUSY",
              std::string(T::kName) + " has " + std::to_string(p->children()) + " open " + p->childKind() +
                  " (close them first)");
    }
    static_cast<T*>(this)->OnClose();
    Release();
    return info.Env().Undefined();
  }

  H* h_ = nullptr;
};

// A child's hold on its parent: the parent's JS object stays alive and the parent counts the child, so
// that it cannot be closed first. The pointer stays readable after Drop() (for identity checks only).
template <class P>
class ParentRef {
 public:
  void Hold(P* p, Napi::Value obj) {
    p_ = p;
    ref_ = Napi::Persistent(obj.As<Napi::Object>());
    p_->AddChild();
    held_ = true;
  }
  void Drop() {
    if (!held_) return;
    held_ = false;
    p_->RemoveChild();
    ref_.Reset();
  }
  P* get() const { return p_; }
  P* operator->() const { return p_; }
  explicit operator bool() const { return held_; }

 private:
  P* p_ = nullptr;
  Napi::ObjectReference ref_;
  bool held_ = false;
};

}  // namespace rdma
