// The pooled device allocator: one per GPU, over gpu::Malloc (cudaMalloc). Freed blocks stay
// cached by size class, so a training loop reaches a steady state with no cudaMalloc at all;
// when the device runs out, the cache is given back and the allocation tried once more.
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/base/mutex.h"
#include "libs/gpu/gpu.h"
#include "libs/tensor/allocator.h"

namespace mxgrid::tensor {
namespace {

// Size classes: powers of two from 512 B up to 1 MiB, then multiples of 2 MiB (at most 2 MiB
// of slack per large block; a freed block serves any request of its class).
size_t GpuSizeClass(size_t bytes) {
  constexpr size_t kMiB = size_t{1} << 20;
  if (bytes <= 512) return 512;
  if (bytes <= kMiB) {
    size_t size = 512;
    while (size < bytes) size <<= 1;
    return size;
  }
  return (bytes + 2 * kMiB - 1) / (2 * kMiB) * (2 * kMiB);
}

class PooledGpuAllocator final : public Allocator {
 public:
  PooledGpuAllocator(int device, int64_t limit_bytes)
      : device_(device), limit_bytes_(limit_bytes) {}

  absl::StatusOr<void*> Allocate(size_t bytes) override {
    const size_t size = GpuSizeClass(bytes);
    {
      base::MutexLock lock(&mu_);
      if (limit_bytes_ > 0 && in_use_bytes_ + static_cast<int64_t>(size) > limit_bytes_) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "out of memory on gpu(", device_, "): allocating ", bytes, " bytes with ",
            in_use_bytes_, " in use would pass the limit of ", limit_bytes_,
            " bytes (MXGRID_GPU_MEMORY_LIMIT_MB)"));
      }
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= static_cast<int64_t>(size);
        in_use_bytes_ += static_cast<int64_t>(size);
        return p;
      }
    }
    absl::StatusOr<void*> p = gpu::Malloc(device_, size);
    if (!p.ok() && absl::IsResourceExhausted(p.status())) {
      ReleaseCached();
      p = gpu::Malloc(device_, size);
    }
    if (!p.ok()) return p.status();
    base::MutexLock lock(&mu_);
    in_use_bytes_ += static_cast<int64_t>(size);
    return *p;
  }

  void Free(void* ptr, size_t bytes) override {
    if (ptr == nullptr) return;
    const size_t size = GpuSizeClass(bytes);
    base::MutexLock lock(&mu_);
    in_use_bytes_ -= static_cast<int64_t>(size);
    cached_bytes_ += static_cast<int64_t>(size);
    free_[size].push_back(ptr);
  }

  int64_t bytes_in_use() const override {
    base::MutexLock lock(&mu_);
    return in_use_bytes_;
  }

  size_t AllocationSize(size_t bytes) const override { return GpuSizeClass(bytes); }

  void ReleaseCached() override {
    std::map<size_t, std::vector<void*>> blocks;
    {
      base::MutexLock lock(&mu_);
      blocks.swap(free_);
      cached_bytes_ = 0;
    }
    for (auto& [size, list] : blocks) {
      for (void* p : list) gpu::Free(device_, p);
    }
  }

  Context context() const override { return Context::Gpu(device_); }

  int64_t cached_bytes() const {
    base::MutexLock lock(&mu_);
    return cached_bytes_;
  }
  int64_t limit_bytes() const { return limit_bytes_; }

 private:
  const int device_;
  const int64_t limit_bytes_;  // 0: the device's memory is the limit
  mutable base::Mutex mu_;
  std::map<size_t, std::vector<void*>> free_ ABSL_GUARDED_BY(mu_);
  int64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_use_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

int64_t GpuLimitFromEnv() {
  int64_t mb = 0;
  if (const char* env = std::getenv("MXGRID_GPU_MEMORY_LIMIT_MB");
      env != nullptr && absl::SimpleAtoi(env, &mb) && mb > 0) {
    return mb << 20;
  }
  return 0;
}

// One allocator per device, created on first use and never destroyed (storage released
// after main() returns still frees into it).
PooledGpuAllocator* GpuAllocator(int device) {
  static std::mutex mu;
  static auto* allocators = new std::map<int, PooledGpuAllocator*>;
  std::lock_guard<std::mutex> lock(mu);
  PooledGpuAllocator*& a = (*allocators)[device];
  if (a == nullptr) a = new PooledGpuAllocator(device, GpuLimitFromEnv());
  return a;
}

}  // namespace

std::unique_ptr<Allocator> CreateGpuAllocator(int device, int64_t limit_bytes) {
  return std::make_unique<PooledGpuAllocator>(device, limit_bytes);
}

absl::StatusOr<Allocator*> GpuAllocatorFor(Context ctx) {
  if (absl::Status s = gpu::CheckDevice(ctx.device_id); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(ctx.ToString(), " is not available: ",
                                               s.message()));
  }
  return GpuAllocator(ctx.device_id);
}

GpuMemoryStats GpuMemoryStatsFor(int device) {
  GpuMemoryStats stats;
  if (!gpu::CheckDevice(device).ok()) return stats;
  PooledGpuAllocator* a = GpuAllocator(device);
  stats.in_use_bytes = a->bytes_in_use();
  stats.cached_bytes = a->cached_bytes();
  stats.limit_bytes = a->limit_bytes();
  if (stats.limit_bytes == 0) {
    int64_t free_bytes = 0;
    if (!gpu::MemoryInfo(device, &free_bytes, &stats.limit_bytes).ok()) stats.limit_bytes = 0;
  }
  stats.malloc_calls = gpu::MallocCalls(device);
  return stats;
}

}  // namespace mxgrid::tensor
