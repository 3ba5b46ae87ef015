#include "libs/tensor/allocator.h"

#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"

namespace mxgrid::tensor {
namespace {

TEST(AllocatorTest, AlignedAndCountsBytesInUse) {
  std::unique_ptr<Allocator> alloc = CreateCpuAllocator({});
  EXPECT_EQ(alloc->bytes_in_use(), 0);
  void* a = *alloc->Allocate(100);
  void* b = *alloc->Allocate(3 << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % kAlignment, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % kAlignment, 0u);
  std::memset(b, 1, 3 << 20);
  EXPECT_GE(alloc->bytes_in_use(), 100 + (3 << 20));
  alloc->Free(a, 100);
  alloc->Free(b, 3 << 20);
  EXPECT_EQ(alloc->bytes_in_use(), 0);
}

TEST(AllocatorTest, PoolReusesFreedBlocksOfTheSameBucket) {
  std::unique_ptr<Allocator> alloc = CreateCpuAllocator({});
  void* a = *alloc->Allocate(5 << 20);
  alloc->Free(a, 5 << 20);
  void* b = *alloc->Allocate((5 << 20) - 100);  // same 1 MiB bucket
  EXPECT_EQ(a, b);
  alloc->Free(b, (5 << 20) - 100);
}

TEST(AllocatorTest, NoPoolingWhenLimitIsZero) {
  std::unique_ptr<Allocator> alloc = CreateCpuAllocator({.pool_limit_bytes = 0});
  void* a = *alloc->Allocate(1000);
  alloc->Free(a, 1000);
  EXPECT_EQ(alloc->bytes_in_use(), 0);
}

TEST(AllocatorTest, ImpossibleSizeIsResourceExhausted) {
  std::unique_ptr<Allocator> alloc = CreateCpuAllocator({});
  absl::StatusOr<void*> p = alloc->Allocate(size_t{1} << 62);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(AllocatorTest, MemoryLimitIsResourceExhaustedAndFreeingMakesRoom) {
  std::unique_ptr<Allocator> alloc =
      CreateCpuAllocator({.pool_limit_bytes = 0, .memory_limit_bytes = 4 << 20});
  absl::StatusOr<void*> a = alloc->Allocate(3 << 20);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<void*> b = alloc->Allocate(2 << 20);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(alloc->bytes_in_use(), 3 << 20);  // the refused request reserved nothing
  alloc->Free(*a, 3 << 20);
  b = alloc->Allocate(2 << 20);
  ASSERT_TRUE(b.ok()) << b.status();
  alloc->Free(*b, 2 << 20);
  EXPECT_EQ(alloc->Allocate(size_t{1} << 40).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(AllocatorTest, GpuWithoutCudaIsFailedPrecondition) {
  EXPECT_EQ(AllocatorFor(Context::Gpu(0)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(AllocatorFor(Context::Cpu(1)).ok());
}

}  // namespace
}  // namespace mxgrid::tensor
