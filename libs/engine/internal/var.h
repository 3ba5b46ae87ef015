// Var: the engine's dependency-tracking variable (MXNet's ThreadedVar), shared by both
// engines; VarHandle points at one.
//
// Scheduling state (ThreadedEngine): a FIFO of waiting claims (VarEntry nodes owned by their
// OprBlocks), the number of granted reads still running, and whether a granted write is
// running. A read is granted when no write is running or waiting ahead of it; a write when
// nothing is running and nothing waits ahead of it. Completing the running write grants the
// reads queued right behind it (together), or the next write if no read sits in between.
//
// Error and version state (both engines): every completed write bumps the version; a failed
// write stores its error here until WaitForVar takes it.
//
// Thread-safety: thread-safe; every field is guarded by the variable's own lock (a SpinLock:
// the critical sections are a few pointer updates). Methods return granted claims instead of
// dispatching them, so nothing else runs under the lock.
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_VAR_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_VAR_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "libs/engine/internal/opr_block.h"
#include "libs/engine/internal/spin_lock.h"

namespace mxgrid::engine {

// Cache-line aligned: neighbouring variables are often used by different threads at once.
class alignas(64) Var {
 public:
  Var() = default;
  Var(const Var&) = delete;
  Var& operator=(const Var&) = delete;

  // --- Scheduling (ThreadedEngine). Push locks every variable of an operation (in address
  // order) before appending, so concurrent pushes are ordered the same way on all of them.
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION(mu_) { mu_.Lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION(mu_) { mu_.Unlock(); }
  // Grants `entry` at once (returns true) or queues it behind the earlier claims.
  bool AppendLocked(internal::VarEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A granted read finished: returns the write it unblocks, or null.
  internal::VarEntry* CompleteRead();
  // The granted write finished with `error` (stored unless null): bumps the version and
  // returns the claims it unblocks as a list linked through VarEntry::next, or null. The
  // caller must read `next` of a returned entry before releasing that entry's operation.
  internal::VarEntry* CompleteWrite(const internal::ErrorRef& error);
  // True while a write is running or waiting.
  bool HasPendingWrite();
  // True when nothing runs or waits (the state a variable is freed and reused in).
  bool Idle();

  // --- Errors and versions (both engines). A granted claim also receives the error (see
  // VarEntry::error).
  // The stored error; null if none.
  internal::ErrorRef error();
  // Returns the stored error (OK if none) and clears it.
  absl::Status TakeError();
  // NaiveEngine: a write finished with `error` (stored unless null).
  void RecordWrite(const internal::ErrorRef& error);
  uint64_t version();

  // Back to the state of a new variable. REQUIRES: Idle().
  void Reset();

  Var* pool_next = nullptr;  // ObjectPool free list
  // Bytes of the memory the variable guards (0: unknown): what an operation writing it adds
  // to its flow's queued bytes (flow.h). Set by NewVariable before the handle is published;
  // constant until the variable is freed.
  int64_t bytes = 0;

 private:
  // Marks `entry` granted: hands it the current error.
  void GrantLocked(internal::VarEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (error_ != nullptr) entry->error = error_;
  }

  internal::SpinLock mu_;
  internal::VarEntry* head_ ABSL_GUARDED_BY(mu_) = nullptr;  // oldest waiting claim
  internal::VarEntry* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  int running_reads_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  internal::ErrorRef error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::engine

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_VAR_H_
