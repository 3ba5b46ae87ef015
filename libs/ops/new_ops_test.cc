// Error statuses and MXNet 1.9.1 values (printed from the venv) of the operators added for
// issue 13 that the consistency cases cannot show: bad parameters and indices, ties of the
// rounding ops, float16 and integer inputs, and degenerate shapes.
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/base/dtype.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

// Runs `op` forward on float32 inputs; returns output 0 or the first error.
absl::StatusOr<std::vector<float>> RunOp(const std::string& op, const AttrMap& attrs,
                                       std::vector<std::vector<float>> inputs,
                                       const std::vector<Shape>& shapes) {
  absl::StatusOr<ParsedOp> p = GlobalRegistry().Parse(op, attrs);
  if (!p.ok()) return p.status();
  std::vector<InferShape> in(shapes.begin(), shapes.end()), out(p->num_outputs());
  absl::Status s = p->InferShapes(&in, &out);
  if (!s.ok()) return s;
  std::vector<TensorView> views;
  for (size_t i = 0; i < inputs.size(); ++i) {
    views.push_back({inputs[i].data(), shapes[i], DType::kFloat32, Context::Cpu()});
  }
  std::vector<std::vector<float>> ys;
  std::vector<TensorView> outs;
  for (const auto& o : out) ys.emplace_back(o->Size());
  for (size_t i = 0; i < out.size(); ++i) {
    outs.push_back({ys[i].data(), *out[i], DType::kFloat32, Context::Cpu()});
  }
  std::vector<OpReq> reqs(out.size(), OpReq::kWriteTo);
  s = p->Forward(OpContext{}, views, reqs, outs);
  if (!s.ok()) return s;
  return ys[0];
}

absl::StatusCode Code(const std::string& op, const AttrMap& attrs,
                      std::vector<std::vector<float>> inputs, const std::vector<Shape>& shapes) {
  return RunOp(op, attrs, std::move(inputs), shapes).status().code();
}

TEST(NewOpsTest, RoundingTiesFollowMXNet) {
  const std::vector<float> x = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f};
  const Shape s{6};
  EXPECT_EQ(*RunOp("round", {}, {x}, {s}), (std::vector<float>{-3, -2, -1, 1, 2, 3}));
  EXPECT_EQ(*RunOp("rint", {}, {x}, {s}), (std::vector<float>{-3, -2, -1, 0, 1, 2}));
  EXPECT_EQ(*RunOp("fix", {}, {x}, {s}), (std::vector<float>{-2, -1, -0.0f, 0, 1, 2}));
}

TEST(NewOpsTest, IntegerAndHalfInputsAsMXNet) {
  absl::StatusOr<ParsedOp> p = GlobalRegistry().Parse("degrees", {});
  ASSERT_TRUE(p.ok());
  std::vector<int32_t> xi = {1, 2, -3}, yi(3);
  const TensorView in{xi.data(), Shape{3}, DType::kInt32, Context::Cpu()};
  const TensorView out{yi.data(), Shape{3}, DType::kInt32, Context::Cpu()};
  const OpReq req = OpReq::kWriteTo;
  ASSERT_TRUE(p->Forward(OpContext{}, {in}, {req}, {out}).ok());
  EXPECT_EQ(yi, (std::vector<int32_t>{57, 114, -171}));  // MXNet: [57 114 -171]

  p = GlobalRegistry().Parse("gamma", {});
  ASSERT_TRUE(p.ok());
  std::vector<Half> xh = {FloatToHalf(0.5f), FloatToHalf(-2.5f)}, yh(2);
  ASSERT_TRUE(p->Forward(OpContext{}, {{xh.data(), Shape{2}, DType::kFloat16, Context::Cpu()}},
                         {req}, {{yh.data(), Shape{2}, DType::kFloat16, Context::Cpu()}})
                  .ok());
  EXPECT_NEAR(HalfToFloat(yh[0]), 1.772f, 1e-3);   // MXNet: 1.772
  EXPECT_NEAR(HalfToFloat(yh[1]), -0.9453f, 1e-3);  // MXNet: -0.9453
}

TEST(NewOpsTest, IndexErrorsHaveSpecificCodes) {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(Code("take", {{"mode", "raise"}}, {a, {0, 3}}, {{3, 2}, {2}}),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*RunOp("take", {{"mode", "wrap"}}, {a, {-1, 4}}, {{3, 2}, {2}}),
            (std::vector<float>{5, 6, 3, 4}));
  // An empty axis with no output element: nothing to resolve, no division by zero.
  EXPECT_TRUE(RunOp("take", {{"mode", "wrap"}}, {{0}, {1}}, {{0, 0}, {1}}).ok());
  EXPECT_EQ(Code("take", {{"mode", "wrap"}}, {{0}, {1}}, {{0, 2}, {1}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("gather_nd", {}, {a, {3, 0}}, {{3, 2}, {2, 1}}),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Code("pick", {{"axis", "None"}}, {a, {0}}, {{6}, {1}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("SequenceLast", {{"use_sequence_length", "True"}}, {a, {0, 3}}, {{3, 2}, {2}}),
            absl::StatusCode::kInvalidArgument);
}

TEST(NewOpsTest, BadParametersAndShapesAreInvalidArgument) {
  const std::vector<float> a(24, 1.0f);
  EXPECT_EQ(Code("topk", {{"k", "5"}}, {a}, {{6, 4}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("tile", {{"reps", "(-1,)"}}, {a}, {{24}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("repeat", {{"repeats", "-2"}}, {a}, {{24}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("broadcast_axis", {{"axis", "(0,)"}, {"size", "(3,)"}}, {a}, {{6, 4}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("norm", {{"ord", "3"}}, {a}, {{24}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("Pad", {{"mode", "constant"}, {"pad_width", "(1, 0, 0, 0, 0, 0, 0, 0)"}}, {a},
                 {{1, 2, 3, 4}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("Pad", {{"mode", "reflect"}, {"pad_width", "(0, 0, 0, 0, 3, 0, 0, 0)"}}, {a},
                 {{1, 2, 3, 4}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("UpSampling", {{"scale", "2"}, {"sample_type", "bilinear"}, {"num_args", "1"}},
                 {a, a}, {{1, 1, 4, 6}, {1, 1, 4, 4}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("LRN", {{"nsize", "4"}}, {a}, {{1, 2, 3, 4}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("LayerNorm", {{"axis", "3"}}, {a, {1}, {1}}, {{6, 4}, {1}, {1}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("diag", {{"axis1", "1"}, {"axis2", "1"}}, {a}, {{6, 4}}),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::ops
