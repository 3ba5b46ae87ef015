#include "libs/rpc/tensor_codec.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::rpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

NDArray Arange(int64_t n, const Shape& shape) {
  return *(*NDArray::Arange(0, static_cast<double>(n))).Reshape(shape);
}

TEST(TensorCodecTest, DTypeNumbersAreMxnetFlagsPlusOne) {
  EXPECT_EQ(ToProtoDType(DType::kFloat32), v1::FLOAT32);
  EXPECT_EQ(ToProtoDType(DType::kInt64), v1::INT64);
  EXPECT_EQ(ToProtoDType(DType::kBFloat16), v1::BFLOAT16);
  EXPECT_EQ(*FromProtoDType(v1::UINT8), DType::kUint8);
  EXPECT_EQ(FromProtoDType(v1::DTYPE_UNSPECIFIED).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromProtoDType(static_cast<v1::DType>(99)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorCodecTest, WholeTensorRoundTrips) {
  v1::Tensor t;
  ASSERT_TRUE(ToProto(Arange(6, {2, 3}), &t).ok());
  EXPECT_EQ(t.meta().dtype(), v1::FLOAT32);
  EXPECT_THAT(t.meta().shape(), ElementsAre(2, 3));
  EXPECT_EQ(t.data().size(), 24u);
  absl::StatusOr<NDArray> back = FromProto(t, Context::Cpu());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shape(), (Shape{2, 3}));
  EXPECT_THAT(*back->ToVector<float>(), ElementsAre(0, 1, 2, 3, 4, 5));
}

TEST(TensorCodecTest, BadWholeTensorsAreInvalidArgument) {
  v1::Tensor t;
  ASSERT_TRUE(ToProto(Arange(6, {2, 3}), &t).ok());
  t.mutable_data()->pop_back();
  absl::StatusOr<NDArray> r = FromProto(t, Context::Cpu());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("24 bytes"));
  t.mutable_meta()->set_shape(0, -2);
  EXPECT_EQ(FromProto(t, Context::Cpu()).status().code(), absl::StatusCode::kInvalidArgument);
  t.mutable_meta()->set_shape(0, int64_t{1} << 40);
  t.mutable_meta()->set_shape(1, int64_t{1} << 40);
  EXPECT_EQ(FromProto(t, Context::Cpu()).status().code(), absl::StatusCode::kInvalidArgument);
  t.mutable_meta()->set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_EQ(FromProto(t, Context::Cpu()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorCodecTest, ChunkedStreamRoundTrips) {
  const NDArray a = Arange(1000, {10, 100});  // 4000 bytes
  std::vector<v1::TensorChunk> chunks;
  ASSERT_TRUE(ForEachChunk(a, 1024, [&](const v1::TensorChunk& c) {
                chunks.push_back(c);
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_TRUE(chunks[0].has_meta());
  EXPECT_FALSE(chunks[1].has_meta());
  EXPECT_EQ(chunks[3].offset(), 3072);
  EXPECT_EQ(chunks[3].data().size(), 928u);
  ChunkAssembler in(Context::Cpu());
  for (const v1::TensorChunk& c : chunks) ASSERT_TRUE(in.Add(c).ok());
  absl::StatusOr<NDArray> back = in.Finish();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shape(), (Shape{10, 100}));
  EXPECT_EQ((*back->ToVector<float>())[999], 999.0f);
}

TEST(TensorCodecTest, EmptyArrayIsOneChunkWithMeta) {
  std::vector<v1::TensorChunk> chunks;
  ASSERT_TRUE(ForEachChunk(*NDArray::Zeros({0, 3}), 1024, [&](const v1::TensorChunk& c) {
                chunks.push_back(c);
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(chunks.size(), 1u);
  ChunkAssembler in(Context::Cpu());
  ASSERT_TRUE(in.Add(chunks[0]).ok());
  EXPECT_EQ(in.Finish()->shape(), (Shape{0, 3}));
}

TEST(TensorCodecTest, EmitErrorStopsTheStream) {
  int calls = 0;
  absl::Status s = ForEachChunk(Arange(1000, {1000}), 1024, [&](const v1::TensorChunk&) {
    ++calls;
    return absl::UnavailableError("peer went away");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
}

TEST(TensorCodecTest, BadStreamsAreInvalidArgument) {
  std::vector<v1::TensorChunk> chunks;
  ASSERT_TRUE(ForEachChunk(Arange(512, {512}), 1024, [&](const v1::TensorChunk& c) {
                chunks.push_back(c);
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(chunks.size(), 2u);
  {  // no meta first
    ChunkAssembler in(Context::Cpu());
    EXPECT_EQ(in.Add(chunks[1]).code(), absl::StatusCode::kInvalidArgument);
  }
  {  // gap
    ChunkAssembler in(Context::Cpu());
    ASSERT_TRUE(in.Add(chunks[0]).ok());
    v1::TensorChunk skipped = chunks[1];
    skipped.set_offset(2000);
    absl::Status s = in.Add(skipped);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("expected 1024"));
  }
  {  // too many bytes, a second meta, missing bytes
    ChunkAssembler in(Context::Cpu());
    ASSERT_TRUE(in.Add(chunks[0]).ok());
    v1::TensorChunk big = chunks[1];
    big.mutable_data()->append("xxxx");
    EXPECT_EQ(in.Add(big).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(in.Add(chunks[0]).code(), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<NDArray> partial = in.Finish();
    EXPECT_EQ(partial.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(partial.status().message(), HasSubstr("1024 of 2048"));
  }
  EXPECT_EQ(ChunkAssembler(Context::Cpu()).Finish().status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::rpc
