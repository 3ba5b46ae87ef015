// SigbusGuard: keeps a client's truncation of a shared-memory object from crashing the
// process that maps it.
//
// Reading or writing a page of a MAP_SHARED mapping beyond the end of its (shrunk) file
// raises SIGBUS. A client may ftruncate its object after registering it, at any moment, even
// in the middle of a copy, so no size check before a copy can rule this out. As Wayland
// compositors do for client buffers (wl_shm), a process-wide SIGBUS handler looks the
// faulting address up among the guarded ranges; when it is in one, it maps anonymous zero
// pages over the rest of that range (the faulting instruction then resumes) and marks the
// range poisoned. Faults outside every guarded range go to the previous handler (by default
// the process dies as before).
//
//   std::atomic<bool> poisoned{false};
//   MXGRID_ASSIGN_OR_RETURN(int slot, internal::GuardRange(addr, bytes, &poisoned));
//   memcpy(dst, addr, n);  // a truncated object reads zeros instead of killing us
//   if (poisoned.load()) return absl::FailedPreconditionError("truncated");
//   internal::UnguardRange(slot);  // before munmap
//
// Thread-safety: GuardRange / UnguardRange are thread-safe and lock-free (the handler reads
// the same table). `poisoned` must outlive the guard.
#ifndef MXGRID_LIBS_SHM_INTERNAL_SIGBUS_GUARD_H_
#define MXGRID_LIBS_SHM_INTERNAL_SIGBUS_GUARD_H_

#include <atomic>
#include <cstddef>

#include "absl/status/statusor.h"

namespace mxgrid::shm::internal {

// Ranges guarded at once, process-wide.
inline constexpr int kMaxGuardedRanges = 4096;

// Guards [addr, addr + bytes) (a mapping, page aligned); installs the handler on first use.
// The slot to pass to UnguardRange. ResourceExhausted when kMaxGuardedRanges are guarded;
// Internal when the handler cannot be installed.
absl::StatusOr<int> GuardRange(void* addr, size_t bytes, std::atomic<bool>* poisoned);
// Stops guarding. REQUIRES: `slot` from GuardRange, called once, before the range is unmapped.
void UnguardRange(int slot);

}  // namespace mxgrid::shm::internal

#endif  // MXGRID_LIBS_SHM_INTERNAL_SIGBUS_GUARD_H_
