// Allocator: where array memory comes from, one per device.
//
// The CPU allocator hands out 64-byte aligned memory and keeps freed blocks in a size-bucketed
// pool, so that steady-state loops (`c = a + b` every iteration) reuse memory instead of
// paying page faults; a CUDA allocator (pooled cudaMalloc) implements the same interface for
// GPU contexts.
//
//   MXGRID_ASSIGN_OR_RETURN(Allocator* alloc, AllocatorFor(Context::Cpu()));
//   MXGRID_ASSIGN_OR_RETURN(void* p, alloc->Allocate(bytes));
//   ...
//   alloc->Free(p, bytes);
//
// Thread-safety: Allocator implementations are thread-safe.
#ifndef MXGRID_LIBS_TENSOR_ALLOCATOR_H_
#define MXGRID_LIBS_TENSOR_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "libs/base/context.h"
#include "libs/base/memory_account.h"

namespace mxgrid::tensor {

// Every allocation is aligned to this many bytes (a cache line; AVX-512 loads).
inline constexpr size_t kAlignment = 64;

class Allocator {
 public:
  virtual ~Allocator() = default;

  // Returns at least `bytes` bytes (any size, 0 included) aligned to kAlignment on context().
  // ResourceExhausted when the device is out of memory.
  virtual absl::StatusOr<void*> Allocate(size_t bytes) = 0;
  // Returns memory from Allocate with the same `bytes`.
  virtual void Free(void* ptr, size_t bytes) = 0;
  // Bytes handed out and not yet freed.
  virtual int64_t bytes_in_use() const = 0;
  // The bytes an Allocate(bytes) really takes (its size class), what memory accounts are
  // charged for it.
  virtual size_t AllocationSize(size_t bytes) const = 0;
  // Gives cached free blocks back to the system (e.g. when a session closes); the pool
  // refills as allocations come.
  virtual void ReleaseCached() = 0;
  virtual Context context() const = 0;
};

struct CpuAllocatorOptions {
  // Freed blocks kept for reuse, at most this many bytes in all; the rest goes back to the
  // system. 0 disables pooling. Overridden by MXGRID_CPU_POOL_MB.
  int64_t pool_limit_bytes = int64_t{2} << 30;
  // Bytes that may be in use at once; an allocation beyond it is ResourceExhausted instead
  // of a process the kernel's OOM killer ends (memory is overcommitted on Linux). 0: no
  // limit. The process-wide allocator has none of its own: arrays' storage is charged to
  // HostMemoryAccount() (or a session's account inside it) before it is allocated.
  int64_t memory_limit_bytes = 0;
};

// A new pooled CPU allocator (tests and benchmarks; arrays use AllocatorFor).
std::unique_ptr<Allocator> CreateCpuAllocator(const CpuAllocatorOptions& options);

// The process's account of host memory: the root every array storage on a CPU context, every
// session's handles and queued operations are charged to (a worker session's own account is
// a child of it). Its limit is 90% of physical memory, overridden by
// MXGRID_CPU_MEMORY_LIMIT_MB (0: no limit).
const std::shared_ptr<base::MemoryAccount>& HostMemoryAccount();

// Gives the host memory that arrays no longer use back to the system: the CPU allocator's
// cached blocks and malloc's free pages (tcmalloc's where the binary links it, else the C
// library's malloc_trim). Costs page faults later.
void ReleaseCachedHostMemory();

// The process-wide allocator for `ctx`. For a GPU context: FailedPrecondition when this build
// or machine has no GPU, InvalidArgument for a GPU id it does not have.
absl::StatusOr<Allocator*> AllocatorFor(Context ctx);

// A pooled allocator of device memory on GPU `device` (tests); `limit_bytes` 0: no limit of
// its own. Process-wide ones (AllocatorFor) take their limit from MXGRID_GPU_MEMORY_LIMIT_MB.
std::unique_ptr<Allocator> CreateGpuAllocator(int device, int64_t limit_bytes);
// AllocatorFor for a GPU context.
absl::StatusOr<Allocator*> GpuAllocatorFor(Context ctx);

// What the process-wide allocator of a GPU holds (zeros for a GPU this process lacks).
struct GpuMemoryStats {
  int64_t in_use_bytes = 0;  // handed out (size classes)
  int64_t cached_bytes = 0;  // freed and kept for reuse
  int64_t limit_bytes = 0;   // MXGRID_GPU_MEMORY_LIMIT_MB, else the device's memory
  int64_t malloc_calls = 0;  // cudaMalloc calls so far
};
GpuMemoryStats GpuMemoryStatsFor(int device);

}  // namespace mxgrid::tensor

#endif  // MXGRID_LIBS_TENSOR_ALLOCATOR_H_
