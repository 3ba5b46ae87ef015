// Values MXNet 1.9.1 printed (from the venv) for what the consistency cases cannot check:
// integer dtypes, gradients at points where finite differences fail (0, ties, NaN/inf), and
// the shape rules and errors of slice, broadcast_to and broadcast_like.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

const Registry& TestRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    absl::Status s = RegisterTensorOps(r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }();
  return *registry;
}

// The output shape of `op` for the input shapes, or the inference error.
absl::StatusOr<Shape> OutShape(const std::string& op, const AttrMap& attrs,
                               const std::vector<Shape>& shapes) {
  absl::StatusOr<ParsedOp> p = TestRegistry().Parse(op, attrs);
  if (!p.ok()) return p.status();
  std::vector<InferShape> in(shapes.begin(), shapes.end()), out(p->num_outputs());
  absl::Status s = p->InferShapes(&in, &out);
  if (!s.ok()) return s;
  return *out[0];
}

// Forward of `op` on inputs of element type T (all of shape given), returning output 0.
template <typename T>
std::vector<T> Forward(const std::string& op, const AttrMap& attrs,
                       std::vector<std::vector<T>> inputs, const std::vector<Shape>& shapes,
                       DType dtype) {
  absl::StatusOr<ParsedOp> p = TestRegistry().Parse(op, attrs);
  EXPECT_TRUE(p.ok()) << p.status();
  absl::StatusOr<Shape> os = OutShape(op, attrs, shapes);
  EXPECT_TRUE(os.ok()) << os.status();
  std::vector<TensorView> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in.push_back({inputs[i].data(), shapes[i], dtype, Context::Cpu()});
  }
  std::vector<T> y(os->Size());
  std::vector<TensorView> out = {{y.data(), *os, dtype, Context::Cpu()}};
  std::vector<OpReq> reqs = {OpReq::kWriteTo};
  absl::Status s = p->Forward(OpContext{}, in, reqs, out);
  EXPECT_TRUE(s.ok()) << s;
  return y;
}

// float64 input gradients of `op` for a head gradient of ones.
std::vector<std::vector<double>> GradOnes(const std::string& op, const AttrMap& attrs,
                                          std::vector<std::vector<double>> inputs,
                                          const std::vector<Shape>& shapes) {
  absl::StatusOr<ParsedOp> p = TestRegistry().Parse(op, attrs);
  EXPECT_TRUE(p.ok()) << p.status();
  std::vector<double> y = Forward<double>(op, attrs, inputs, shapes, DType::kFloat64);
  const Shape os = *OutShape(op, attrs, shapes);
  std::vector<double> head(y.size(), 1.0);
  std::vector<TensorView> in, grads;
  std::vector<std::vector<double>> g;
  for (size_t i = 0; i < inputs.size(); ++i) g.emplace_back(inputs[i].size(), -7.0);
  for (size_t i = 0; i < inputs.size(); ++i) {
    in.push_back({inputs[i].data(), shapes[i], DType::kFloat64, Context::Cpu()});
    grads.push_back({g[i].data(), shapes[i], DType::kFloat64, Context::Cpu()});
  }
  std::vector<TensorView> outs = {{y.data(), os, DType::kFloat64, Context::Cpu()}};
  std::vector<TensorView> heads = {{head.data(), os, DType::kFloat64, Context::Cpu()}};
  std::vector<OpReq> reqs(inputs.size(), OpReq::kWriteTo);
  absl::Status s = p->Backward(OpContext{}, BackwardArgs{heads, in, outs, grads, reqs});
  EXPECT_TRUE(s.ok()) << s;
  return g;
}

void ExpectSame(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << ": " << got[i];
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, std::fabs(want[i])))
          << "element " << i;
    }
  }
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(PowerTest, GradientsAtZeroNegativeAndInfinityMatchMXNet) {
  // mx.nd._internal._power(a, b).backward(ones): d/db is NaN at a <= 0 (0 * log 0, log -1).
  auto g = GradOnes("_power", {}, {{0, -1, 2, 1.5, 0, 3}, {2, 2, 0.5, 1.5, -1, 0}}, {{6}, {6}});
  ExpectSame(g[0], {0.0, -2.0, 0.3535533905932738, 1.8371173070873834, -kInf, 0.0});
  ExpectSame(g[1], {kNaN, kNaN, 0.9802581434685472, 0.7448869675255658, -kInf,
                    1.0986122886681098});
  // broadcast_power reduces the rhs gradient over the broadcast rows.
  g = GradOnes("broadcast_power", {}, {{0.5, 2, 3, 1}, {2, -1}}, {{2, 2}, {1, 2}});
  ExpectSame(g[0], {1.0, -0.25, 6.0, -1.0});
  ExpectSame(g[1], {9.714223802873, 0.34657359027997264});
}

TEST(PowerTest, ScalarGradientsMatchMXNet) {
  const std::vector<double> x = {0, -1, 1, 2};
  ExpectSame(GradOnes("_power_scalar", {{"scalar", "2"}}, {x}, {{4}})[0], {0, -2, 2, 4});
  ExpectSame(GradOnes("_power_scalar", {{"scalar", "0.5"}}, {x}, {{4}})[0],
             {kInf, kNaN, 0.5, 0.3535533905932738});
  ExpectSame(GradOnes("_rpower_scalar", {{"scalar", "2"}}, {x}, {{4}})[0],
             {0.6931471805599453, 0.34657359027997264, 1.3862943611198906, 2.772588722239781});
  // Ties go to the data: mshadow_op::ge / le.
  ExpectSame(GradOnes("_maximum_scalar", {{"scalar", "1"}}, {x}, {{4}})[0], {0, 0, 1, 1});
  ExpectSame(GradOnes("_minimum_scalar", {{"scalar", "1"}}, {x}, {{4}})[0], {1, 1, 1, 0});
}

TEST(CompareTest, GradientsAreZero) {
  for (const char* op : {"_equal", "_greater", "broadcast_lesser_equal"}) {
    auto g = GradOnes(op, {}, {{1, 2}, {1, 3}}, {{2}, {2}});
    ExpectSame(g[0], {0, 0});
    ExpectSame(g[1], {0, 0});
  }
  ExpectSame(GradOnes("_not_equal_scalar", {{"scalar", "1"}}, {{1, 2}}, {{2}})[0], {0, 0});
}

TEST(IntegerDtypeTest, PowerAndComparisonsMatchMXNet) {
  // MXNet computes integer powers in float32 and truncates: int8 3^5 = 243 wraps to -13.
  EXPECT_EQ(Forward<int32_t>("_power", {}, {{3, 4, 2, 1}, {5, 4, 3, 0}}, {{4}, {4}},
                             DType::kInt32),
            (std::vector<int32_t>{243, 256, 8, 1}));
  EXPECT_EQ(Forward<int8_t>("_power", {}, {{3, 4, 2, 1}, {5, 4, 3, 0}}, {{4}, {4}},
                            DType::kInt8),
            (std::vector<int8_t>{-13, 0, 8, 1}));
  EXPECT_EQ(Forward<uint8_t>("_power", {}, {{3, 4, 2, 1}, {5, 4, 3, 0}}, {{4}, {4}},
                             DType::kUint8),
            (std::vector<uint8_t>{243, 0, 8, 1}));
  // 3^39 through powf: 4052555218645155840, not the exact 4052555153018976267.
  EXPECT_EQ(Forward<int64_t>("_power", {}, {{3}, {39}}, {{1}, {1}}, DType::kInt64),
            (std::vector<int64_t>{4052555218645155840}));
  // Scalars are cast to the dtype first: > 1.5 is > 1, max with 2.5 is max with 2.
  const std::vector<int32_t> a = {3, 4, 2, 1};
  EXPECT_EQ(Forward<int32_t>("_greater_scalar", {{"scalar", "1.5"}}, {a}, {{4}}, DType::kInt32),
            (std::vector<int32_t>{1, 1, 1, 0}));
  EXPECT_EQ(Forward<int32_t>("_maximum_scalar", {{"scalar", "2.5"}}, {a}, {{4}}, DType::kInt32),
            (std::vector<int32_t>{3, 4, 2, 2}));
  EXPECT_EQ(Forward<int32_t>("_power_scalar", {{"scalar", "2"}}, {a}, {{4}}, DType::kInt32),
            (std::vector<int32_t>{9, 16, 4, 1}));
  EXPECT_EQ(Forward<int32_t>("_rpower_scalar", {{"scalar", "2"}}, {a}, {{4}}, DType::kInt32),
            (std::vector<int32_t>{8, 16, 4, 2}));
  EXPECT_EQ(Forward<int64_t>("broadcast_lesser", {}, {{3, 4, 2, 1}, {5, 4}}, {{4, 1}, {1, 2}},
                             DType::kInt64),
            (std::vector<int64_t>{1, 1, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(Forward<int32_t>("slice", {{"begin", "(None, None)"}, {"end", "(None, None)"},
                                       {"step", "(-1, -2)"}},
                             {{0, 1, 2, 3, 4, 5}}, {{2, 3}}, DType::kInt32),
            (std::vector<int32_t>{5, 3, 2, 0}));
  EXPECT_EQ(Forward<int64_t>("broadcast_to", {{"shape", "(0, 3)"}}, {{7, 8}}, {{2, 1}},
                             DType::kInt64),
            (std::vector<int64_t>{7, 7, 7, 8, 8, 8}));
}

TEST(CompareTest, OutputKeepsTheInputDtype) {
  absl::StatusOr<ParsedOp> p = TestRegistry().Parse("_greater", {});
  ASSERT_TRUE(p.ok());
  std::vector<InferType> in = {DType::kInt32, std::nullopt}, out(1);
  ASSERT_TRUE(p->InferTypes(&in, &out).ok());
  EXPECT_EQ(*out[0], DType::kInt32);
  EXPECT_EQ(*in[1], DType::kInt32);
}

TEST(SliceTest, ShapesMatchMXNet) {
  const Shape x = {2, 3, 4};
  auto shape = [&](AttrMap attrs) { return OutShape("slice", attrs, {x}); };
  EXPECT_EQ(*shape({{"begin", "(3,)"}, {"end", "(5,)"}}), (Shape{0, 3, 4}));
  EXPECT_EQ(*shape({{"begin", "(1,)"}, {"end", "(1,)"}}), (Shape{0, 3, 4}));
  EXPECT_EQ(*shape({{"begin", "(2,)"}, {"end", "(1,)"}}), (Shape{0, 3, 4}));
  EXPECT_EQ(*shape({{"begin", "(0,)"}, {"end", "(5,)"}}), (Shape{2, 3, 4}));
  EXPECT_EQ(*shape({{"begin", "(None, None, 2)"}, {"end", "(None, None, -100)"},
                    {"step", "(None, None, -1)"}}),
            (Shape{2, 3, 3}));
  EXPECT_EQ(*shape({{"begin", "(None, None, None)"}, {"end", "(None, None, None)"},
                    {"step", "(None, None, 3)"}}),
            (Shape{2, 3, 2}));
  EXPECT_EQ(*OutShape("crop", {{"begin", "(0, 1)"}, {"end", "(1, 2)"}}, {x}), (Shape{1, 1, 4}));
}

TEST(SliceTest, BadParametersAreInvalidArgument) {
  const Shape x = {2, 3, 4};
  for (const AttrMap& attrs : std::vector<AttrMap>{
           {{"begin", "(0,)"}, {"end", "(1,)"}, {"step", "(0,)"}},
           {{"begin", "(0, 0)"}, {"end", "(1,)"}},
           {{"begin", "(0,)"}, {"end", "(1,)"}, {"step", "(1, 1)"}},
           {{"begin", "(0, 0, 0, 0)"}, {"end", "(1, 1, 1, 1)"}},
           {{"begin", "(a,)"}, {"end", "(1,)"}},
           {{"end", "(1,)"}},
           {{"begin", "(0,)"}, {"end", "(1,)"}, {"bogus", "1"}}}) {
    EXPECT_EQ(OutShape("slice", attrs, {x}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(BroadcastToTest, ShapeRulesMatchMXNet) {
  EXPECT_EQ(*OutShape("broadcast_to", {{"shape", "(2, 0)"}}, {{1, 3}}), (Shape{2, 3}));
  // MXNet rejects a dim that is neither 1 nor equal, a different ndim, and the empty shape.
  for (const char* s : {"(2, 4)", "(2, 2, 3)", "()"}) {
    EXPECT_EQ(OutShape("broadcast_to", {{"shape", s}}, {{1, 3}}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << s;
  }
  EXPECT_EQ(OutShape("broadcast_to", {{"shape", "(2, 3)"}}, {{3}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BroadcastLikeTest, ShapeRulesMatchMXNet) {
  EXPECT_EQ(*OutShape("broadcast_like", {}, {{1, 3}, {4, 3}}), (Shape{4, 3}));
  EXPECT_EQ(*OutShape("broadcast_like", {}, {{2, 3}, {2, 3}}), (Shape{2, 3}));
  EXPECT_EQ(*OutShape("broadcast_like", {{"lhs_axes", "(-1,)"}, {"rhs_axes", "(-1,)"}},
                      {{2, 1}, {5, 7}}),
            (Shape{2, 7}));
  EXPECT_EQ(OutShape("broadcast_like", {}, {{3}, {2, 3}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Empty axes are refused, as MXNet's "Empty axes tuple is not allowed".
  EXPECT_EQ(OutShape("broadcast_like", {{"lhs_axes", "()"}, {"rhs_axes", "()"}},
                     {{1, 3}, {4, 3}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OutShape("broadcast_like", {}, {{2, 3}, {4, 3}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OutShape("broadcast_like", {{"lhs_axes", "(0,)"}, {"rhs_axes", "(0,)"}},
                     {{2, 3}, {4, 3}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TestRegistry().Parse("broadcast_like", {{"lhs_axes", "(0,)"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BroadcastLikeTest, RhsGradientIsZeroAndLhsSums) {
  auto g = GradOnes("broadcast_like", {}, {{1, 2}, {0, 0, 0, 0, 0, 0}}, {{2, 1}, {2, 3}});
  ExpectSame(g[0], {3, 3});
  ExpectSame(g[1], {0, 0, 0, 0, 0, 0});
}

TEST(AliasTest, MXNetNamesResolve) {
  const std::pair<const char*, const char*> aliases[] = {
      {"_Power", "_power"},           {"_PowerScalar", "_power_scalar"},
      {"_RPowerScalar", "_rpower_scalar"}, {"_MaximumScalar", "_maximum_scalar"},
      {"_MinimumScalar", "_minimum_scalar"}, {"_Equal", "_equal"},
      {"_Not_Equal", "_not_equal"},   {"_Greater_Equal", "_greater_equal"},
      {"_Lesser_Equal", "_lesser_equal"}, {"_NotEqualScalar", "_not_equal_scalar"},
      {"_GreaterEqualScalar", "_greater_equal_scalar"}, {"_LesserScalar", "_lesser_scalar"},
      {"crop", "slice"}};
  for (const auto& [alias, name] : aliases) {
    absl::StatusOr<const OpDef*> def = TestRegistry().Find(alias);
    ASSERT_TRUE(def.ok()) << alias;
    EXPECT_EQ((*def)->name, name);
  }
}

}  // namespace
}  // namespace mxgrid::ops
