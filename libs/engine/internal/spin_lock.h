// SpinLock: a one-byte lock for the engine's per-variable critical sections, which are a few
// pointer updates long and never call out. Compared with base::Mutex (std::mutex, 40 bytes,
// sleeps in the kernel on contention) it keeps a Var within one cache line and lets the
// pusher and a completing worker meet on a variable without futex system calls. Waiters
// spin briefly, then yield, so a preempted holder gets the CPU back (this matters when the
// engine runs more threads than there are cores).
//
// Built on std::atomic, so ThreadSanitizer sees its synchronization.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_SPIN_LOCK_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_SPIN_LOCK_H_

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"

namespace mxgrid::engine::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class ABSL_LOCKABLE SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    for (int spins = 0;; ++spins) {
      if (!locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      if (spins < kSpins) {
        CpuRelax();
      } else {
        std::this_thread::yield();
      }
    }
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  static constexpr int kSpins = 64;
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) : lock_(lock) {
    lock_->Lock();
  }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { lock_->Unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock* const lock_;
};

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_SPIN_LOCK_H_
