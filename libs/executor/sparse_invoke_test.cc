#include "libs/executor/sparse_invoke.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using tensor::NDArray;
using tensor::SparseNDArray;
using tensor::StorageType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const ops::ParsedOp> Parse(const char* name, const ops::AttrMap& attrs = {}) {
  absl::StatusOr<ops::ParsedOp> op = ops::GlobalRegistry().Parse(name, attrs);
  EXPECT_TRUE(op.ok()) << op.status();
  return std::make_shared<const ops::ParsedOp>(*std::move(op));
}

NDArray Floats(const Shape& shape, std::vector<float> v) {
  return *NDArray::FromVector<float>(shape, v);
}

SparseNDArray Rsp(const Shape& shape, std::vector<float> dense) {
  return *tensor::FromDense(Floats(shape, dense), StorageType::kRowSparse);
}

std::vector<float> Values(const AnyArray& a) {
  if (IsSparse(a)) return *tensor::ToDense(std::get<SparseNDArray>(a))->ToVector<float>();
  return *std::get<NDArray>(a).ToVector<float>();
}

// weight 1 everywhere, gradient 1 in row 1 only, lr 0.5, wd 0.1.
TEST(SparseInvokeTest, LazySgdMovesOnlyTheGradientsRows) {
  const SparseNDArray w = *tensor::FromDense(Floats({3, 1}, {1, 1, 1}), StorageType::kRowSparse);
  const SparseNDArray g = Rsp({3, 1}, {0, 1, 0});
  const AnyArray in[] = {w, g};
  const AnyArray out[] = {w};
  ASSERT_TRUE(InvokeAny(Parse("sgd_update", {{"lr", "0.5"}, {"wd", "0.1"}}), in, out).ok());
  EXPECT_THAT(Values(w), ElementsAre(1, 1 - 0.5f * (1 + 0.1f), 1));
}

TEST(SparseInvokeTest, StandardSgdDecaysEveryRow) {
  const NDArray w = Floats({3, 1}, {1, 1, 1});
  const SparseNDArray g = Rsp({3, 1}, {0, 1, 0});
  const AnyArray in[] = {w, g};
  const AnyArray out[] = {w};
  ASSERT_TRUE(InvokeAny(Parse("sgd_update", {{"lr", "0.5"}, {"wd", "0.1"},
                                             {"lazy_update", "False"}}),
                        in, out)
                  .ok());
  EXPECT_THAT(Values(w), ElementsAre(0.95f, 1 - 0.5f * 1.1f, 0.95f));
}

TEST(SparseInvokeTest, LazyMomentumFillsAnEmptyStateAndReplacesIt) {
  const SparseNDArray w = *tensor::FromDense(Floats({2, 1}, {1, 1}), StorageType::kRowSparse);
  const SparseNDArray mom = *SparseNDArray::Zeros(StorageType::kRowSparse, Shape({2, 1}));
  const AnyArray in[] = {w, Rsp({2, 1}, {2, 0}), mom};
  const AnyArray out[] = {w};
  absl::StatusOr<SparseInvokeResult> r =
      InvokeAny(Parse("sgd_mom_update", {{"lr", "0.5"}, {"momentum", "0.9"}}), in, out);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->replaced_inputs.size(), 1u);
  EXPECT_EQ(r->replaced_inputs[0].first, 2u);
  EXPECT_TRUE(r->replaced_inputs[0].second.all_rows_stored());
  EXPECT_THAT(Values(r->replaced_inputs[0].second), ElementsAre(-1, 0));
  EXPECT_THAT(Values(w), ElementsAre(0, 1));
}

TEST(SparseInvokeTest, RowSparseWeightMustStoreEveryRow) {
  const SparseNDArray w = Rsp({2, 1}, {1, 0});
  const AnyArray in[] = {w, Rsp({2, 1}, {1, 0})};
  const AnyArray out[] = {w};
  absl::StatusOr<SparseInvokeResult> r = InvokeAny(Parse("sgd_update", {{"lr", "1"}}), in, out);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("store every row"));
}

TEST(SparseInvokeTest, FallbackComputesDenseAndWritesSparseOutputsBack) {
  const SparseNDArray a = Rsp({3, 1}, {0, 2, 0});
  const AnyArray in[] = {a};
  absl::StatusOr<SparseInvokeResult> r = InvokeAny(Parse("_mul_scalar", {{"scalar", "3"}}), in, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(IsSparse(r->outputs[0]));
  EXPECT_THAT(Values(r->outputs[0]), ElementsAre(0, 6, 0));
  const AnyArray out[] = {a};
  r = InvokeAny(Parse("_mul_scalar", {{"scalar", "3"}}), in, out);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(IsSparse(r->outputs[0]));
  EXPECT_EQ(std::get<SparseNDArray>(r->outputs[0]).num_stored(), 1);
  EXPECT_THAT(Values(r->outputs[0]), ElementsAre(0, 6, 0));
}

TEST(SparseInvokeTest, CastStorageChecksTheTargetsStorageType) {
  const NDArray d = Floats({2, 2}, {0, 1, 0, 0});
  EXPECT_TRUE(WritesSparse(*Parse("cast_storage", {{"stype", "csr"}})));
  EXPECT_FALSE(WritesSparse(*Parse("cast_storage", {{"stype", "default"}})));
  const AnyArray in[] = {d};
  absl::StatusOr<SparseInvokeResult> r =
      InvokeAny(Parse("cast_storage", {{"stype", "csr"}}), in, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::get<SparseNDArray>(r->outputs[0]).stype(), StorageType::kCSR);
  const AnyArray wrong[] = {Rsp({2, 2}, {0, 1, 0, 0})};
  EXPECT_THAT(InvokeAny(Parse("cast_storage", {{"stype", "csr"}}), in, wrong).status().message(),
              HasSubstr("cannot write a row_sparse array"));
}

}  // namespace
}  // namespace mxgrid::executor
