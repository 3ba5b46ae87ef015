// sort / topk beyond the consistency cases: the float32 radix path on ties, signed zeros
// and infinities (index order among equals, as a stable sort), and backward reading the
// forward's indices output rather than sorting again.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

const Registry& Ops() {
  static Registry* registry = [] {
    auto* r = new Registry();  // Leaked on purpose: shared by every test.
    absl::Status s = RegisterTensorOps(r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }();
  return *registry;
}

template <typename T>
TensorView View(std::vector<T>* v, Shape s, DType dtype) {
  return TensorView{v->data(), std::move(s), dtype, Context::Cpu()};
}

// One row of n float32 values sorted by `sort` (is_ascend given); returns values and the
// hidden indices.
void SortRow(const std::vector<float>& x, bool ascend, std::vector<float>* y,
             std::vector<int32_t>* idx) {
  absl::StatusOr<ParsedOp> op =
      Ops().Parse("sort", {{"is_ascend", ascend ? "True" : "False"}});
  ASSERT_TRUE(op.ok()) << op.status();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> in = x;
  y->assign(n, -1);
  idx->assign(n, -1);
  std::vector<TensorView> ins = {View(&in, {1, n}, DType::kFloat32)};
  std::vector<TensorView> outs = {View(y, {1, n}, DType::kFloat32),
                                  View(idx, {1, n}, DType::kInt32)};
  std::vector<OpReq> reqs(2, OpReq::kWriteTo);
  ASSERT_TRUE(op->Forward(OpContext{}, ins, reqs, outs).ok());
}

TEST(SortTest, LongFloatRowsKeepIndexOrderAmongEquals) {
  const float inf = std::numeric_limits<float>::infinity();
  // 200 values (radix path): repeats of a few values, both zeros, infinities.
  std::vector<float> x;
  const std::vector<float> pattern = {2.5f, -0.f, -1.f, 0.f, inf, 2.5f, -inf, -1.f, 1e-30f};
  for (int i = 0; i < 200; ++i) x.push_back(pattern[i % pattern.size()]);
  for (bool ascend : {true, false}) {
    std::vector<float> y;
    std::vector<int32_t> idx;
    SortRow(x, ascend, &y, &idx);
    for (size_t j = 0; j < x.size(); ++j) {
      EXPECT_EQ(y[j], x[idx[j]]) << j;
      if (j == 0) continue;
      const float a = y[j - 1], b = y[j];
      EXPECT_TRUE(ascend ? a <= b : a >= b) << "ascend " << ascend << " at " << j;
      // Equal values (-0 == +0 included) go by index.
      if (a == b) EXPECT_LT(idx[j - 1], idx[j]) << "ascend " << ascend << " at " << j;
    }
  }
}

// Backward scatters the head gradient to the positions in the forward's indices output: a
// permuted indices output moves the gradient with it, proving backward does not sort again.
TEST(SortTest, BackwardReadsTheForwardsIndices) {
  absl::StatusOr<ParsedOp> op = Ops().Parse("topk", {{"k", "2"}, {"ret_typ", "value"}});
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<float> x = {0.1f, 0.9f, 0.5f, 0.3f}, y = {0.9f, 0.5f};
  std::vector<int32_t> idx = {3, 0};  // not what sorting x gives (1, 2)
  std::vector<float> dy = {10, 20}, dx(4, -1);
  std::vector<TensorView> head = {View(&dy, {1, 2}, DType::kFloat32)};
  std::vector<TensorView> ins = {View(&x, {1, 4}, DType::kFloat32)};
  std::vector<TensorView> outs = {View(&y, {1, 2}, DType::kFloat32),
                                  View(&idx, {1, 2}, DType::kInt32)};
  std::vector<TensorView> grads = {View(&dx, {1, 4}, DType::kFloat32)};
  std::vector<OpReq> reqs = {OpReq::kWriteTo};
  ASSERT_TRUE(op->Backward(OpContext{}, BackwardArgs{head, ins, outs, grads, reqs}).ok());
  EXPECT_EQ(dx, (std::vector<float>{20, 0, 0, 10}));

  idx = {1, 4};  // outside the axis
  absl::Status s = op->Backward(OpContext{}, BackwardArgs{head, ins, outs, grads, reqs});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace mxgrid::ops
