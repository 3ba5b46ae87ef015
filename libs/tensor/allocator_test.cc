#include "libs/tensor/allocator.h"

#include <sys/resource.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

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

// The VmFlags line of the /proc/self/smaps entry whose range holds `p` ("" if none).
std::string VmFlagsOf(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' &&
        line.find(' ') != std::string::npos && line.find(':') > line.find(' ')) {
      inside = lo <= addr && addr < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

long MinorFaults() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Blocks of 2 MiB and more are 2 MiB aligned and advised for transparent huge pages ("hg"
// in the mapping's VmFlags); smaller ones come from the C library without the advice.
TEST(AllocatorTest, LargeBlocksAreHugePageAlignedAndAdvised) {
  std::unique_ptr<Allocator> alloc = CreateCpuAllocator({});
  constexpr size_t kLarge = (5 << 20) + 123, kSmall = 100 << 10;
  void* large = *alloc->Allocate(kLarge);
  void* small = *alloc->Allocate(kSmall);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large) % (2 << 20), 0u);
  std::memset(large, 1, kLarge);
  const std::string flags = VmFlagsOf(large);
  ASSERT_FALSE(flags.empty()) << "no smaps entry for the block";
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
  EXPECT_EQ(VmFlagsOf(small).find(" hg"), std::string::npos);
  alloc->Free(large, kLarge);
  alloc->Free(small, kSmall);
  EXPECT_EQ(alloc->bytes_in_use(), 0);
  alloc->ReleaseCached();  // unmaps the pooled large block
  EXPECT_EQ(VmFlagsOf(large).find(" hg"), std::string::npos);
}

// A block freed into the pool stays mapped with its pages present: writing all of it again
// after reuse takes no page faults (steady-state loops fault nothing).
TEST(AllocatorTest, ReusedLargeBlockTakesNoPageFaults) {
  std::unique_ptr<Allocator> alloc = CreateCpuAllocator({});
  constexpr size_t kBytes = 8 << 20;
  void* a = *alloc->Allocate(kBytes);
  std::memset(a, 1, kBytes);
  alloc->Free(a, kBytes);
  void* b = *alloc->Allocate(kBytes);
  ASSERT_EQ(a, b);
  const long before = MinorFaults();
  std::memset(b, 2, kBytes);
  EXPECT_LE(MinorFaults() - before, 2);
  alloc->Free(b, kBytes);
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
