// Round trips and exact bytes of the writer; see ndarray_legacy_test.cc for hand-built
// records of other versions and ndarray_hostile_test.cc for broken input.
#include "libs/tensor/format/ndarray_format.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/format/testing/record_builder.h"

namespace mxgrid::tensor::format {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Buffers;

constexpr DType kAllDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16,
                                DType::kUint8,   DType::kInt32,   DType::kInt8,
                                DType::kInt64,   DType::kBool,    DType::kBFloat16};

// Deterministic bytes for an array: value i is (i * 3 - 7) in the dtype.
std::vector<uint8_t> MakeValues(DType dtype, int64_t count) {
  std::vector<uint8_t> bytes(count * DTypeSize(dtype));
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < count; ++i) {
      T value = FromDouble<T>(static_cast<double>(i * 3 - 7));
      std::memcpy(bytes.data() + i * sizeof(T), &value, sizeof(T));
    }
  });
  return bytes;
}

std::vector<uint8_t> ToBytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(NDArrayFormatTest, WorkedExampleHasExactBytes) {
  const float values[] = {1, 2, 3, 4};
  ArrayView array{DType::kFloat32, Shape{2, 2}, Context::Cpu(), values};
  const std::string name = "arg:fc1";
  StringSink sink;
  ASSERT_TRUE(WriteList({&array, 1}, {&name, 1}, &sink).ok());
  // The 103 bytes of shared/reference/mxnet-1x.md section 1.3.
  const uint8_t expected[] = {
      0x12, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                  //
      0x01, 0, 0, 0, 0, 0, 0, 0, 0xc9, 0xfa, 0x93, 0xf9, 0, 0, 0, 0,          //
      0x02, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0,                //
      0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                      //
      0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40,    //
      0x01, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0,                   //
      'a', 'r', 'g', ':', 'f', 'c', '1'};
  static_assert(sizeof(expected) == 103);
  EXPECT_EQ(ToBytes(sink.contents()), std::vector<uint8_t>(expected, expected + 103));
}

TEST(NDArrayFormatTest, EveryDTypeRoundTripsAsList) {
  std::vector<std::vector<uint8_t>> data;
  std::vector<ArrayView> arrays;
  const Shape shapes[] = {Shape{5}, Shape{2, 3, 4}, Shape{3, 0}};
  for (DType dtype : kAllDTypes) {
    for (const Shape& shape : shapes) {
      data.push_back(MakeValues(dtype, shape.Size()));
      arrays.push_back(ArrayView{dtype, shape, Context::Cpu(), data.back().data()});
    }
  }
  StringSink sink;
  ASSERT_TRUE(WriteList(arrays, {}, &sink).ok());
  const std::vector<uint8_t> bytes = ToBytes(sink.contents());
  MemorySource source(bytes);
  Buffers buffers;
  auto contents = ReadList(&source, buffers.Allocator());
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_TRUE(contents->names.empty());
  ASSERT_EQ(contents->headers.size(), arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    const RecordHeader& header = contents->headers[i];
    EXPECT_FALSE(header.is_none);
    EXPECT_EQ(header.dtype, arrays[i].dtype) << i;
    EXPECT_EQ(header.shape, arrays[i].shape) << i;
    EXPECT_EQ(header.ctx, Context::Cpu());
    EXPECT_EQ(buffers.buffers()[i], data[i]) << "array " << i;
  }
  EXPECT_EQ(source.remaining(), 0u);
}

TEST(NDArrayFormatTest, DictKeepsNamesAndContexts) {
  const int32_t a[] = {1, -2, 3};
  const double b[] = {0.5};
  const std::vector<ArrayView> arrays = {
      {DType::kInt32, Shape{3}, Context::Gpu(1), a},
      {DType::kFloat64, Shape{1, 1}, Context::CpuPinned(0), b},
  };
  const std::vector<std::string> names = {"aux:bn_moving_mean", "arg:w\xc3\xa9"};
  StringSink sink;
  ASSERT_TRUE(WriteList(arrays, names, &sink).ok());
  const std::vector<uint8_t> bytes = ToBytes(sink.contents());
  MemorySource source(bytes);
  Buffers buffers;
  auto contents = ReadList(&source, buffers.Allocator());
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->names, names);
  EXPECT_EQ(contents->headers[0].ctx, Context::Gpu(1));
  EXPECT_EQ(contents->headers[1].ctx, Context::CpuPinned(0));
  EXPECT_THAT(buffers.As<int32_t>(0), ElementsAre(1, -2, 3));
  EXPECT_THAT(buffers.As<double>(1), ElementsAre(0.5));
}

TEST(NDArrayFormatTest, EmptyListRoundTrips) {
  StringSink sink;
  ASSERT_TRUE(WriteList({}, {}, &sink).ok());
  EXPECT_EQ(sink.contents().size(), 32u);
  const std::vector<uint8_t> bytes = ToBytes(sink.contents());
  MemorySource source(bytes);
  Buffers buffers;
  auto contents = ReadList(&source, buffers.Allocator());
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_TRUE(contents->headers.empty());
}

TEST(NDArrayFormatTest, SingleRecordMatchesMXNetPickleBytes) {
  const float values[] = {1, 2, 3, 4};
  StringSink sink;
  ASSERT_TRUE(
      WriteRecord({DType::kFloat32, Shape{2, 2}, Context::Cpu(), values}, &sink).ok());
  // bytes(mx.nd.array([[1,2],[3,4]]).__getstate__()['handle']) from MXNet 1.9.1.
  testing::RecordBuilder expected;
  expected.U32(kRecordV2Magic).I32(0).TShape({2, 2}).Ctx(1, 0).I32(0).Values<float>(
      {1, 2, 3, 4});
  EXPECT_EQ(sink.contents(), expected.bytes());
  const std::vector<uint8_t> bytes = ToBytes(sink.contents());
  MemorySource source(bytes);
  Buffers buffers;
  RecordHeader header;
  ASSERT_TRUE(ReadRecord(&source, buffers.Allocator(), &header).ok());
  EXPECT_EQ(header.shape, (Shape{2, 2}));
  EXPECT_THAT(buffers.As<float>(0), ElementsAre(1, 2, 3, 4));
}

TEST(NDArrayFormatTest, FileRoundTrip) {
  const std::string path = ::testing::TempDir() + "/ndarray_format_test.params";
  std::vector<float> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.25f;
  const ArrayView array{DType::kFloat32, Shape{100, 1000}, Context::Cpu(), big.data()};
  const std::string name = "arg:big";
  {
    auto sink = OpenFileSink(path);
    ASSERT_TRUE(sink.ok()) << sink.status();
    ASSERT_TRUE(WriteList({&array, 1}, {&name, 1}, sink->get()).ok());
    ASSERT_TRUE((*sink)->Flush().ok());
  }
  auto source = OpenFileSource(path);
  ASSERT_TRUE(source.ok()) << source.status();
  Buffers buffers;
  auto contents = ReadList(source->get(), buffers.Allocator());
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_THAT(contents->names, ElementsAre("arg:big"));
  EXPECT_EQ(buffers.As<float>(0), big);
}

TEST(NDArrayFormatTest, ScalarCannotBeWrittenInV2) {
  const float value = 1;
  StringSink sink;
  absl::Status status = WriteRecord({DType::kFloat32, Shape{}, Context::Cpu(), &value}, &sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("scalar"));
  EXPECT_TRUE(sink.contents().empty());
}

TEST(NDArrayFormatTest, NameCountMismatchIsInvalidArgumentAndWritesNothing) {
  const float value = 1;
  const ArrayView array{DType::kFloat32, Shape{1}, Context::Cpu(), &value};
  const std::vector<std::string> names = {"a", "b"};
  StringSink sink;
  absl::Status status = WriteList({&array, 1}, names, &sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("2 names for 1 arrays"));
  EXPECT_TRUE(sink.contents().empty());
}

TEST(NDArrayFormatTest, InvalidArraysAreRejectedBeforeWriting) {
  const float value = 1;
  StringSink sink;
  const std::vector<ArrayView> bad = {
      {DType::kFloat32, Shape{2}, Context::Cpu(), nullptr},              // no data
      {static_cast<DType>(9), Shape{1}, Context::Cpu(), &value},         // uint16
      {DType::kFloat32, Shape{-1}, Context::Cpu(), &value},               // negative dim
      {DType::kFloat32, Shape{1}, Context{static_cast<DeviceType>(7), 0}, &value},
  };
  for (const ArrayView& array : bad) {
    const ArrayView list[] = {{DType::kFloat32, Shape{1}, Context::Cpu(), &value}, array};
    EXPECT_EQ(WriteList(list, {}, &sink).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(WriteRecord(array, &sink).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(sink.contents().empty());
}

TEST(NDArrayFormatTest, BoolsAreNormalizedOnLoad) {
  testing::RecordBuilder b;
  b.U32(kRecordV2Magic).I32(0).TShape({4}).Ctx(1, 0).I32(7).Values<uint8_t>({0, 1, 2, 255});
  MemorySource source(b.span());
  Buffers buffers;
  RecordHeader header;
  ASSERT_TRUE(ReadRecord(&source, buffers.Allocator(), &header).ok());
  EXPECT_EQ(header.dtype, DType::kBool);
  EXPECT_THAT(buffers.buffers()[0], ElementsAre(0, 1, 1, 1));
}

TEST(NDArrayFormatTest, AllocatorErrorIsReturned) {
  const float values[] = {1, 2};
  StringSink sink;
  ASSERT_TRUE(WriteRecord({DType::kFloat32, Shape{2}, Context::Cpu(), values}, &sink).ok());
  const std::vector<uint8_t> bytes = ToBytes(sink.contents());
  MemorySource source(bytes);
  RecordHeader header;
  absl::Status status = ReadRecord(
      &source,
      [](const RecordHeader&) -> absl::StatusOr<void*> {
        return absl::ResourceExhaustedError("no memory");
      },
      &header);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace mxgrid::tensor::format
