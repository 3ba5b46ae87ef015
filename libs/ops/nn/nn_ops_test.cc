#include "libs/ops/nn/nn_ops.h"

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "libs/ops/nn/nn_cases.h"
#include "libs/ops/registry.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

const Registry& NNRegistry() {
  static const Registry* registry = [] {
    auto* r = new Registry();  // Leaked on purpose: shared by every test.
    absl::Status s = RegisterNNOps(r);
    if (!s.ok()) ADD_FAILURE() << s;
    return r;
  }();
  return *registry;
}

TEST(NNOpsTest, RegistersEveryOpOnceAndFailsOnReRegistration) {
  Registry registry;
  ASSERT_TRUE(RegisterNNOps(&registry).ok());
  EXPECT_EQ(RegisterNNOps(&registry).code(), absl::StatusCode::kAlreadyExists);
}

TEST(NNOpsTest, EveryOpHasCases) {
  std::set<std::string> covered = testing::CoveredOps(NNRegistry(), NNCases());
  for (const OpDef* def : NNRegistry().List()) {
    EXPECT_TRUE(covered.count(def->name)) << def->name << " has no case";
  }
}

TEST(NNOpsTest, CasesPass) {
  for (const testing::OpCase& c : NNCases()) testing::CheckCase(NNRegistry(), c);
}

TensorView View(std::vector<double>* v, Shape shape) {
  TensorView t;
  t.data = v->data();
  t.shape = std::move(shape);
  t.dtype = DType::kFloat64;
  return t;
}

TEST(NNOpsTest, DropoutTrainingMaskIsScaledBernoulliSharedAlongAxes) {
  absl::StatusOr<ParsedOp> op = NNRegistry().Parse("Dropout", {{"p", "0.3"}, {"axes", "(1,)"}});
  ASSERT_TRUE(op.ok()) << op.status();
  const int64_t rows = 4000, cols = 3;
  std::vector<double> x(rows * cols), y(rows * cols, -7), mask(rows, -7);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0 + static_cast<double>(i % 5);
  std::mt19937_64 rng(42);
  OpContext ctx{true, Context::Cpu(), &rng};
  std::vector<TensorView> in = {View(&x, {rows, cols})};
  std::vector<TensorView> out = {View(&y, {rows, cols}), View(&mask, {rows, 1})};
  std::vector<OpReq> reqs = {OpReq::kWriteTo, OpReq::kWriteTo};
  ASSERT_TRUE(op->Forward(ctx, in, reqs, out).ok());
  int64_t kept = 0;
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_TRUE(mask[r] == 0.0 || std::fabs(mask[r] - 1 / 0.7) < 1e-12) << mask[r];
    kept += mask[r] != 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_DOUBLE_EQ(y[r * cols + c], x[r * cols + c] * mask[r]);
    }
  }
  EXPECT_NEAR(static_cast<double>(kept) / rows, 0.7, 0.03);

  // Inference with mode=training: identity, and an all-ones mask.
  ctx.is_train = false;
  ASSERT_TRUE(op->Forward(ctx, in, reqs, out).ok());
  EXPECT_EQ(y, x);
  for (double m : mask) ASSERT_EQ(m, 1.0);
}

TEST(NNOpsTest, ActivationRunsInPlaceAndSkipsNullRequests) {
  absl::StatusOr<ParsedOp> op = NNRegistry().Parse("Activation", {{"act_type", "relu"}});
  ASSERT_TRUE(op.ok());
  std::vector<double> x = {-1, 2, -3, 4};
  OpContext ctx;
  std::vector<TensorView> views = {View(&x, {4})};
  ASSERT_TRUE(op->Forward(ctx, views, {OpReq::kNull}, views).ok());
  EXPECT_EQ(x, (std::vector<double>{-1, 2, -3, 4}));
  ASSERT_TRUE(op->Forward(ctx, views, {OpReq::kWriteInplace}, views).ok());
  EXPECT_EQ(x, (std::vector<double>{0, 2, 0, 4}));
}

// Forward with kAddTo adds the result to what the output holds.
TEST(NNOpsTest, ForwardAddToAccumulates) {
  struct Call {
    std::string op;
    AttrMap attrs;
    std::vector<Shape> shapes;  // inputs then the output
  };
  const std::vector<Call> calls = {
      {"FullyConnected", {{"num_hidden", "3"}}, {{2, 4}, {3, 4}, {3}, {2, 3}}},
      {"softmax", {}, {{2, 5}, {2, 5}}},
      {"Activation", {{"act_type", "sigmoid"}}, {{7}, {7}}},
      {"SoftmaxOutput", {}, {{2, 3}, {2}, {2, 3}}},
  };
  for (const Call& call : calls) {
    SCOPED_TRACE(call.op);
    absl::StatusOr<ParsedOp> op = NNRegistry().Parse(call.op, call.attrs);
    ASSERT_TRUE(op.ok());
    std::vector<std::vector<double>> data;
    for (const Shape& s : call.shapes) {
      data.emplace_back(s.Size());
      for (size_t i = 0; i < data.back().size(); ++i) data.back()[i] = 0.1 * (i % 7) - 0.2;
    }
    std::vector<TensorView> in;
    for (size_t i = 0; i + 1 < call.shapes.size(); ++i)
      in.push_back(View(&data[i], call.shapes[i]));
    std::vector<double> base = data.back(), written(base.size());
    std::vector<TensorView> out = {View(&written, call.shapes.back())};
    ASSERT_TRUE(op->Forward(OpContext{}, in, {OpReq::kWriteTo}, out).ok());
    std::vector<double> added = base;
    out = {View(&added, call.shapes.back())};
    ASSERT_TRUE(op->Forward(OpContext{}, in, {OpReq::kAddTo}, out).ok());
    for (size_t j = 0; j < base.size(); ++j) EXPECT_NEAR(added[j], base[j] + written[j], 1e-12);
  }
}

TEST(NNOpsTest, NonFloatDTypeIsInvalidArgument) {
  absl::StatusOr<ParsedOp> op = NNRegistry().Parse("softmax", {});
  ASSERT_TRUE(op.ok());
  std::vector<int32_t> x = {1, 2}, y(2);
  TensorView in{x.data(), Shape{2}, DType::kInt32, Context::Cpu()};
  TensorView out{y.data(), Shape{2}, DType::kInt32, Context::Cpu()};
  absl::Status s = op->Forward(OpContext{}, {in}, {OpReq::kWriteTo}, {out});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace mxgrid::ops
