#include "libs/tensor/allocator.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/mutex.h"

// tcmalloc's "give free pages back" (gperftools' malloc_extension_c.h), present when the
// binary links it (//third_party:server_malloc); null otherwise.
extern "C" void MallocExtension_ReleaseFreeMemory() __attribute__((weak));

namespace mxgrid::tensor {
namespace {

// Pool buckets: small sizes round up to a power of two (>= 64 B); sizes over 1 MiB round up
// to a multiple of 1 MiB, so that a freed block serves any request of its bucket.
size_t BucketSize(size_t bytes) {
  constexpr size_t kMiB = size_t{1} << 20;
  if (bytes <= kAlignment) return kAlignment;
  if (bytes <= kMiB) {
    size_t size = kAlignment;
    while (size < bytes) size <<= 1;
    return size;
  }
  return (bytes + kMiB - 1) / kMiB * kMiB;
}

// Blocks of at least this many bytes are mapped on their own, 2 MiB aligned, and advised
// to use transparent huge pages (MADV_HUGEPAGE: THP's "madvise" mode, the common default,
// backs only such ranges): one page fault per 2 MiB on first touch instead of 512, and
// fewer TLB misses for the large arrays kernels stream over.
constexpr size_t kHugePage = size_t{2} << 20;

// A 2 MiB aligned anonymous mapping of `size` bytes with its whole huge pages advised;
// nullptr when the system has no memory.
void* MapHuge(size_t size) {
  const size_t span = size + kHugePage;  // room to align the start
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  const uintptr_t end = start + span;
  if (aligned > start) munmap(raw, aligned - start);
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  void* p = reinterpret_cast<void*>(aligned);
  // Advice, not a requirement: without THP (or on old kernels) the block is plain pages.
  madvise(p, size / kHugePage * kHugePage, MADV_HUGEPAGE);
  return p;
}

// Memory for a block of bucket size `size`: its own huge-page mapping from kHugePage up,
// else 64-byte aligned memory from the C library. SystemFree takes it back.
void* SystemAllocate(size_t size) {
  return size >= kHugePage ? MapHuge(size) : std::aligned_alloc(kAlignment, size);
}

void SystemFree(void* p, size_t size) {
  if (size >= kHugePage) {
    munmap(p, size);
  } else {
    std::free(p);
  }
}

// Blocks from SystemAllocate, pooled by bucket: a freed block stays mapped (and its pages
// faulted in) for the next allocation of its bucket.
class PooledCpuAllocator final : public Allocator {
 public:
  explicit PooledCpuAllocator(const CpuAllocatorOptions& options)
      : pool_limit_bytes_(options.pool_limit_bytes),
        memory_limit_bytes_(options.memory_limit_bytes) {}

  ~PooledCpuAllocator() override {
    base::MutexLock lock(&mu_);
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) SystemFree(p, size);
    }
  }

  absl::StatusOr<void*> Allocate(size_t bytes) override {
    const size_t size = BucketSize(bytes);
    {
      base::MutexLock lock(&mu_);
      // Reserved before allocating, so concurrent allocations cannot pass the limit together.
      if (memory_limit_bytes_ > 0 &&
          (size > static_cast<size_t>(memory_limit_bytes_) ||
           in_use_bytes_ > memory_limit_bytes_ - static_cast<int64_t>(size))) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "out of CPU memory: allocating ", bytes, " bytes with ", in_use_bytes_,
            " in use would pass the limit of ", memory_limit_bytes_,
            " bytes (CpuAllocatorOptions::memory_limit_bytes)"));
      }
      in_use_bytes_ += static_cast<int64_t>(size);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        pooled_bytes_ -= static_cast<int64_t>(size);
        return p;
      }
    }
    void* p = SystemAllocate(size);
    if (p == nullptr) {
      ReleasePool();  // Give cached blocks back and try once more.
      p = SystemAllocate(size);
    }
    if (p == nullptr) {
      base::MutexLock lock(&mu_);
      in_use_bytes_ -= static_cast<int64_t>(size);
      return absl::ResourceExhaustedError(
          absl::StrCat("out of CPU memory allocating ", bytes, " bytes"));
    }
    return p;
  }

  void Free(void* ptr, size_t bytes) override {
    if (ptr == nullptr) return;
    const size_t size = BucketSize(bytes);
    {
      base::MutexLock lock(&mu_);
      in_use_bytes_ -= static_cast<int64_t>(size);
      if (pooled_bytes_ + static_cast<int64_t>(size) <= pool_limit_bytes_) {
        free_[size].push_back(ptr);
        pooled_bytes_ += static_cast<int64_t>(size);
        return;
      }
    }
    SystemFree(ptr, size);
  }

  int64_t bytes_in_use() const override {
    base::MutexLock lock(&mu_);
    return in_use_bytes_;
  }

  size_t AllocationSize(size_t bytes) const override { return BucketSize(bytes); }

  void ReleaseCached() override { ReleasePool(); }

  Context context() const override { return Context::Cpu(); }

 private:
  void ReleasePool() {
    base::MutexLock lock(&mu_);
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) SystemFree(p, size);
      blocks.clear();
    }
    pooled_bytes_ = 0;
  }

  const int64_t pool_limit_bytes_;
  const int64_t memory_limit_bytes_;
  mutable base::Mutex mu_;
  std::map<size_t, std::vector<void*>> free_ ABSL_GUARDED_BY(mu_);
  int64_t pooled_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_use_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

CpuAllocatorOptions CpuOptionsFromEnv() {
  CpuAllocatorOptions options;
  int64_t mb = 0;
  if (const char* env = std::getenv("MXGRID_CPU_POOL_MB");
      env != nullptr && absl::SimpleAtoi(env, &mb) && mb >= 0) {
    options.pool_limit_bytes = mb << 20;
  }
  return options;
}

int64_t HostMemoryLimitFromEnv() {
  const int64_t physical = int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGESIZE);
  int64_t limit = physical > 0 ? physical / 10 * 9 : 0;
  int64_t mb = 0;
  if (const char* env = std::getenv("MXGRID_CPU_MEMORY_LIMIT_MB");
      env != nullptr && absl::SimpleAtoi(env, &mb) && mb >= 0) {
    limit = mb << 20;
  }
  return limit;
}

}  // namespace

std::unique_ptr<Allocator> CreateCpuAllocator(const CpuAllocatorOptions& options) {
  return std::make_unique<PooledCpuAllocator>(options);
}

const std::shared_ptr<base::MemoryAccount>& HostMemoryAccount() {
  // Never destroyed, like the allocator: storage released after main() returns still
  // gives its bytes back to it.
  static const auto* const account = new std::shared_ptr<base::MemoryAccount>(
      std::make_shared<base::MemoryAccount>("out of CPU memory", HostMemoryLimitFromEnv(),
                                            nullptr, "MXGRID_CPU_MEMORY_LIMIT_MB"));
  return *account;
}

void ReleaseCachedHostMemory() {
  absl::StatusOr<Allocator*> cpu = AllocatorFor(Context::Cpu());
  if (cpu.ok()) (*cpu)->ReleaseCached();
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
  } else {
    malloc_trim(0);
  }
}

absl::StatusOr<Allocator*> AllocatorFor(Context ctx) {
  if (ctx.is_cpu()) {
    // Never destroyed: arrays released after main() returns still free into it.
    static Allocator* const cpu = CreateCpuAllocator(CpuOptionsFromEnv()).release();
    return cpu;
  }
  return GpuAllocatorFor(ctx);
}

}  // namespace mxgrid::tensor
