// The optimizer family: every consistency case, state updates in place, mixed precision
// with float16 weights, out=weight aliasing, and bad requests.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/optimizer/optimizer_cases.h"
#include "libs/ops/optimizer/optimizer_ops.h"
#include "libs/ops/registry.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

const Registry& Ops() {
  static Registry registry;
  static const bool registered = RegisterOptimizerOps(&registry).ok();
  EXPECT_TRUE(registered);
  return registry;
}

ParsedOp Parse(const std::string& op, const AttrMap& attrs) {
  absl::StatusOr<ParsedOp> parsed = Ops().Parse(op, attrs);
  EXPECT_TRUE(parsed.ok()) << op << ": " << parsed.status();
  return *std::move(parsed);
}

template <typename T>
TensorView View(std::vector<T>* v, DType dtype, Shape shape) {
  return TensorView{v->data(), std::move(shape), dtype, Context::Cpu()};
}
TensorView F32(std::vector<float>* v) {
  return View(v, DType::kFloat32, Shape{static_cast<int64_t>(v->size())});
}

TEST(OptimizerOpsTest, ConsistencyCases) {
  for (const testing::OpCase& c : OptimizerCases()) {
    SCOPED_TRACE(c.name);
    testing::CheckCase(Ops(), c);
  }
}

TEST(OptimizerOpsTest, EveryOperatorHasACase) {
  const std::set<std::string> covered = testing::CoveredOps(Ops(), OptimizerCases());
  for (const OpDef* def : Ops().List()) EXPECT_EQ(covered.count(def->name), 1u) << def->name;
  EXPECT_EQ(Ops().List().size(), 24u);
}

// sgd_mom_update with out=weight: the momentum and the weight both move, step after step.
TEST(OptimizerOpsTest, SgdMomUpdatesStateAndWeightInPlace) {
  ParsedOp op = Parse("sgd_mom_update", {{"lr", "0.5"}, {"momentum", "0.9"}});
  EXPECT_EQ(op.aux_indices(), std::vector<int>({2}));
  std::vector<float> w = {1, -2}, g = {0.5, 1}, mom = {0, 0};
  const TensorView in[] = {F32(&w), F32(&g), F32(&mom)};
  const TensorView out[] = {F32(&w)};
  const OpReq write[] = {OpReq::kWriteTo};
  ASSERT_TRUE(op.Forward({}, in, write, out).ok());
  EXPECT_FLOAT_EQ(mom[0], -0.25f);
  EXPECT_FLOAT_EQ(w[0], 0.75f);
  ASSERT_TRUE(op.Forward({}, in, write, out).ok());
  EXPECT_FLOAT_EQ(mom[0], 0.9f * -0.25f - 0.25f);
  EXPECT_FLOAT_EQ(w[0], 0.75f + 0.9f * -0.25f - 0.25f);
  EXPECT_FLOAT_EQ(w[1], -2 - 0.5f + (-0.45f - 0.5f));
}

// Adam's moments are written in place; the weight of a separate output stays.
TEST(OptimizerOpsTest, AdamWritesMomentsAndASeparateOutput) {
  ParsedOp op = Parse("adam_update", {{"lr", "0.1"}});
  std::vector<float> w = {1}, g = {2}, mean = {0}, var = {0}, o = {0};
  const TensorView in[] = {F32(&w), F32(&g), F32(&mean), F32(&var)};
  const TensorView out[] = {F32(&o)};
  const OpReq write[] = {OpReq::kWriteTo};
  ASSERT_TRUE(op.Forward({}, in, write, out).ok());
  EXPECT_FLOAT_EQ(mean[0], 0.1f * 2);
  EXPECT_FLOAT_EQ(var[0], (1.0f - 0.999f) * 2.0f * 2.0f);  // as MXNet, in float32
  EXPECT_NEAR(o[0], 1 - 0.1 * 0.2 / (std::sqrt(0.004) + 1e-8), 1e-5);
  EXPECT_EQ(w[0], 1.0f);
}

// mp_sgd_mom_update on a float16 weight: float32 state and master copy, float16 output.
TEST(OptimizerOpsTest, MixedPrecisionKeepsAFloat32MasterCopy) {
  ParsedOp op = Parse("mp_sgd_mom_update", {{"lr", "0.001"}, {"momentum", "0.5"}});
  std::vector<InferType> in_types = {DType::kFloat16, std::nullopt, std::nullopt, std::nullopt};
  std::vector<InferType> out_types(1);
  ASSERT_TRUE(op.InferTypes(&in_types, &out_types).ok());
  EXPECT_EQ(*in_types[1], DType::kFloat16);
  EXPECT_EQ(*in_types[2], DType::kFloat32);
  EXPECT_EQ(*in_types[3], DType::kFloat32);
  EXPECT_EQ(*out_types[0], DType::kFloat16);
  std::vector<Half> w = {FloatToHalf(1.0f)}, g = {FloatToHalf(1.0f)};
  std::vector<float> mom = {0}, w32 = {1.0f};
  const TensorView in[] = {View(&w, DType::kFloat16, Shape{1}),
                           View(&g, DType::kFloat16, Shape{1}), F32(&mom), F32(&w32)};
  const TensorView out[] = {in[0]};
  const OpReq write[] = {OpReq::kWriteTo};
  ASSERT_TRUE(op.Forward({}, in, write, out).ok());
  ASSERT_TRUE(op.Forward({}, in, write, out).ok());
  // Two steps of 0.001 and 0.0015: below float16's resolution at 1 without the master copy.
  EXPECT_FLOAT_EQ(w32[0], 1.0f - 0.001f - 0.0015f);
  EXPECT_EQ(HalfToFloat(w[0]), HalfToFloat(FloatToHalf(w32[0])));
}

// nag_mom_update with out=weight: the momentum's second half sees the updated weight.
TEST(OptimizerOpsTest, NagMomentumReadsTheUpdatedWeightInPlace) {
  ParsedOp op = Parse("nag_mom_update", {{"lr", "0.1"}, {"momentum", "0.9"}, {"wd", "0.5"}});
  std::vector<float> w = {2}, g = {1}, mom = {0.4f};
  const TensorView in[] = {F32(&w), F32(&g), F32(&mom)};
  const OpReq write[] = {OpReq::kWriteTo};
  ASSERT_TRUE(op.Forward({}, in, write, {in[0]}).ok());
  const float m = 0.9f * 0.4f;
  const float nw = 2 - m + 1.9f * (m - 0.1f * (1 + 0.5f * 2));
  EXPECT_FLOAT_EQ(w[0], nw);
  EXPECT_FLOAT_EQ(mom[0], m - 0.1f * (1 + 0.5f * nw));
}

TEST(OptimizerOpsTest, AdamWMutatesStatesBeforeItsScaleInput) {
  ParsedOp op = Parse("_adamw_update", {{"lr", "0.1"}, {"eta", "1"}});
  EXPECT_TRUE(op.aux_indices().empty());
  EXPECT_EQ(op.mutated_indices(), std::vector<int>({2, 3}));
  EXPECT_EQ(op.input_names(),
            std::vector<std::string>({"weight", "grad", "mean", "var", "rescale_grad"}));
  std::vector<InferShape> shapes = {Shape{3}, std::nullopt, std::nullopt, std::nullopt,
                                    std::nullopt};
  std::vector<InferShape> out(1);
  ASSERT_TRUE(op.InferShapes(&shapes, &out).ok());
  EXPECT_EQ(*shapes[4], Shape{1});
  EXPECT_EQ(*out[0], Shape{3});
}

TEST(OptimizerOpsTest, MultiSgdTakesOneLrAndWdPerWeight) {
  ParsedOp op = Parse("multi_mp_sgd_mom_update",
                      {{"lrs", "(0.1, 0.2)"}, {"wds", "(0, 0)"}, {"num_weights", "2"}});
  EXPECT_EQ(op.num_inputs(), 8);
  EXPECT_EQ(op.num_outputs(), 2);
  EXPECT_EQ(op.mutated_indices(), std::vector<int>({2, 3, 6, 7}));
  // Counts that do not fit num_weights: refused by shape inference (as MXNet) and Forward.
  ParsedOp short_lrs = Parse("multi_sgd_update", {{"lrs", "(0.1,)"}, {"wds", "(0.1, 0.2)"},
                                                  {"num_weights", "2"}});
  std::vector<InferShape> shapes(4, Shape{2});
  std::vector<InferShape> out(2);
  EXPECT_EQ(short_lrs.InferShapes(&shapes, &out).code(), kInvalid);
  std::vector<float> a = {1, 2};
  const TensorView in[] = {F32(&a), F32(&a), F32(&a), F32(&a)};
  const TensorView outs[] = {F32(&a), F32(&a)};
  const OpReq write[] = {OpReq::kWriteTo, OpReq::kWriteTo};
  EXPECT_EQ(short_lrs.Forward({}, in, write, outs).code(), kInvalid);
  EXPECT_EQ(Ops().Parse("multi_sgd_update", {{"lrs", "(a)"}, {"wds", "(0)"}}).status().code(),
            kInvalid);
  EXPECT_EQ(Ops().Parse("multi_sgd_update", {{"wds", "(0)"}}).status().code(), kInvalid);
  EXPECT_EQ(Ops().Parse("multi_sgd_update", {{"lrs", "()"}, {"wds", "()"},
                                             {"num_weights", "0"}}).status().code(),
            kInvalid);
}

TEST(OptimizerOpsTest, BadRequestsAreInvalidArgument) {
  // lr is required; unknown parameters and malformed values are refused.
  EXPECT_EQ(Ops().Parse("sgd_update", {}).status().code(), kInvalid);
  EXPECT_EQ(Ops().Parse("sgd_update", {{"lr", "0.1"}, {"beta1", "0.9"}}).status().code(),
            kInvalid);
  EXPECT_EQ(Ops().Parse("adam_update", {{"lr", "fast"}}).status().code(), kInvalid);
  EXPECT_EQ(Ops().Parse("ftml_update", {{"lr", "0.1"}}).status().code(), kInvalid);  // t
  EXPECT_EQ(Ops().Parse("ftml_update", {{"lr", "0.1"}, {"t", "99999999999"}}).status().code(),
            kInvalid);
  EXPECT_EQ(Ops().Parse("_adamw_update", {{"lr", "0.1"}}).status().code(), kInvalid);  // eta
  // Shapes and dtypes that do not fit.
  ParsedOp op = Parse("sgd_mom_update", {{"lr", "0.1"}});
  std::vector<InferShape> shapes = {Shape{3}, Shape{4}, std::nullopt};
  std::vector<InferShape> out(1);
  EXPECT_EQ(op.InferShapes(&shapes, &out).code(), kInvalid);
  std::vector<InferType> types = {DType::kFloat32, DType::kFloat64, std::nullopt};
  std::vector<InferType> out_types(1);
  EXPECT_EQ(op.InferTypes(&types, &out_types).code(), kInvalid);
  types = {DType::kInt32, std::nullopt, std::nullopt};
  EXPECT_EQ(op.InferTypes(&types, &out_types).code(), kInvalid);
  ParsedOp mp = Parse("mp_sgd_update", {{"lr", "0.1"}});
  types = {DType::kFloat16, DType::kFloat16, DType::kFloat16};
  EXPECT_EQ(mp.InferTypes(&types, &out_types).code(), kInvalid);
  // A direct Forward with arrays of the wrong size or dtype runs no kernel.
  std::vector<float> w = {1, 2}, g = {1}, mom = {0, 0};
  const OpReq write[] = {OpReq::kWriteTo};
  const TensorView short_grad[] = {F32(&w), F32(&g), F32(&mom)};
  EXPECT_EQ(op.Forward({}, short_grad, write, {F32(&w)}).code(), kInvalid);
  std::vector<double> g64 = {1, 1};
  const TensorView mixed[] = {F32(&w), View(&g64, DType::kFloat64, Shape{2}), F32(&mom)};
  EXPECT_EQ(op.Forward({}, mixed, write, {F32(&w)}).code(), kInvalid);
  EXPECT_EQ(w, std::vector<float>({1, 2}));
}

}  // namespace
}  // namespace mxgrid::ops
