#include <atomic>
#include "libs/tensor/ndarray.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/gpu/gpu.h"

namespace mxgrid::tensor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>{};
}

TEST(NDArrayTest, CreationSetsShapeDtypeContextAndValues) {
  NDArray a = *NDArray::Empty({2, 3});
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.dtype(), DType::kFloat32);
  EXPECT_EQ(a.context(), Context::Cpu());
  EXPECT_EQ(a.size(), 6);
  EXPECT_EQ(a.nbytes(), 24u);
  EXPECT_THAT(Values(*NDArray::Zeros({2, 3})), ElementsAre(0, 0, 0, 0, 0, 0));
  EXPECT_THAT(Values(*NDArray::Ones({3})), ElementsAre(1, 1, 1));
  EXPECT_THAT(Values(*NDArray::Full({2}, 7.5)), ElementsAre(7.5, 7.5));
  NDArray i = *NDArray::Full({4}, 3.9, Context::Cpu(), DType::kInt32);
  EXPECT_THAT(*i.ToVector<int32_t>(), ElementsAre(3, 3, 3, 3));  // truncates like a cast
}

TEST(NDArrayTest, MemoryIsAlignedTo64Bytes) {
  for (int64_t n : {1, 3, 17, 1000, 1 << 20}) {
    NDArray a = *NDArray::Empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u) << n;
  }
}

TEST(NDArrayTest, ArangeMatchesMXNet) {
  EXPECT_THAT(Values(*NDArray::Arange(0, 5)), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Values(*NDArray::Arange(1, 2, 0.25)), ElementsAre(1, 1.25, 1.5, 1.75));
  EXPECT_THAT(Values(*NDArray::Arange(5, 0, -2)), ElementsAre(5, 3, 1));
  EXPECT_EQ(NDArray::Arange(3, 1)->size(), 0);
  NDArray ints = *NDArray::Arange(0, 4, 1, Context::Cpu(), DType::kInt64);
  EXPECT_THAT(*ints.ToVector<int64_t>(), ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(NDArray::Arange(0, 1, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NDArray::Arange(0, 1e12, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NDArrayTest, FillSetsEveryElementLikeSliceAssignment) {
  NDArray b = *NDArray::Ones({2, 3});
  ASSERT_TRUE(b.Fill(2).ok());  // b[:] = 2
  EXPECT_THAT(Values(b), ElementsAre(2, 2, 2, 2, 2, 2));
}

TEST(NDArrayTest, FillRefusesValuesTheDTypeCannotHold) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Bad {
    double value;
    DType dtype;
    const char* mentions;
  };
  const Bad bad[] = {
      {nan, DType::kInt32, "cannot be stored in a int32 array"},
      {inf, DType::kInt64, "integers have no NaN or infinity"},
      {-inf, DType::kInt8, "int8"},
      {nan, DType::kUint8, "uint8"},
      {300, DType::kUint8, "300 is outside the range of uint8 [0, 255]"},
      {-1, DType::kUint8, "[0, 255]"},
      {-1.5, DType::kUint8, "uint8"},
      {128, DType::kInt8, "[-128, 127]"},
      {3e9, DType::kInt32, "[-2147483648, 2147483647]"},
      {9223372036854775808.0, DType::kInt64, "int64"},  // 2^63
      {1e300, DType::kFloat16, "1e+300 overflows float16"},
      {-70000, DType::kFloat16, "-inf"},
      {65520, DType::kFloat16, "float16"},  // rounds to infinity
      {1e300, DType::kFloat32, "overflows float32"},
      {1e39, DType::kBFloat16, "bfloat16"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(absl::StrCat(b.value, " as ", DTypeName(b.dtype)));
    NDArray a = *NDArray::Zeros({2}, Context::Cpu(), b.dtype);
    const absl::Status s = a.Fill(b.value);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(b.mentions));
    EXPECT_EQ(NDArray::Full({2}, b.value, Context::Cpu(), b.dtype).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(*a.ToVector<double>(), ElementsAre(0, 0));  // untouched
  }
  // What each dtype can hold is stored (truncated toward zero for integers, as MXNet does).
  EXPECT_THAT(*NDArray::Full({1}, 255.9, Context::Cpu(), DType::kUint8)->ToVector<double>(),
              ElementsAre(255));
  EXPECT_THAT(*NDArray::Full({1}, -0.5, Context::Cpu(), DType::kUint8)->ToVector<double>(),
              ElementsAre(0));
  EXPECT_THAT(*NDArray::Full({1}, -128, Context::Cpu(), DType::kInt8)->ToVector<double>(),
              ElementsAre(-128));
  EXPECT_THAT(
      *NDArray::Full({1}, -9223372036854775808.0, Context::Cpu(), DType::kInt64)
           ->ToVector<int64_t>(),
      ElementsAre(std::numeric_limits<int64_t>::min()));
  EXPECT_THAT(*NDArray::Full({1}, 65519, Context::Cpu(), DType::kFloat16)->ToVector<double>(),
              ElementsAre(65504));  // rounds down to float16's largest value
  EXPECT_THAT(*NDArray::Full({1}, 3.4e38, Context::Cpu(), DType::kFloat32)->ToVector<double>(),
              ElementsAre(::testing::DoubleNear(3.4e38, 1e31)));
  for (DType d : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    SCOPED_TRACE(DTypeName(d));
    EXPECT_THAT(*NDArray::Full({1}, -inf, Context::Cpu(), d)->ToVector<double>(),
                ElementsAre(-inf));  // infinities asked for are stored
    EXPECT_TRUE(std::isnan((*NDArray::Full({1}, nan, Context::Cpu(), d)->ToVector<double>())[0]));
  }
  EXPECT_TRUE(CheckFillValue(1e300, DType::kFloat64).ok());
  EXPECT_THAT(*NDArray::Full({1}, nan, Context::Cpu(), DType::kBool)->ToVector<double>(),
              ElementsAre(1));  // NaN is truthy, as in MXNet and NumPy
}

TEST(NDArrayTest, HostCopiesRoundTripEveryDtype) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kUint8,
                      DType::kInt32, DType::kInt8, DType::kInt64, DType::kBool,
                      DType::kBFloat16}) {
    NDArray a = *NDArray::Empty({2, 5}, Context::Cpu(), dtype);
    std::vector<uint8_t> in(a.nbytes());
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint8_t>(i * 7 + 1);
    if (dtype == DType::kBool) {
      for (auto& b : in) b &= 1;
    }
    ASSERT_TRUE(a.CopyFromHost(in.data(), in.size()).ok()) << DTypeName(dtype);
    std::vector<uint8_t> out(a.nbytes());
    ASSERT_TRUE(a.CopyToHost(out.data(), out.size()).ok());
    EXPECT_EQ(in, out) << DTypeName(dtype);
    // Copying to another array (and device object) keeps every byte.
    NDArray b = *a.CopyTo(Context::Cpu());
    std::vector<uint8_t> out2(b.nbytes());
    ASSERT_TRUE(b.CopyToHost(out2.data(), out2.size()).ok());
    EXPECT_EQ(in, out2) << DTypeName(dtype);
  }
}

TEST(NDArrayTest, WrapHostUsesTheMemoryAndReleasesItAfterTheLastUse) {
  alignas(64) static float memory[6] = {1, 2, 3, 4, 5, 6};
  std::atomic<int> released{0};
  {
    absl::StatusOr<NDArray> a =
        NDArray::WrapHost(memory, Shape({2, 3}), DType::kFloat32, Context::Cpu(1),
                          [&] { ++released; });
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->context(), Context::Cpu(1));
    absl::StatusOr<NDArray> row = a->At(1);
    ASSERT_TRUE(row.ok());
    absl::StatusOr<NDArray> b = NDArray::Empty(Shape({3}));
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(row->CopyTo(*b).ok());  // pending work reads the wrapped memory
    absl::StatusOr<std::vector<float>> got = b->ToVector<float>();
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, (std::vector<float>{4, 5, 6}));
    ASSERT_TRUE(a->Fill(7).ok());
    ASSERT_TRUE(a->WaitToRead().ok());
    EXPECT_EQ(memory[0], 7);  // writes land in the wrapped memory itself
  }
  ASSERT_TRUE(engine::Get()->WaitForAll().ok());
  EXPECT_EQ(released.load(), 1);
  EXPECT_EQ(NDArray::WrapHost(reinterpret_cast<char*>(memory) + 4, Shape({1}),
                              DType::kFloat32, Context::Cpu(), [] {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NDArray::WrapHost(memory, Shape({1}), DType::kFloat32, Context::Gpu(0), [] {})
                .status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NDArrayTest, HostCopyWithWrongSizeIsInvalidArgument) {
  NDArray a = *NDArray::Empty({2, 3});
  std::vector<float> small(5);
  absl::Status s = a.CopyFromHost(small.data(), small.size() * sizeof(float));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("24 bytes"));
  EXPECT_EQ(a.CopyToHost(small.data(), 20).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NDArrayTest, FromVectorAndToVectorConvert) {
  std::vector<int32_t> v = {1, -2, 3};
  NDArray a = *NDArray::FromVector<int32_t>({3}, v);
  EXPECT_EQ(a.dtype(), DType::kInt32);
  EXPECT_THAT(*a.ToVector<double>(), ElementsAre(1.0, -2.0, 3.0));
  std::vector<float> f = {0.5f, 1.5f};
  NDArray h = *NDArray::Empty({2}, Context::Cpu(), DType::kFloat16);
  ASSERT_TRUE((*NDArray::FromVector<float>({2}, f)).CopyTo(h).ok());
  EXPECT_THAT(*h.ToVector<float>(), ElementsAre(0.5f, 1.5f));
}

TEST(NDArrayTest, CopyToConvertsDtypeAndChecksShape) {
  NDArray a = *NDArray::Full({2, 2}, 2.75);
  NDArray i = *NDArray::Zeros({2, 2}, Context::Cpu(), DType::kInt64);
  ASSERT_TRUE(a.CopyTo(i).ok());
  EXPECT_THAT(*i.ToVector<int64_t>(), ElementsAre(2, 2, 2, 2));
  NDArray wrong = *NDArray::Zeros({4});
  absl::Status s = a.CopyTo(wrong);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("(2, 2)"));
  EXPECT_THAT(s.message(), HasSubstr("(4,)"));
}

TEST(NDArrayTest, GpuContextWithoutGpuIsFailedPrecondition) {
  if (gpu::DeviceCount() > 0) GTEST_SKIP() << "this machine has a GPU";
  absl::StatusOr<NDArray> g = NDArray::Zeros({2, 3}, Context::Gpu(0));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(g.status().message(), HasSubstr("gpu(0)"));
}

TEST(NDArrayTest, ViewAsReinterpretsWithinStorage) {
  NDArray block = *NDArray::Zeros({16}, Context::Cpu(), DType::kUint8);
  NDArray f = *block.ViewAs({2, 2}, DType::kFloat32);
  EXPECT_TRUE(f.SharesStorageWith(block));
  ASSERT_TRUE(f.Fill(1.5).ok());
  EXPECT_THAT(Values(*block.ViewAs({3}, DType::kFloat32)), ElementsAre(1.5, 1.5, 1.5));
  absl::StatusOr<NDArray> too_big = block.ViewAs({3}, DType::kFloat64);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.status().message(), HasSubstr("24 bytes"));
  // A view of a slice may not reach past the storage either.
  NDArray tail = *(*block.ViewAs({4}, DType::kFloat32)).Slice(2, 4);
  EXPECT_TRUE(tail.ViewAs({2}, DType::kFloat32).ok());
  EXPECT_FALSE(tail.ViewAs({3}, DType::kFloat32).ok());
}

TEST(NDArrayTest, SliceAndReshapeAreViewsSharingStorage) {
  NDArray a = *NDArray::Arange(0, 12);
  NDArray m = *a.Reshape({3, 4});
  EXPECT_TRUE(m.SharesStorageWith(a));
  NDArray rows = *m.Slice(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 4}));
  EXPECT_THAT(Values(rows), ElementsAre(4, 5, 6, 7, 8, 9, 10, 11));
  NDArray row = *m.At(2);
  EXPECT_EQ(row.shape(), (Shape{4}));
  EXPECT_THAT(Values(row), ElementsAre(8, 9, 10, 11));
  // Writing through a view changes the base array.
  ASSERT_TRUE(rows.Fill(-1).ok());
  EXPECT_THAT(Values(a), ElementsAre(0, 1, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1));
  ASSERT_TRUE(AddInPlace(row, 5).ok());
  EXPECT_THAT(Values(*m.At(2)), ElementsAre(4, 4, 4, 4));
  // A view keeps the storage alive after the base array is gone.
  NDArray survivor;
  {
    NDArray base = *NDArray::Arange(0, 6);
    survivor = *base.Slice(4, 6);
  }
  EXPECT_THAT(Values(survivor), ElementsAre(4, 5));
}

TEST(NDArrayTest, BadViewsAreInvalidArgument) {
  NDArray a = *NDArray::Zeros({3, 4});
  EXPECT_EQ(a.Slice(2, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Slice(-1, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Slice(2, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.At(3).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = a.Reshape({5, 2}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("(3, 4)"));
  EXPECT_EQ(a.Reshape({-12}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NDArray::Empty({-1, 2}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NDArrayTest, NoneArrayOperationsAreFailedPrecondition) {
  NDArray none;
  EXPECT_TRUE(none.is_none());
  EXPECT_EQ(none.Fill(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(none.WaitToRead().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(none.ToVector<float>().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Add(none, none).status().code(), absl::StatusCode::kFailedPrecondition);
}

// The tutorial's dependency example: b shares a's storage, c is a copy.
//   a = ones((2,3)); b = a; c = a.copyto(cpu()); a += 1; b *= 3; c *= 3
TEST(NDArrayTest, TutorialDependencyExample) {
  NDArray a = *NDArray::Ones({2, 3});
  NDArray b = a;
  NDArray c = *a.CopyTo(Context::Cpu());
  ASSERT_TRUE(AddInPlace(a, 1).ok());
  ASSERT_TRUE(MulInPlace(b, 3).ok());
  ASSERT_TRUE(MulInPlace(c, 3).ok());
  EXPECT_THAT(Values(a), ElementsAre(6, 6, 6, 6, 6, 6));
  EXPECT_THAT(Values(b), ElementsAre(6, 6, 6, 6, 6, 6));
  EXPECT_THAT(Values(c), ElementsAre(3, 3, 3, 3, 3, 3));
}

TEST(NDArrayTest, LongLazyChainsKeepPushOrder) {
  NDArray a = *NDArray::Zeros({1000});
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(AddInPlace(a, 1).ok());
    ASSERT_TRUE(MulInPlace(a, 2).ok());
  }
  ASSERT_TRUE(a.WaitToWrite().ok());
  // x -> 2(x+1) twenty times from 0 is 2^21 - 2 (exact in float32); any reordering differs.
  std::vector<float> v = Values(a);
  EXPECT_EQ(v[0], 2097150.0f);
  EXPECT_EQ(v[999], 2097150.0f);
}

TEST(NDArrayTest, ArraysFreedWithPendingWorkAreSafe) {
  for (int i = 0; i < 100; ++i) {
    NDArray a = *NDArray::Ones({4096});
    NDArray b = *Add(a, a);
    ASSERT_TRUE(MulInPlace(b, 3).ok());
    // a and b go out of scope with work pending; their memory is freed after it.
  }
  NDArray last = *NDArray::Ones({4});
  EXPECT_THAT(Values(last), ElementsAre(1, 1, 1, 1));
}

TEST(NDArrayTest, ErrorInLazyOperationSurfacesAtNextRead) {
  NDArray a = *NDArray::Full({3}, 6, Context::Cpu(), DType::kInt32);
  NDArray zero = *NDArray::Zeros({3}, Context::Cpu(), DType::kInt32);
  absl::StatusOr<NDArray> q = Div(a, zero);  // returns before the work runs
  ASSERT_TRUE(q.ok());
  absl::StatusOr<NDArray> r = Add(*q, 1);  // depends on the failed result: skipped
  ASSERT_TRUE(r.ok());
  absl::Status s = r->WaitToRead();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("division by zero"));
  // Inputs are untouched and usable.
  EXPECT_THAT(*a.ToVector<int32_t>(), ElementsAre(6, 6, 6));
}

}  // namespace
}  // namespace mxgrid::tensor
