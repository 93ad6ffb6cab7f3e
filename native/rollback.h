// Rollback: undoes a constructor's partial work when it throws before the object owns what it made
// (a CQ without its channel watched, a channel without its watch); Commit() once it does.
#pragma once
#include <utility>

namespace rdma {

template <class F>
class Rollback {
 public:
  explicit Rollback(F undo) : undo_(std::move(undo)) {}
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    if (armed_) undo_();
  }
  void Commit() { armed_ = false; }

 private:
  F undo_;
  bool armed_ = true;
};

}  // namespace rdma
