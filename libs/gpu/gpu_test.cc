#include "libs/gpu/gpu.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace mxgrid::gpu {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (DeviceCount() == 0) GTEST_SKIP() << "no GPU: " << NoDeviceReason()

TEST(GpuTest, WithoutDevicesEveryCallSaysWhy) {
  if (DeviceCount() > 0) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_FALSE(NoDeviceReason().empty());
  EXPECT_EQ(CheckDevice(0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Malloc(0, 16).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ThreadStream(0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(CheckDevice(0).message().find("no CUDA devices"), std::string::npos);
}

TEST(GpuTest, MissingDeviceIsInvalidArgument) {
  SKIP_WITHOUT_GPU();
  absl::Status s = CheckDevice(DeviceCount());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s;
  EXPECT_EQ(CheckDevice(-1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(GpuTest, InfoDescribesTheDevice) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<DeviceInfo> info = Info(0);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->name.empty());
  EXPECT_GT(info->total_memory, 0);
  EXPECT_GE(info->compute_major, 5);
  EXPECT_GT(info->multiprocessors, 0);
}

// Sizes on both sides of the direct-copy threshold and across staging chunks.
TEST(GpuTest, CopiesRoundTripThroughDeviceMemory) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<void*> stream = ThreadStream(0);
  ASSERT_TRUE(stream.ok()) << stream.status();
  for (size_t n : {size_t{1}, size_t{1000}, size_t{300000}, size_t{5000001}}) {
    std::vector<uint32_t> host(n), back(n, 0);
    for (size_t i = 0; i < n; ++i) host[i] = static_cast<uint32_t>(i * 2654435761u);
    absl::StatusOr<void*> a = Malloc(0, n * 4);
    absl::StatusOr<void*> b = Malloc(0, n * 4);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_TRUE(CopyHostToDevice(0, *stream, *a, host.data(), n * 4).ok());
    ASSERT_TRUE(CopyDeviceToDevice(0, *b, 0, *a, n * 4, *stream).ok());
    ASSERT_TRUE(CopyDeviceToHost(0, *stream, back.data(), *b, n * 4).ok());
    EXPECT_EQ(host, back) << n;
    Free(0, *a);
    Free(0, *b);
  }
}

TEST(GpuTest, FillWritesEveryElement) {
  SKIP_WITHOUT_GPU();
  void* stream = *ThreadStream(0);
  for (int bytes : {1, 2, 4, 8}) {
    const int64_t n = 100003;
    absl::StatusOr<void*> p = Malloc(0, n * bytes);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(Fill(0, stream, *p, n, bytes, 0x0102030405060708ull).ok());
    std::vector<uint8_t> host(n * bytes);
    ASSERT_TRUE(CopyDeviceToHost(0, stream, host.data(), *p, host.size()).ok());
    for (int64_t i = 0; i < n * bytes; ++i) {
      ASSERT_EQ(host[i], 8 - i % bytes) << "element bytes " << bytes << " at " << i;
    }
    Free(0, *p);
  }
}

TEST(GpuTest, OutOfMemoryIsResourceExhaustedAndTheDeviceStaysUsable) {
  SKIP_WITHOUT_GPU();
  const int64_t before = MallocCalls(0);
  absl::StatusOr<void*> huge = Malloc(0, size_t{1} << 50);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("gpu(0)"), std::string::npos) << huge.status();
  EXPECT_EQ(MallocCalls(0), before + 1);
  absl::StatusOr<void*> small = Malloc(0, 1024);
  ASSERT_TRUE(small.ok()) << small.status();
  Free(0, *small);
  EXPECT_TRUE(Healthy(0));
}

TEST(GpuTest, LibraryHandlesAreCreatedPerThread) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<void*> blas = ThreadCublas(0);
  absl::StatusOr<void*> dnn = ThreadCudnn(0);
  ASSERT_TRUE(blas.ok()) << blas.status();
  ASSERT_TRUE(dnn.ok()) << dnn.status();
  EXPECT_EQ(*ThreadCublas(0), *blas);
}

}  // namespace
}  // namespace mxgrid::gpu
