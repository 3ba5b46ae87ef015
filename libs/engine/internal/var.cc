#include "libs/engine/internal/var.h"

#include "libs/base/check.h"

namespace mxgrid::engine {

using internal::VarEntry;

bool Var::AppendLocked(VarEntry* entry) {
  if (head_ == nullptr && !write_running_ && (!entry->write || running_reads_ == 0)) {
    if (entry->write) {
      write_running_ = true;
    } else {
      ++running_reads_;
    }
    GrantLocked(entry);
    return true;
  }
  entry->next = nullptr;
  if (tail_ == nullptr) {
    head_ = entry;
  } else {
    tail_->next = entry;
  }
  tail_ = entry;
  return false;
}

VarEntry* Var::CompleteRead() {
  internal::SpinLockHolder lock(&mu_);
  MXGRID_CHECK(running_reads_ > 0) << "read completed on a variable with no running read";
  if (--running_reads_ > 0 || head_ == nullptr) return nullptr;
  // Reads are only ever queued behind a write, so the oldest waiting claim is a write.
  VarEntry* write = head_;
  MXGRID_CHECK(write->write) << "a read waits at the head of an idle variable's queue";
  head_ = write->next;
  if (head_ == nullptr) tail_ = nullptr;
  write->next = nullptr;
  write_running_ = true;
  GrantLocked(write);
  return write;
}

VarEntry* Var::CompleteWrite(const internal::ErrorRef& error) {
  internal::SpinLockHolder lock(&mu_);
  MXGRID_CHECK(write_running_ && running_reads_ == 0)
      << "write completed on a variable with no running write";
  write_running_ = false;
  ++version_;
  if (error != nullptr) error_ = error;
  if (head_ == nullptr) return nullptr;
  // Grant the run of reads at the head together; the next write only if none precede it.
  VarEntry* granted = head_;
  VarEntry* last_read = nullptr;
  VarEntry* e = head_;
  while (e != nullptr && !e->write) {
    ++running_reads_;
    GrantLocked(e);
    last_read = e;
    e = e->next;
  }
  if (last_read != nullptr) {
    last_read->next = nullptr;
    head_ = e;
  } else {
    write_running_ = true;  // head_ is a write and nothing runs
    GrantLocked(e);
    head_ = e->next;
    e->next = nullptr;
  }
  if (head_ == nullptr) tail_ = nullptr;
  return granted;
}

bool Var::HasPendingWrite() {
  internal::SpinLockHolder lock(&mu_);
  return write_running_ || head_ != nullptr;
}

bool Var::Idle() {
  internal::SpinLockHolder lock(&mu_);
  return !write_running_ && running_reads_ == 0 && head_ == nullptr;
}

internal::ErrorRef Var::error() {
  internal::SpinLockHolder lock(&mu_);
  return error_;
}

absl::Status Var::TakeError() {
  internal::ErrorRef error;
  {
    internal::SpinLockHolder lock(&mu_);
    error.swap(error_);
  }
  return internal::ToStatus(error);
}

void Var::RecordWrite(const internal::ErrorRef& error) {
  internal::SpinLockHolder lock(&mu_);
  ++version_;
  if (error != nullptr) error_ = error;
}

uint64_t Var::version() {
  internal::SpinLockHolder lock(&mu_);
  return version_;
}

void Var::Reset() {
  internal::SpinLockHolder lock(&mu_);
  MXGRID_CHECK(!write_running_ && running_reads_ == 0 && head_ == nullptr)
      << "variable reset while operations still use it";
  version_ = 0;
  error_.reset();
  bytes = 0;
}

}  // namespace mxgrid::engine
