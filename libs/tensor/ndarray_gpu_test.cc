// NDArrays on gpu(0): creation, copies in every direction, arithmetic, files, the pooled
// allocator and out-of-memory. Every test reports skipped on a machine without a GPU.
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/gpu/gpu.h"
#include "libs/tensor/allocator.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/ndarray_io.h"

namespace mxgrid::tensor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

#define SKIP_WITHOUT_GPU() \
  if (gpu::DeviceCount() == 0) GTEST_SKIP() << "no GPU: " << gpu::NoDeviceReason()

TEST(NDArrayGpuTest, CreatesAndFillsInEveryDtype) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt32,
                      DType::kInt64, DType::kUint8}) {
    absl::StatusOr<NDArray> a = NDArray::Full({3, 5}, 7.0, Context::Gpu(0), dtype);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->context(), Context::Gpu(0));
    absl::StatusOr<std::vector<double>> v = a->ToVector<double>();
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, std::vector<double>(15, 7.0)) << DTypeName(dtype);
  }
  EXPECT_THAT(*NDArray::Zeros({2}, Context::Gpu(0))->ToVector<float>(), ElementsAre(0, 0));
  EXPECT_THAT(*NDArray::Arange(0, 4, 1, Context::Gpu(0))->ToVector<float>(),
              ElementsAre(0, 1, 2, 3));
}

TEST(NDArrayGpuTest, CopiesBetweenHostAndDeviceKeepEveryByte) {
  SKIP_WITHOUT_GPU();
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{3} << 20}) {
    std::vector<float> host(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) host[i] = static_cast<float>(i % 1000) * 0.5f - 7.0f;
    NDArray g = *NDArray::Empty({n}, Context::Gpu(0));
    ASSERT_TRUE(g.CopyFromHost(host.data(), host.size() * 4).ok());
    NDArray g2 = *g.CopyTo(Context::Gpu(0));        // device to device
    NDArray c = *g2.CopyTo(Context::Cpu());          // device to host array
    std::vector<float> back(host.size());
    ASSERT_TRUE(c.CopyToHost(back.data(), back.size() * 4).ok());
    EXPECT_EQ(back, host) << n;
    std::vector<float> direct(host.size());
    ASSERT_TRUE(g2.CopyToHost(direct.data(), direct.size() * 4).ok());
    EXPECT_EQ(direct, host) << n;
  }
}

TEST(NDArrayGpuTest, CopyToConvertsDtypesAcrossDevices) {
  SKIP_WITHOUT_GPU();
  NDArray a = *NDArray::FromVector<float>({4}, {1.5f, -2.0f, 3.25f, 100.0f});
  NDArray g = *NDArray::Empty({4}, Context::Gpu(0), DType::kFloat64);
  ASSERT_TRUE(a.CopyTo(g).ok());
  NDArray i = *NDArray::Empty({4}, Context::Cpu(), DType::kInt32);
  ASSERT_TRUE(g.CopyTo(i).ok());
  EXPECT_THAT(*i.ToVector<int32_t>(), ElementsAre(1, -2, 3, 100));
  EXPECT_THAT(*g.ToVector<double>(), ElementsAre(1.5, -2.0, 3.25, 100.0));
}

TEST(NDArrayGpuTest, ArithmeticRunsOnTheDevice) {
  SKIP_WITHOUT_GPU();
  NDArray a = *NDArray::Full({2, 3}, 2.0, Context::Gpu(0));
  NDArray b = *NDArray::Full({2, 3}, 3.0, Context::Gpu(0));
  NDArray c = *Binary(BinaryOp::kMul, a, b);
  ASSERT_TRUE(BinaryInPlace(BinaryOp::kAdd, c, a).ok());
  NDArray d = *BinaryScalar(BinaryOp::kDiv, c, 4.0, /*scalar_on_left=*/false);
  EXPECT_THAT(*d.ToVector<float>(), ElementsAre(2, 2, 2, 2, 2, 2));
  NDArray h = *NDArray::Full({3}, 1.0, Context::Gpu(0), DType::kFloat16);
  NDArray h2 = *Binary(BinaryOp::kAdd, h, h);
  EXPECT_THAT(*h2.ToVector<float>(), ElementsAre(2, 2, 2));
  NDArray cpu = *NDArray::Ones({2, 3});
  absl::StatusOr<NDArray> mixed = Binary(BinaryOp::kAdd, a, cpu);
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NDArrayGpuTest, MissingGpuIsInvalidArgument) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<NDArray> g = NDArray::Zeros({2}, Context::Gpu(gpu::DeviceCount()));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("does not exist"));
}

TEST(NDArrayGpuTest, SavesGpuArraysWithTheirContext) {
  SKIP_WITHOUT_GPU();
  const std::string path = ::testing::TempDir() + "/gpu_arrays.params";
  NDArray g = *NDArray::FromVector<float>({2, 2}, {1, 2, 3, 4}, Context::Gpu(0));
  ASSERT_TRUE(Save(path, {g}, {"w"}).ok());
  absl::StatusOr<LoadedArrays> loaded = Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(*loaded->arrays[0].ToVector<float>(), ElementsAre(1, 2, 3, 4));
  std::remove(path.c_str());
}

TEST(NDArrayGpuTest, OutOfMemoryIsResourceExhaustedAndTheWorkerGoesOn) {
  SKIP_WITHOUT_GPU();
  absl::StatusOr<NDArray> huge = NDArray::Empty({int64_t{1} << 46}, Context::Gpu(0));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(huge.status().message(), HasSubstr("gpu(0)"));
  EXPECT_THAT(*NDArray::Ones({2}, Context::Gpu(0))->ToVector<float>(), ElementsAre(1, 1));
}

// A pool over a 64 MiB limit: mixed sizes allocated and freed in rounds reach a steady
// state with no cudaMalloc, and the limit is ResourceExhausted naming the device.
TEST(NDArrayGpuTest, PooledAllocatorReusesBlocksUnderFragmentation) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<Allocator> pool = CreateGpuAllocator(0, int64_t{64} << 20);
  const std::vector<size_t> sizes = {100, 4096, 70000, size_t{1} << 20, (size_t{3} << 20) + 5,
                                     12345, size_t{9} << 20, 1};
  int64_t mallocs_after_first_round = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<void*> blocks;
    for (int k = 0; k < 3; ++k) {
      for (size_t s : sizes) {
        absl::StatusOr<void*> p = pool->Allocate(s);
        ASSERT_TRUE(p.ok()) << p.status();
        blocks.push_back(*p);
      }
    }
    // Free in an interleaved order (fragmentation of the size classes).
    for (size_t i = 0; i < blocks.size(); i += 2) pool->Free(blocks[i], sizes[(i) % sizes.size()]);
    for (size_t i = 1; i < blocks.size(); i += 2) pool->Free(blocks[i], sizes[(i) % sizes.size()]);
    EXPECT_EQ(pool->bytes_in_use(), 0);
    if (round == 0) mallocs_after_first_round = gpu::MallocCalls(0);
  }
  EXPECT_EQ(gpu::MallocCalls(0), mallocs_after_first_round);
  absl::StatusOr<void*> over = pool->Allocate(size_t{65} << 20);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("gpu(0)"));
  pool->ReleaseCached();
}

}  // namespace
}  // namespace mxgrid::tensor
