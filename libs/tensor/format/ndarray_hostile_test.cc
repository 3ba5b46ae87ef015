// Truncated, corrupt and hostile input: every failure is a status naming a byte offset,
// never a crash or an allocation the input cannot justify.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/format/ndarray_format.h"
#include "libs/tensor/format/testing/record_builder.h"

namespace mxgrid::tensor::format {
namespace {

using ::testing::HasSubstr;
using testing::RecordBuilder;

// An allocator that refuses anything over 1 MiB and counts its calls.
struct CappedAllocator {
  int calls = 0;
  std::vector<std::vector<uint8_t>> buffers;
  AllocateFn Fn() {
    return [this](const RecordHeader& h) -> absl::StatusOr<void*> {
      ++calls;
      const uint64_t bytes = static_cast<uint64_t>(h.shape.Size()) * DTypeSize(h.dtype);
      if (bytes > (1u << 20)) return absl::ResourceExhaustedError("too big");
      buffers.emplace_back(bytes);
      return static_cast<void*>(buffers.back().data());
    };
  }
};

absl::Status ReadListStatus(const RecordBuilder& b, CappedAllocator* allocator) {
  MemorySource source(b.span());
  return ReadList(&source, allocator->Fn()).status();
}

absl::Status ReadRecordStatus(const RecordBuilder& b, CappedAllocator* allocator) {
  MemorySource source(b.span());
  RecordHeader header;
  return ReadRecord(&source, allocator->Fn(), &header);
}

// Expects `status` to have `code` and mention `offset` and `text`.
void ExpectError(const absl::Status& status, absl::StatusCode code, const std::string& text) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(status.message(), HasSubstr("offset")) << status;
  EXPECT_THAT(status.message(), HasSubstr(text)) << status;
}

// A dict with a dense, a row_sparse, a csr and a none record.
RecordBuilder ValidFile() {
  RecordBuilder b;
  b.ListHeader(4);
  b.U32(kRecordV2Magic).I32(0).TShape({2, 2}).Ctx(1, 0).I32(0).Values<float>({1, 2, 3, 4});
  b.U32(kRecordV2Magic).I32(1).TShape({1, 2}).TShape({3, 2}).Ctx(1, 0).I32(4);
  b.I32(6).TShape({1}).Values<int32_t>({5, 6}).Values<int64_t>({2});
  b.U32(kRecordV2Magic).I32(2).TShape({2}).TShape({2, 2}).Ctx(1, 0).I32(3);
  b.I32(6).TShape({3}).I32(6).TShape({2}).Values<uint8_t>({7, 8});
  b.Values<int64_t>({0, 1, 2}).Values<int64_t>({1, 0});
  b.U32(kRecordV3Magic).I32(0).I32(-1);
  b.U64(4).Str("arg:a").Str("arg:b").Str("aux:c").Str("d");
  return b;
}

TEST(NDArrayHostileTest, ValidFileLoads) {
  CappedAllocator allocator;
  EXPECT_TRUE(ReadListStatus(ValidFile(), &allocator).ok());
  EXPECT_EQ(allocator.calls, 3);
}

TEST(NDArrayHostileTest, EveryTruncationFailsWithAnOffset) {
  const RecordBuilder file = ValidFile();
  for (size_t length = 0; length < file.size(); ++length) {
    MemorySource source(file.span().subspan(0, length));
    CappedAllocator allocator;
    absl::Status status = ReadList(&source, allocator.Fn()).status();
    ASSERT_FALSE(status.ok()) << "prefix of " << length << " bytes loaded";
    EXPECT_TRUE(status.code() == absl::StatusCode::kDataLoss ||
                status.code() == absl::StatusCode::kInvalidArgument)
        << status;
    EXPECT_THAT(status.message(), HasSubstr("offset")) << status;
    // Records after the list header, read alone, fail too.
    if (length > 24) {
      MemorySource records(file.span().subspan(24, length - 24));
      RecordHeader header;
      (void)ReadRecord(&records, allocator.Fn(), &header);
    }
  }
}

TEST(NDArrayHostileTest, BadListMagic) {
  RecordBuilder b;
  b.U64(0x113).U64(0).U64(0).U64(0);
  CappedAllocator allocator;
  ExpectError(ReadListStatus(b, &allocator), absl::StatusCode::kDataLoss,
              "not an MXNet NDArray file: header 0x113 at byte offset 0");
}

TEST(NDArrayHostileTest, BadRecordMagic) {
  RecordBuilder b;
  b.ListHeader(1).U32(0xF993FACB);
  CappedAllocator allocator;
  ExpectError(ReadListStatus(b, &allocator), absl::StatusCode::kDataLoss,
              "bad NDArray record magic 0xF993FACB at byte offset 24");
}

TEST(NDArrayHostileTest, HugeCountsAllocateNothing) {
  CappedAllocator allocator;
  RecordBuilder arrays;
  arrays.ListHeader(uint64_t{1} << 62);
  ExpectError(ReadListStatus(arrays, &allocator), absl::StatusCode::kDataLoss,
              "array count 4611686018427387904 at byte offset 16");
  RecordBuilder names;
  names.ListHeader(0).U64(1);
  ExpectError(ReadListStatus(names, &allocator), absl::StatusCode::kDataLoss,
              "name count 1 at byte offset 24");
  RecordBuilder name_length;
  name_length.ListHeader(1).U32(0).U64(1).U64(uint64_t{1} << 60).Bytes("abc", 3);
  ExpectError(ReadListStatus(name_length, &allocator), absl::StatusCode::kDataLoss,
              "name needs 1152921504606846976 bytes");
  EXPECT_EQ(allocator.calls, 0);
}

TEST(NDArrayHostileTest, HugeShapesAllocateNothing) {
  CappedAllocator allocator;
  RecordBuilder overflow;  // 2^80 elements
  overflow.U32(kRecordV2Magic).I32(0).TShape({1LL << 40, 1LL << 40}).Ctx(1, 0).I32(0);
  ExpectError(ReadRecordStatus(overflow, &allocator), absl::StatusCode::kInvalidArgument,
              "byte offset 8");
  RecordBuilder big;  // 2^50 floats declared, 4 bytes present
  big.U32(kRecordV2Magic).I32(0).TShape({1LL << 30, 1LL << 20}).Ctx(1, 0).I32(0).U32(0);
  ExpectError(ReadRecordStatus(big, &allocator), absl::StatusCode::kDataLoss,
              "needs 4503599627370496 bytes");
  RecordBuilder legacy;  // legacy u32 dims: 2^32-1 x 2^32-1
  legacy.U32(2).U32(0xFFFFFFFF).U32(0xFFFFFFFF).Ctx(1, 0).I32(0);
  EXPECT_FALSE(ReadRecordStatus(legacy, &allocator).ok());
  EXPECT_EQ(allocator.calls, 0);
}

TEST(NDArrayHostileTest, BadNdimAndDims) {
  CappedAllocator allocator;
  RecordBuilder ndim33;
  ndim33.U32(kRecordV2Magic).I32(0).I32(33);
  ExpectError(ReadRecordStatus(ndim33, &allocator), absl::StatusCode::kInvalidArgument,
              "invalid ndim 33 at byte offset 8");
  RecordBuilder ndim_negative;
  ndim_negative.U32(kRecordV1Magic).I32(-5);
  ExpectError(ReadRecordStatus(ndim_negative, &allocator), absl::StatusCode::kInvalidArgument,
              "invalid ndim -5 at byte offset 4");
  RecordBuilder dim_negative;
  dim_negative.U32(kRecordV2Magic).I32(0).TShape({2, -3});
  ExpectError(ReadRecordStatus(dim_negative, &allocator), absl::StatusCode::kInvalidArgument,
              "dimension 1 is -3 at byte offset 20");
}

TEST(NDArrayHostileTest, UnknownDTypeStorageTypeAndDevice) {
  CappedAllocator allocator;
  for (int32_t flag : {8, 9, 10, 11, 13, -1, 1 << 30}) {
    RecordBuilder b;
    b.U32(kRecordV2Magic).I32(0).TShape({1}).Ctx(1, 0).I32(flag).U64(0);
    ExpectError(ReadRecordStatus(b, &allocator), absl::StatusCode::kInvalidArgument,
                "unknown dtype flag");
  }
  for (int32_t stype : {-1, 3, 100}) {
    RecordBuilder b;
    b.U32(kRecordV2Magic).I32(stype).TShape({1});
    ExpectError(ReadRecordStatus(b, &allocator), absl::StatusCode::kInvalidArgument,
                "unknown storage type");
  }
  RecordBuilder device;
  device.U32(kRecordV2Magic).I32(0).TShape({1}).Ctx(4, 0).I32(0).U32(0);
  ExpectError(ReadRecordStatus(device, &allocator), absl::StatusCode::kInvalidArgument,
              "unknown device type 4");
  RecordBuilder device_id;
  device_id.U32(kRecordV2Magic).I32(0).TShape({1}).Ctx(1, -2).I32(0).U32(0);
  ExpectError(ReadRecordStatus(device_id, &allocator), absl::StatusCode::kInvalidArgument,
              "byte offset 20");
  EXPECT_EQ(allocator.calls, 0);
}

TEST(NDArrayHostileTest, NameCountMismatch) {
  RecordBuilder b;
  b.ListHeader(1).U32(kRecordV2Magic).I32(0).TShape({1}).Ctx(1, 0).I32(0).U32(0);
  b.U64(2).Str("a").Str("b");
  CappedAllocator allocator;
  ExpectError(ReadListStatus(b, &allocator), absl::StatusCode::kDataLoss,
              "name count 2 at byte offset 60 does not match the 1 arrays");
}

// A row_sparse record of dense shape (3, 2) with one stored row at `row`.
RecordBuilder RowSparse(int64_t row) {
  RecordBuilder b;
  b.U32(kRecordV2Magic).I32(1).TShape({1, 2}).TShape({3, 2}).Ctx(1, 0).I32(0);
  b.I32(6).TShape({1}).Values<float>({1, 2}).Values<int64_t>({row});
  return b;
}

// A csr record of dense shape (2, 2) with the given indptr and column indices (2 values).
RecordBuilder Csr(std::initializer_list<int64_t> indptr, std::initializer_list<int64_t> cols) {
  RecordBuilder b;
  b.U32(kRecordV2Magic).I32(2).TShape({2}).TShape({2, 2}).Ctx(1, 0).I32(0);
  b.I32(6).I32(1).I64(indptr.size()).I32(6).I32(1).I64(cols.size());
  b.Values<float>({1, 2});
  for (int64_t v : indptr) b.I64(v);
  for (int64_t v : cols) b.I64(v);
  return b;
}

TEST(NDArrayHostileTest, SparseIndicesOutOfRange) {
  CappedAllocator allocator;
  EXPECT_TRUE(ReadRecordStatus(RowSparse(2), &allocator).ok());
  // The row index sits after 76 bytes of header and 8 of values.
  ExpectError(ReadRecordStatus(RowSparse(3), &allocator), absl::StatusCode::kDataLoss,
              "row index outside [0, 3) (index 3 at byte offset 84)");
  ExpectError(ReadRecordStatus(RowSparse(-1), &allocator), absl::StatusCode::kDataLoss,
              "index -1");
  EXPECT_TRUE(ReadRecordStatus(Csr({0, 1, 2}, {1, 0}), &allocator).ok());
  ExpectError(ReadRecordStatus(Csr({0, 1, 2}, {1, 2}), &allocator),
              absl::StatusCode::kDataLoss, "column index outside [0, 2)");
  ExpectError(ReadRecordStatus(Csr({0, 2, 1}, {1, 0}), &allocator),
              absl::StatusCode::kDataLoss, "row pointers");
  ExpectError(ReadRecordStatus(Csr({1, 1, 2}, {1, 0}), &allocator),
              absl::StatusCode::kDataLoss, "row pointers");
  ExpectError(ReadRecordStatus(Csr({0, 1, 1}, {1, 0}), &allocator),
              absl::StatusCode::kDataLoss, "last row pointer");
  EXPECT_EQ(allocator.calls, 2);
}

TEST(NDArrayHostileTest, SparseLayoutMismatches) {
  CappedAllocator allocator;
  ExpectError(ReadRecordStatus(Csr({0, 2}, {1, 0}), &allocator),
              absl::StatusCode::kInvalidArgument, "2 rows has 2 row pointers");
  ExpectError(ReadRecordStatus(Csr({0, 1, 2}, {1}), &allocator),
              absl::StatusCode::kInvalidArgument, "2 values but 1 column indices");
  RecordBuilder rows;  // stored rows of width 3 for a width-2 array
  rows.U32(kRecordV2Magic).I32(1).TShape({1, 3}).TShape({3, 2}).Ctx(1, 0).I32(0);
  rows.I32(6).TShape({1});
  ExpectError(ReadRecordStatus(rows, &allocator), absl::StatusCode::kInvalidArgument,
              "does not hold rows");
  RecordBuilder float_index;
  float_index.U32(kRecordV2Magic).I32(1).TShape({1, 2}).TShape({3, 2}).Ctx(1, 0).I32(0);
  float_index.I32(0).TShape({1});
  ExpectError(ReadRecordStatus(float_index, &allocator), absl::StatusCode::kInvalidArgument,
              "sparse index type flag 0 at byte offset 60");
  RecordBuilder huge_index;  // 2^50 indices declared
  huge_index.U32(kRecordV2Magic).I32(1).TShape({1LL << 50, 2}).TShape({1LL << 50, 2});
  huge_index.Ctx(1, 0).I32(0).I32(6).TShape({1LL << 50}).U64(0);
  ExpectError(ReadRecordStatus(huge_index, &allocator), absl::StatusCode::kDataLoss,
              "sparse values needs");
  EXPECT_EQ(allocator.calls, 0);
}

TEST(NDArrayHostileTest, HugeDenseShapeOfSparseRecordIsTheAllocatorsToRefuse) {
  RecordBuilder b;  // 2^40 x 2 dense floats, nothing stored
  b.U32(kRecordV2Magic).I32(1).TShape({0, 2}).TShape({1LL << 40, 2}).Ctx(1, 0).I32(0);
  b.I32(6).TShape({0});
  CappedAllocator allocator;
  absl::Status status = ReadRecordStatus(b, &allocator);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(allocator.calls, 1);
}

}  // namespace
}  // namespace mxgrid::tensor::format
