// Hand-built records of every version and storage type the reader accepts.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/format/ndarray_format.h"
#include "libs/tensor/format/testing/record_builder.h"

namespace mxgrid::tensor::format {
namespace {

using ::testing::ElementsAre;
using testing::Buffers;
using testing::RecordBuilder;

// Reads one record from `b`, expecting success and the whole input consumed.
RecordHeader ReadOne(const RecordBuilder& b, Buffers* buffers) {
  MemorySource source(b.span());
  RecordHeader header;
  absl::Status status = ReadRecord(&source, buffers->Allocator(), &header);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(source.remaining(), 0u);
  return header;
}

TEST(NDArrayLegacyTest, V1RecordHasNoStorageType) {
  RecordBuilder b;
  b.U32(kRecordV1Magic).TShape({2, 1}).Ctx(1, 0).I32(4).Values<int32_t>({7, -8});
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_EQ(header.dtype, DType::kInt32);
  EXPECT_EQ(header.shape, (Shape{2, 1}));
  EXPECT_THAT(buffers.As<int32_t>(0), ElementsAre(7, -8));
}

TEST(NDArrayLegacyTest, PreV1RecordStartsWithNdimAndU32Dims) {
  RecordBuilder b;
  b.U32(2).U32(1).U32(3).Ctx(1, 0).I32(1).Values<double>({1.5, 2.5, -3});
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_EQ(header.dtype, DType::kFloat64);
  EXPECT_EQ(header.shape, (Shape{1, 3}));
  EXPECT_THAT(buffers.As<double>(0), ElementsAre(1.5, 2.5, -3));
}

TEST(NDArrayLegacyTest, NdimZeroIsNoneBeforeV3) {
  for (uint32_t magic : {kRecordV1Magic, kRecordV2Magic, 0u}) {
    RecordBuilder b;
    if (magic == kRecordV2Magic) {
      b.U32(magic).I32(0).TShape({});
    } else if (magic == kRecordV1Magic) {
      b.U32(magic).TShape({});
    } else {
      b.U32(0);  // legacy ndim 0
    }
    Buffers buffers;
    RecordHeader header = ReadOne(b, &buffers);
    EXPECT_TRUE(header.is_none) << magic;
    EXPECT_TRUE(buffers.buffers().empty());
  }
}

TEST(NDArrayLegacyTest, V3NdimZeroIsAScalar) {
  RecordBuilder b;
  b.U32(kRecordV3Magic).I32(0).TShape({}).Ctx(1, 0).I32(0).Values<float>({3.5f});
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_FALSE(header.is_none);
  EXPECT_EQ(header.shape.ndim(), 0);
  EXPECT_THAT(buffers.As<float>(0), ElementsAre(3.5f));
}

TEST(NDArrayLegacyTest, V3UnknownShapesAreNone) {
  RecordBuilder unknown_ndim;
  unknown_ndim.U32(kRecordV3Magic).I32(0).I32(-1);
  RecordBuilder unknown_dim;
  unknown_dim.U32(kRecordV3Magic).I32(0).TShape({2, -1});
  for (const RecordBuilder* b : {&unknown_ndim, &unknown_dim}) {
    Buffers buffers;
    EXPECT_TRUE(ReadOne(*b, &buffers).is_none);
    EXPECT_TRUE(buffers.buffers().empty());
  }
}

TEST(NDArrayLegacyTest, V3ZeroSizeArray) {
  RecordBuilder b;
  b.U32(kRecordV3Magic).I32(0).TShape({2, 0}).Ctx(1, 0).I32(0);
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_FALSE(header.is_none);
  EXPECT_EQ(header.shape, (Shape{2, 0}));
}

TEST(NDArrayLegacyTest, CpuSharedLoadsAsCpuAndGpuIsKept) {
  RecordBuilder shared;
  shared.U32(kRecordV2Magic).I32(0).TShape({1}).Ctx(5, 0).I32(3).Values<uint8_t>({9});
  Buffers buffers;
  EXPECT_EQ(ReadOne(shared, &buffers).ctx, Context::Cpu());
  RecordBuilder gpu;
  gpu.U32(kRecordV2Magic).I32(0).TShape({1}).Ctx(2, 3).I32(5).Values<int8_t>({-9});
  EXPECT_EQ(ReadOne(gpu, &buffers).ctx, Context::Gpu(3));
  EXPECT_THAT(buffers.As<int8_t>(1), ElementsAre(-9));
}

TEST(NDArrayLegacyTest, BFloat16Loads) {
  RecordBuilder b;
  // 1.0, 2.0, 3.5, -7.0 as MXNet 1.9.1 amp_cast writes them.
  b.U32(kRecordV2Magic).I32(0).TShape({4}).Ctx(1, 0).I32(12).Values<uint16_t>(
      {0x3f80, 0x4000, 0x4060, 0xc0e0});
  Buffers buffers;
  EXPECT_EQ(ReadOne(b, &buffers).dtype, DType::kBFloat16);
  std::vector<float> values;
  for (BFloat16 v : buffers.As<BFloat16>(0)) values.push_back(BFloat16ToFloat(v));
  EXPECT_THAT(values, ElementsAre(1.0f, 2.0f, 3.5f, -7.0f));
}

TEST(NDArrayLegacyTest, RowSparseIsDensified) {
  // The record MXNet 1.9.1 writes for row_sparse_array(([[1,2],[3,4]], [1,3]), shape=(5,2)).
  RecordBuilder b;
  b.U32(kRecordV2Magic).I32(1).TShape({2, 2}).TShape({5, 2}).Ctx(1, 0).I32(0);
  b.I32(6).TShape({2});                    // aux 0: int64 row indices, shape (2,)
  b.Values<float>({1, 2, 3, 4});           // stored rows
  b.Values<int64_t>({1, 3});               // row indices
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_EQ(header.shape, (Shape{5, 2}));
  EXPECT_EQ(header.dtype, DType::kFloat32);
  EXPECT_THAT(buffers.As<float>(0), ElementsAre(0, 0, 1, 2, 0, 0, 3, 4, 0, 0));
}

TEST(NDArrayLegacyTest, RowSparse3dWithInt32Indices) {
  RecordBuilder b;
  b.U32(kRecordV2Magic).I32(1).TShape({1, 2, 2}).TShape({3, 2, 2}).Ctx(1, 0).I32(6);
  b.I32(4).TShape({1});
  b.Values<int64_t>({5, 6, 7, 8});
  b.Values<int32_t>({2});
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_EQ(header.shape, (Shape{3, 2, 2}));
  EXPECT_THAT(buffers.As<int64_t>(0), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8));
}

TEST(NDArrayLegacyTest, CsrIsDensified) {
  // MXNet 1.9.1: csr_matrix(([1,2,3], [0,2,1], [0,2,2,3]), shape=(3,4)).
  RecordBuilder b;
  b.U32(kRecordV2Magic).I32(2).TShape({3}).TShape({3, 4}).Ctx(1, 0).I32(0);
  b.I32(6).TShape({4});  // indptr
  b.I32(6).TShape({3});  // column indices
  b.Values<float>({1, 2, 3});
  b.Values<int64_t>({0, 2, 2, 3});
  b.Values<int64_t>({0, 2, 1});
  Buffers buffers;
  RecordHeader header = ReadOne(b, &buffers);
  EXPECT_EQ(header.shape, (Shape{3, 4}));
  EXPECT_THAT(buffers.As<float>(0), ElementsAre(1, 0, 2, 0, 0, 0, 0, 0, 0, 3, 0, 0));
}

TEST(NDArrayLegacyTest, EmptySparseArraysAreZero) {
  // MXNet 1.9.1: mx.nd.sparse.zeros('csr', (3,4)) and ('row_sparse', (3,4)).
  RecordBuilder csr;
  csr.U32(kRecordV2Magic).I32(2).TShape({0}).TShape({3, 4}).Ctx(1, 0).I32(0);
  csr.I32(6).TShape({4}).I32(6).TShape({0}).Values<int64_t>({0, 0, 0, 0});
  RecordBuilder rsp;
  rsp.U32(kRecordV2Magic).I32(1).TShape({0, 4}).TShape({3, 4}).Ctx(1, 0).I32(0);
  rsp.I32(6).TShape({0});
  for (const RecordBuilder* b : {&csr, &rsp}) {
    Buffers buffers;
    ReadOne(*b, &buffers);
    EXPECT_EQ(buffers.As<float>(0), std::vector<float>(12, 0.0f));
  }
}

TEST(NDArrayLegacyTest, SparseBoolIsNormalized) {
  RecordBuilder b;
  b.U32(kRecordV2Magic).I32(1).TShape({1, 2}).TShape({2, 2}).Ctx(1, 0).I32(7);
  b.I32(6).TShape({1}).Values<uint8_t>({5, 0}).Values<int64_t>({0});
  Buffers buffers;
  ReadOne(b, &buffers);
  EXPECT_THAT(buffers.buffers()[0], ElementsAre(1, 0, 0, 0));
}

TEST(NDArrayLegacyTest, ListMixesVersionsAndNoneRecords) {
  RecordBuilder b;
  b.ListHeader(3);
  b.U32(kRecordV2Magic).I32(0).TShape({});                             // none
  b.U32(kRecordV1Magic).TShape({1}).Ctx(1, 0).I32(6).Values<int64_t>({-1});
  b.U32(1).U32(2).Ctx(1, 0).I32(2).Values<uint16_t>({0x3c00, 0xc000});  // float16 1, -2
  b.U64(3).Str("none").Str("v1").Str("legacy");
  MemorySource source(b.span());
  Buffers buffers;
  auto contents = ReadList(&source, buffers.Allocator());
  ASSERT_TRUE(contents.ok()) << contents.status();
  ASSERT_EQ(contents->headers.size(), 3u);
  EXPECT_TRUE(contents->headers[0].is_none);
  EXPECT_EQ(contents->headers[2].dtype, DType::kFloat16);
  EXPECT_THAT(contents->names, ElementsAre("none", "v1", "legacy"));
  EXPECT_THAT(buffers.As<int64_t>(0), ElementsAre(-1));
  EXPECT_THAT(buffers.As<uint16_t>(1), ElementsAre(0x3c00, 0xc000));
}

}  // namespace
}  // namespace mxgrid::tensor::format
