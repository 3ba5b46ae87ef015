// The product path on MXNet's own files: tensor::Load of every file real MXNet 1.9.1 wrote
// (make_golden.py) gives NDArrays with the golden values, and tensor::Save writes the same
// bytes back for the dense ones.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/ndarray_io.h"
#include "tests/golden/golden_values.h"

namespace mxgrid::golden {
namespace {

using ::testing::ElementsAre;
using tensor::LoadedArrays;
using tensor::NDArray;

const std::string kDir = "tests/golden/data/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void ExpectGolden(const NDArray& a) {
  const std::vector<double> values = *a.ToVector<double>();
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(values[i], GoldenValue(a.dtype(), i)) << DTypeName(a.dtype()) << " at " << i;
  }
}

TEST(GoldenNDArrayTest, EveryDtypeLoadsAndSavesBackIdentically) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kUint8,
                      DType::kInt32, DType::kInt8, DType::kInt64, DType::kBool,
                      DType::kBFloat16}) {
    const std::string name = kDir + "dtype_" + std::string(DTypeName(dtype)) + ".params";
    absl::StatusOr<LoadedArrays> loaded = tensor::Load(name);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_EQ(loaded->arrays.size(), 3u) << name;
    EXPECT_EQ(loaded->arrays[0].shape(), (Shape{5}));
    EXPECT_EQ(loaded->arrays[1].shape(), (Shape{2, 3, 4}));
    EXPECT_EQ(loaded->arrays[2].shape(), (Shape{2, 0}));
    for (const NDArray& a : loaded->arrays) {
      EXPECT_EQ(a.dtype(), dtype);
      ExpectGolden(a);
    }
    const std::string out = std::string(std::getenv("TEST_TMPDIR")) + "/resaved.params";
    ASSERT_TRUE(tensor::Save(out, loaded->arrays).ok());
    EXPECT_EQ(ReadFile(out), ReadFile(name)) << name << " is not reproduced byte for byte";
  }
}

TEST(GoldenNDArrayTest, CheckpointDictKeepsNamesAndOrder) {
  LoadedArrays loaded = *tensor::Load(kDir + "dict.params");
  ASSERT_EQ(loaded.names.size(), loaded.arrays.size());
  for (const std::string& n : loaded.names) {
    EXPECT_TRUE(n.rfind("arg:", 0) == 0 || n.rfind("aux:", 0) == 0) << n;
  }
  const std::string out = std::string(std::getenv("TEST_TMPDIR")) + "/dict.params";
  ASSERT_TRUE(tensor::Save(out, loaded.arrays, loaded.names).ok());
  EXPECT_EQ(ReadFile(out), ReadFile(kDir + "dict.params"));
}

TEST(GoldenNDArrayTest, SparseFilesLoadDense) {
  for (const char* name : {"row_sparse.params", "csr.params"}) {
    absl::StatusOr<LoadedArrays> loaded = tensor::Load(kDir + name);
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status();
    ASSERT_FALSE(loaded->arrays.empty());
    // Densified: zeros outside the stored rows/values, so the sum of |x| is positive and
    // some element is zero.
    std::vector<double> v = *loaded->arrays[0].ToVector<double>();
    double abs_sum = 0;
    int zeros = 0;
    for (double x : v) {
      abs_sum += x < 0 ? -x : x;
      zeros += x == 0;
    }
    EXPECT_GT(abs_sum, 0) << name;
    EXPECT_GT(zeros, 0) << name;
  }
}

TEST(GoldenNDArrayTest, PickleRecordLoadsFromBytesAndIsReproduced) {
  const std::string bytes = ReadFile(kDir + "pickle_float32_2x3.bin");
  NDArray a = *tensor::LoadFromBytes(absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  ExpectGolden(a);
  EXPECT_EQ(*tensor::SaveToBytes(a), bytes);
}

TEST(GoldenNDArrayTest, NpShapeFileWithScalarLoads) {
  absl::StatusOr<LoadedArrays> loaded = tensor::Load(kDir + "np_v3.params");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  bool saw_scalar = false;
  for (const NDArray& a : loaded->arrays) saw_scalar |= !a.is_none() && a.shape().ndim() == 0;
  EXPECT_TRUE(saw_scalar);
}

}  // namespace
}  // namespace mxgrid::golden
