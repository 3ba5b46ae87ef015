// Loads the files real MXNet 1.9.1 wrote (make_golden.py) and checks every value, shape,
// dtype and name; dense files must also be reproduced byte for byte by the writer.
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/format/ndarray_format.h"
#include "tests/golden/golden_values.h"

namespace mxgrid::golden {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using tensor::format::ArrayView;
using tensor::format::ListContents;
using tensor::format::MemorySource;
using tensor::format::RecordHeader;
using tensor::format::StringSink;

// Bazel runs tests in the runfiles root, where data files keep their workspace paths.
std::vector<uint8_t> ReadGolden(const std::string& name) {
  std::ifstream in("tests/golden/data/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A loaded file: headers, names and one buffer per non-none record.
struct Loaded {
  ListContents contents;
  std::vector<std::vector<uint8_t>> buffers;
  const std::vector<uint8_t>& buffer(size_t i) const { return buffers.at(i); }
};

Loaded LoadGolden(const std::string& name) {
  const std::vector<uint8_t> bytes = ReadGolden(name);
  MemorySource source(bytes);
  Loaded loaded;
  auto contents = tensor::format::ReadList(
      &source, [&](const RecordHeader& h) -> absl::StatusOr<void*> {
        loaded.buffers.emplace_back(h.shape.Size() * DTypeSize(h.dtype));
        return static_cast<void*>(loaded.buffers.back().data());
      });
  EXPECT_TRUE(contents.ok()) << name << ": " << contents.status();
  EXPECT_EQ(source.remaining(), 0u) << name;
  if (contents.ok()) loaded.contents = *std::move(contents);
  return loaded;
}

// Expects a dense buffer of `header` to hold the golden formula.
void ExpectFormula(const RecordHeader& header, const std::vector<uint8_t>& buffer) {
  ASSERT_EQ(buffer.size(), header.shape.Size() * DTypeSize(header.dtype));
  for (int64_t i = 0; i < header.shape.Size(); ++i) {
    EXPECT_EQ(ElementAt(header.dtype, buffer.data(), i), GoldenValue(header.dtype, i))
        << DTypeName(header.dtype) << " element " << i;
  }
}

std::vector<double> AsDoubles(const RecordHeader& header, const std::vector<uint8_t>& buffer) {
  std::vector<double> out;
  for (int64_t i = 0; i < header.shape.Size(); ++i) {
    out.push_back(ElementAt(header.dtype, buffer.data(), i));
  }
  return out;
}

// Writes `loaded` back (a list, or a dict if it has names) and expects the original bytes.
void ExpectWriterReproduces(const std::string& name, const Loaded& loaded) {
  std::vector<ArrayView> arrays;
  for (size_t i = 0; i < loaded.contents.headers.size(); ++i) {
    const RecordHeader& h = loaded.contents.headers[i];
    arrays.push_back(ArrayView{h.dtype, h.shape, h.ctx, loaded.buffer(i).data()});
  }
  StringSink sink;
  ASSERT_TRUE(tensor::format::WriteList(arrays, loaded.contents.names, &sink).ok());
  const std::vector<uint8_t> original = ReadGolden(name);
  EXPECT_EQ(std::vector<uint8_t>(sink.contents().begin(), sink.contents().end()), original)
      << name;
}

class GoldenDTypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(GoldenDTypeTest, LoadsEveryShapeWithFormulaValues) {
  const DType dtype = GetParam();
  const std::string name = "dtype_" + std::string(DTypeName(dtype)) + ".params";
  const Loaded loaded = LoadGolden(name);
  const std::vector<Shape> shapes = {Shape{5}, Shape{2, 3, 4}, Shape{2, 0}};
  ASSERT_EQ(loaded.contents.headers.size(), shapes.size());
  EXPECT_TRUE(loaded.contents.names.empty());
  for (size_t i = 0; i < shapes.size(); ++i) {
    const RecordHeader& header = loaded.contents.headers[i];
    EXPECT_FALSE(header.is_none);
    EXPECT_EQ(header.dtype, dtype);
    EXPECT_EQ(header.shape, shapes[i]);
    EXPECT_EQ(header.ctx, Context::Cpu());
    ExpectFormula(header, loaded.buffer(i));
  }
  ExpectWriterReproduces(name, loaded);
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, GoldenDTypeTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat64, DType::kFloat16,
                                           DType::kUint8, DType::kInt32, DType::kInt8,
                                           DType::kInt64, DType::kBool, DType::kBFloat16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

TEST(GoldenLoadTest, List) {
  const Loaded loaded = LoadGolden("list.params");
  ASSERT_EQ(loaded.contents.headers.size(), 3u);
  EXPECT_TRUE(loaded.contents.names.empty());
  const std::vector<std::pair<DType, Shape>> expected = {
      {DType::kFloat32, Shape{3}}, {DType::kInt64, Shape{2, 2}}, {DType::kUint8, Shape{1}}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(loaded.contents.headers[i].dtype, expected[i].first);
    EXPECT_EQ(loaded.contents.headers[i].shape, expected[i].second);
    ExpectFormula(loaded.contents.headers[i], loaded.buffer(i));
  }
  ExpectWriterReproduces("list.params", loaded);
}

TEST(GoldenLoadTest, CheckpointDict) {
  const Loaded loaded = LoadGolden("dict.params");
  EXPECT_THAT(loaded.contents.names, ElementsAre("arg:fc1_weight", "arg:fc1_bias",
                                                 "aux:bn_moving_mean", "aux:bn_moving_var"));
  ASSERT_EQ(loaded.contents.headers.size(), 4u);
  const std::vector<std::pair<DType, Shape>> expected = {{DType::kFloat32, Shape{4, 3}},
                                                         {DType::kFloat32, Shape{4}},
                                                         {DType::kFloat32, Shape{3}},
                                                         {DType::kFloat64, Shape{3}}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(loaded.contents.headers[i].dtype, expected[i].first);
    EXPECT_EQ(loaded.contents.headers[i].shape, expected[i].second);
    ExpectFormula(loaded.contents.headers[i], loaded.buffer(i));
  }
  ExpectWriterReproduces("dict.params", loaded);
}

TEST(GoldenLoadTest, RowSparseIsDensified) {
  const Loaded loaded = LoadGolden("row_sparse.params");
  ASSERT_EQ(loaded.contents.headers.size(), 3u);
  const auto& h = loaded.contents.headers;
  EXPECT_EQ(h[0].shape, (Shape{5, 2}));
  EXPECT_EQ(h[0].dtype, DType::kFloat32);
  // Rows 1 and 3 hold the formula's (2, 2) values.
  EXPECT_THAT(AsDoubles(h[0], loaded.buffer(0)),
              ElementsAre(0, 0, -3.5, -2, 0, 0, -0.5, 1, 0, 0));
  EXPECT_EQ(h[1].shape, (Shape{3, 4}));
  EXPECT_THAT(AsDoubles(h[1], loaded.buffer(1)), ElementsAreArray(std::vector<double>(12, 0)));
  EXPECT_EQ(h[2].shape, (Shape{4, 2, 3}));
  EXPECT_EQ(h[2].dtype, DType::kFloat64);
  std::vector<double> expected(24, 0.0);
  for (int i = 0; i < 6; ++i) expected[i] = GoldenValue(DType::kFloat64, i);
  for (int i = 6; i < 12; ++i) expected[12 + i] = GoldenValue(DType::kFloat64, i);
  EXPECT_THAT(AsDoubles(h[2], loaded.buffer(2)), ElementsAreArray(expected));
}

TEST(GoldenLoadTest, CsrIsDensified) {
  const Loaded loaded = LoadGolden("csr.params");
  ASSERT_EQ(loaded.contents.headers.size(), 3u);
  const auto& h = loaded.contents.headers;
  EXPECT_EQ(h[0].shape, (Shape{3, 4}));
  EXPECT_THAT(AsDoubles(h[0], loaded.buffer(0)),
              ElementsAre(-3.5, 0, -2, 0, 0, 0, 0, 0, 0, -0.5, 0, 0));
  EXPECT_THAT(AsDoubles(h[1], loaded.buffer(1)), ElementsAreArray(std::vector<double>(12, 0)));
  EXPECT_EQ(h[2].shape, (Shape{4, 3}));
  EXPECT_EQ(h[2].dtype, DType::kInt64);
  EXPECT_THAT(AsDoubles(h[2], loaded.buffer(2)),
              ElementsAre(0, -7, 0, -4, 0, -1, 0, 0, 0, 0, 2, 0));
}

TEST(GoldenLoadTest, PickledSingleRecord) {
  const std::vector<uint8_t> bytes = ReadGolden("pickle_float32_2x3.bin");
  MemorySource source(bytes);
  std::vector<uint8_t> buffer;
  RecordHeader header;
  ASSERT_TRUE(tensor::format::ReadRecord(
                  &source,
                  [&](const RecordHeader& h) -> absl::StatusOr<void*> {
                    buffer.resize(h.shape.Size() * DTypeSize(h.dtype));
                    return static_cast<void*>(buffer.data());
                  },
                  &header)
                  .ok());
  EXPECT_EQ(source.remaining(), 0u);
  EXPECT_EQ(header.shape, (Shape{2, 3}));
  EXPECT_EQ(header.dtype, DType::kFloat32);
  ExpectFormula(header, buffer);
  StringSink sink;
  ASSERT_TRUE(
      tensor::format::WriteRecord({header.dtype, header.shape, header.ctx, buffer.data()}, &sink)
          .ok());
  EXPECT_EQ(std::vector<uint8_t>(sink.contents().begin(), sink.contents().end()), bytes);
}

TEST(GoldenLoadTest, NpShapeV3WithScalarAndEmpty) {
  const Loaded loaded = LoadGolden("np_v3.params");
  EXPECT_THAT(loaded.contents.names, ElementsAre("scalar", "empty", "matrix"));
  ASSERT_EQ(loaded.contents.headers.size(), 3u);
  const auto& h = loaded.contents.headers;
  EXPECT_EQ(h[0].shape.ndim(), 0);
  EXPECT_FALSE(h[0].is_none);
  EXPECT_THAT(AsDoubles(h[0], loaded.buffer(0)), ElementsAre(3.5));
  EXPECT_EQ(h[1].shape, (Shape{2, 0}));
  EXPECT_FALSE(h[1].is_none);
  EXPECT_EQ(h[2].shape, (Shape{2, 3}));
  EXPECT_EQ(h[2].dtype, DType::kInt32);
  ExpectFormula(h[2], loaded.buffer(2));
}

}  // namespace
}  // namespace mxgrid::golden
