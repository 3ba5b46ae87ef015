#include "libs/tensor/ndarray_io.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::tensor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

// The tutorial: save a list and a dict of two arrays, load them back.
TEST(NDArrayIoTest, TutorialListAndDictRoundTrip) {
  NDArray a = *Mul(*NDArray::Ones({2, 3}), 2);
  NDArray b = *Mul(*NDArray::Ones({2, 3}), 3);
  const std::string path = TempPath("mydata.bin");
  ASSERT_TRUE(Save(path, {a, b}).ok());
  LoadedArrays c = *Load(path);
  EXPECT_TRUE(c.names.empty());
  ASSERT_EQ(c.arrays.size(), 2u);
  EXPECT_THAT(*c.arrays[0].ToVector<float>(), ElementsAre(2, 2, 2, 2, 2, 2));
  EXPECT_THAT(*c.arrays[1].ToVector<float>(), ElementsAre(3, 3, 3, 3, 3, 3));
  EXPECT_EQ(c.arrays[1].shape(), (Shape{2, 3}));

  ASSERT_TRUE(Save(path, {a, b}, {"a", "b"}).ok());
  LoadedArrays d = *Load(path);
  EXPECT_THAT(d.names, ElementsAre("a", "b"));
  EXPECT_THAT(*d.arrays[1].ToVector<float>(), ElementsAre(3, 3, 3, 3, 3, 3));
}

TEST(NDArrayIoTest, EveryDtypeRoundTripsThroughFileAndBytes) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kUint8,
                      DType::kInt32, DType::kInt8, DType::kInt64, DType::kBool,
                      DType::kBFloat16}) {
    NDArray src = *NDArray::Arange(0, 24);
    NDArray a = *NDArray::Empty({2, 3, 4}, Context::Cpu(), dtype);
    ASSERT_TRUE(src.Reshape({2, 3, 4})->CopyTo(a).ok());
    const std::vector<double> want = *a.ToVector<double>();
    const std::string path = TempPath(std::string("dtype_") + std::string(DTypeName(dtype)));
    ASSERT_TRUE(Save(path, {a}, {"x"}).ok());
    LoadedArrays loaded = *Load(path);
    ASSERT_EQ(loaded.arrays.size(), 1u);
    EXPECT_EQ(loaded.arrays[0].dtype(), dtype);
    EXPECT_EQ(loaded.arrays[0].shape(), (Shape{2, 3, 4}));
    EXPECT_EQ(*loaded.arrays[0].ToVector<double>(), want) << DTypeName(dtype);

    std::string bytes = *SaveToBytes(a);
    NDArray back = *LoadFromBytes(absl::Span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    EXPECT_EQ(*back.ToVector<double>(), want) << DTypeName(dtype);
  }
}

TEST(NDArrayIoTest, SavingWaitsForPendingWrites) {
  NDArray a = *NDArray::Zeros({1000});
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(AddInPlace(a, 1).ok());
  const std::string path = TempPath("pending.params");
  ASSERT_TRUE(Save(path, {a}).ok());
  EXPECT_EQ((*Load(path)->arrays[0].ToVector<float>())[999], 50.0f);
}

TEST(NDArrayIoTest, ViewsSaveOnlyTheirElements) {
  NDArray a = *NDArray::Arange(0, 12)->Reshape({4, 3});
  const std::string path = TempPath("view.params");
  ASSERT_TRUE(Save(path, {*a.Slice(1, 3)}).ok());
  NDArray loaded = Load(path)->arrays[0];
  EXPECT_EQ(loaded.shape(), (Shape{2, 3}));
  EXPECT_THAT(*loaded.ToVector<float>(), ElementsAre(3, 4, 5, 6, 7, 8));
}

TEST(NDArrayIoTest, BadRequestsAreClearErrors) {
  NDArray a = *NDArray::Ones({2});
  const std::string path = TempPath("bad.params");
  EXPECT_EQ(Save(path, {a, a}, {"only_one"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Save(path, {NDArray()}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Save("/nonexistent-dir/x.params", {a}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Load(TempPath("does-not-exist.params")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(NDArrayIoTest, TruncatedFileIsDataLossWithOffset) {
  NDArray a = *NDArray::Ones({64});
  const std::string path = TempPath("trunc.params");
  ASSERT_TRUE(Save(path, {a}).ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 10));
  out.close();
  absl::Status s = Load(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("offset"));
  EXPECT_THAT(s.message(), HasSubstr(path));
}

}  // namespace
}  // namespace mxgrid::tensor
