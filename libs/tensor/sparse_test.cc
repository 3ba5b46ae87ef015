#include "libs/tensor/sparse.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::tensor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

NDArray Floats(const Shape& shape, std::vector<float> v) {
  return *NDArray::FromVector<float>(shape, v);
}
NDArray Ids(std::vector<int64_t> v) {
  return *NDArray::FromVector<int64_t>(Shape({static_cast<int64_t>(v.size())}), v);
}

TEST(SparseTest, RowSparseRoundTripsThroughDense) {
  const NDArray dense = Floats({4, 2}, {0, 0, 1, 2, 0, 0, 3, 0});
  absl::StatusOr<SparseNDArray> rsp = FromDense(dense, StorageType::kRowSparse);
  ASSERT_TRUE(rsp.ok()) << rsp.status();
  EXPECT_EQ(rsp->num_stored(), 2);
  EXPECT_THAT(*rsp->indices().ToVector<int64_t>(), ElementsAre(1, 3));
  EXPECT_THAT(*rsp->data().ToVector<float>(), ElementsAre(1, 2, 3, 0));
  absl::StatusOr<NDArray> back = ToDense(*rsp);
  ASSERT_TRUE(back.ok());
  EXPECT_THAT(*back->ToVector<float>(), ElementsAre(0, 0, 1, 2, 0, 0, 3, 0));
}

TEST(SparseTest, CsrRoundTripsThroughDense) {
  const NDArray dense = Floats({2, 3}, {0, 5, 0, 7, 0, 8});
  absl::StatusOr<SparseNDArray> csr = FromDense(dense, StorageType::kCSR);
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_THAT(*csr->indptr().ToVector<int64_t>(), ElementsAre(0, 1, 3));
  EXPECT_THAT(*csr->indices().ToVector<int64_t>(), ElementsAre(1, 0, 2));
  EXPECT_THAT(*csr->data().ToVector<float>(), ElementsAre(5, 7, 8));
  EXPECT_THAT(*ToDense(*csr)->ToVector<float>(), ElementsAre(0, 5, 0, 7, 0, 8));
  absl::StatusOr<SparseNDArray> rsp = Convert(*csr, StorageType::kRowSparse);
  ASSERT_TRUE(rsp.ok());
  EXPECT_THAT(*rsp->indices().ToVector<int64_t>(), ElementsAre(0, 1));
}

TEST(SparseTest, FromPartsRejectsBrokenStructure) {
  EXPECT_THAT(SparseNDArray::FromParts(StorageType::kRowSparse, Shape({4, 2}),
                                       Floats({2, 2}, {1, 2, 3, 4}), {Ids({3, 1})})
                  .status()
                  .message(),
              HasSubstr("strictly increasing"));
  EXPECT_THAT(SparseNDArray::FromParts(StorageType::kRowSparse, Shape({4, 2}),
                                       Floats({2, 2}, {1, 2, 3, 4}), {Ids({1, 4})})
                  .status()
                  .message(),
              HasSubstr("indices[1] is 4"));
  EXPECT_THAT(SparseNDArray::FromParts(StorageType::kCSR, Shape({2, 3}), Floats({2}, {1, 2}),
                                       {Ids({0, 1, 3}), Ids({0, 1})})
                  .status()
                  .message(),
              HasSubstr("end at nnz"));
  EXPECT_THAT(SparseNDArray::FromParts(StorageType::kCSR, Shape({2, 3}), Floats({2}, {1, 2}),
                                       {Ids({0, 1, 2}), Ids({0, 3})})
                  .status()
                  .message(),
              HasSubstr("indices[1] (row 1) is 3"));
  absl::StatusOr<SparseNDArray> ok = SparseNDArray::FromParts(
      StorageType::kCSR, Shape({2, 3}), Floats({2}, {1, 2}), {Ids({0, 1, 2}), Ids({2, 0})});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_THAT(*ToDense(*ok)->ToVector<float>(), ElementsAre(0, 0, 1, 2, 0, 0));
}

TEST(SparseTest, RetainKeepsExactlyTheAskedRows) {
  const SparseNDArray rsp = *FromDense(Floats({4, 1}, {1, 0, 3, 4}), StorageType::kRowSparse);
  absl::StatusOr<SparseNDArray> kept = Retain(rsp, Floats({3}, {3, 1, 3}));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT(*kept->indices().ToVector<int64_t>(), ElementsAre(1, 3));
  EXPECT_THAT(*kept->data().ToVector<float>(), ElementsAre(0, 4));
  EXPECT_EQ(Retain(rsp, Floats({1}, {4})).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SparseTest, SumRowSparseStoresTheUnionOfRows) {
  const SparseNDArray a = *FromDense(Floats({5, 2}, {1, 1, 0, 0, 2, 2, 0, 0, 0, 0}),
                                     StorageType::kRowSparse);
  const SparseNDArray b = *FromDense(Floats({5, 2}, {10, 0, 0, 0, 0, 0, 0, 0, 5, 6}),
                                     StorageType::kRowSparse);
  const SparseNDArray none = *SparseNDArray::Zeros(StorageType::kRowSparse, Shape({5, 2}));
  const SparseNDArray values[] = {a, b, none};
  absl::StatusOr<SparseNDArray> sum = SumRowSparse(values);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_THAT(*sum->indices().ToVector<int64_t>(), ElementsAre(0, 2, 4));
  EXPECT_THAT(*sum->data().ToVector<float>(), ElementsAre(11, 1, 2, 2, 5, 6));
  // The inputs are unchanged.
  EXPECT_THAT(*a.data().ToVector<float>(), ElementsAre(1, 1, 2, 2));

  const SparseNDArray other = *SparseNDArray::Zeros(StorageType::kRowSparse, Shape({4, 2}));
  const SparseNDArray mixed[] = {a, other};
  absl::StatusOr<SparseNDArray> bad = SumRowSparse(mixed);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("value 1"));
  EXPECT_EQ(SumRowSparse({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SparseTest, RetainRowsOfADenseArray) {
  absl::StatusOr<SparseNDArray> kept =
      RetainRows(Floats({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), Floats({3}, {3, 0, 3}));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->shape(), Shape({4, 2}));
  EXPECT_THAT(*kept->indices().ToVector<int64_t>(), ElementsAre(0, 3));
  EXPECT_THAT(*kept->data().ToVector<float>(), ElementsAre(1, 2, 7, 8));
  EXPECT_EQ(RetainRows(Floats({2}, {1, 2}), Floats({1}, {-1})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SparseTest, WithAllRowsAndRowGatherScatter) {
  const SparseNDArray zeros = *SparseNDArray::Zeros(StorageType::kRowSparse, Shape({3, 2}));
  EXPECT_EQ(zeros.num_stored(), 0);
  const SparseNDArray full = *WithAllRows(zeros);
  EXPECT_TRUE(full.all_rows_stored());
  EXPECT_THAT(*full.data().ToVector<float>(), ElementsAre(0, 0, 0, 0, 0, 0));
  const NDArray rows = *GatherRows(Floats({3, 2}, {1, 2, 3, 4, 5, 6}), Ids({2, 0}));
  EXPECT_THAT(*rows.ToVector<float>(), ElementsAre(5, 6, 1, 2));
  ASSERT_TRUE(ScatterRows(rows, Ids({0, 1}), full.data()).ok());
  EXPECT_THAT(*full.data().ToVector<float>(), ElementsAre(5, 6, 1, 2, 0, 0));
  absl::StatusOr<NDArray> bad = GatherRows(full.data(), Ids({7}));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->WaitToRead().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SparseTest, DotCsrDenseAndTransposed) {
  const SparseNDArray csr = *FromDense(Floats({2, 3}, {1, 0, 2, 0, 3, 0}), StorageType::kCSR);
  const NDArray rhs = Floats({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(*DotCsrDense(csr, rhs, false)->ToVector<float>(), ElementsAre(11, 14, 9, 12));
  const NDArray rhs_t = Floats({2, 1}, {1, 2});
  EXPECT_THAT(*DotCsrDense(csr, rhs_t, true)->ToVector<float>(), ElementsAre(1, 6, 2));
  EXPECT_EQ(DotCsrDense(csr, rhs_t, false).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::tensor
