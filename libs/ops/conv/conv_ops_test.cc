#include "libs/ops/conv/conv_ops.h"

#include <cmath>
#include <cstdlib>
#include <random>
#include <set>
#include <type_traits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/conv/conv_cases.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/registry.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

TEST(ConvOpsTest, RegistersIntoFreshRegistry) {
  Registry registry;
  ASSERT_TRUE(RegisterConvOps(&registry).ok());
  EXPECT_EQ(RegisterConvOps(&registry).code(), absl::StatusCode::kAlreadyExists);
}

// The family's registry, built once for the parameterized cases.
const Registry& ConvRegistry() {
  static const Registry* registry = [] {
    auto* r = new Registry();
    EXPECT_TRUE(RegisterConvOps(r).ok());
    return r;
  }();
  return *registry;
}

TEST(ConvOpsTest, EveryRegisteredOpHasCases) {
  const Registry& registry = ConvRegistry();
  std::set<std::string> covered = testing::CoveredOps(registry, testing::ConvCases());
  for (const OpDef* def : registry.List()) EXPECT_TRUE(covered.count(def->name)) << def->name;
}

class ConvCaseTest : public ::testing::TestWithParam<testing::OpCase> {};

TEST_P(ConvCaseTest, MatchesReferenceAndGradients) {
  testing::CheckCase(ConvRegistry(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Conv, ConvCaseTest, ::testing::ValuesIn(testing::ConvCases()),
                         [](const ::testing::TestParamInfo<testing::OpCase>& info) {
                           return info.param.name;
                         });

// Parses `op` with `attrs` and infers shapes from `in`; returns the status.
absl::Status Infer(const std::string& op, const AttrMap& attrs, std::vector<Shape> in) {
  Registry registry;
  absl::Status st = RegisterConvOps(&registry);
  if (!st.ok()) return st;
  absl::StatusOr<ParsedOp> parsed = registry.Parse(op, attrs);
  if (!parsed.ok()) return parsed.status();
  std::vector<InferShape> ins(parsed->num_inputs());
  for (size_t i = 0; i < in.size(); ++i) ins[i] = in[i];
  std::vector<InferShape> outs(parsed->num_outputs());
  return parsed->InferShapes(&ins, &outs);
}

void ExpectInvalid(const absl::Status& st, const std::vector<std::string>& needles) {
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  for (const std::string& n : needles) {
    EXPECT_NE(std::string(st.message()).find(n), std::string::npos) << st << " lacks " << n;
  }
}

TEST(ConvOpsTest, ConvolutionRejectsKernelLargerThanPaddedInput) {
  ExpectInvalid(Infer("Convolution", {{"kernel", "(5, 5)"}, {"num_filter", "2"}},
                      {{1, 1, 4, 6}}),
                {"Convolution", "(5, 5)", "(1, 1, 4, 6)"});
}

TEST(ConvOpsTest, ConvolutionRejectsChannelsNotDivisibleByGroups) {
  ExpectInvalid(Infer("Convolution",
                      {{"kernel", "(1, 1)"}, {"num_filter", "4"}, {"num_group", "2"}},
                      {{1, 3, 4, 4}}),
                {"Convolution", "(1, 3, 4, 4)", "num_group 2"});
}

TEST(ConvOpsTest, ConvolutionRejectsBadLayoutAndMissingKernel) {
  ExpectInvalid(Infer("Convolution",
                      {{"kernel", "(1, 1)"}, {"num_filter", "4"}, {"layout", "NHWC"}}, {}),
                {"Convolution", "layout"});
  ExpectInvalid(Infer("Convolution",
                      {{"kernel", "(1, 1)"}, {"num_filter", "4"}, {"layout", "NCW"}}, {}),
                {"Convolution", "NCW"});
  ExpectInvalid(Infer("Convolution", {{"num_filter", "4"}}, {}), {"Convolution", "kernel"});
}

TEST(ConvOpsTest, ConvolutionBackInfersBatch) {
  Registry registry;
  ASSERT_TRUE(RegisterConvOps(&registry).ok());
  absl::StatusOr<ParsedOp> op =
      registry.Parse("Convolution", {{"kernel", "(3, 3)"}, {"num_filter", "2"}});
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<InferShape> in = {Shape{-1, 3, 5, 5}, std::nullopt, std::nullopt};
  std::vector<InferShape> out = {Shape{7, 2, 3, 3}};
  ASSERT_TRUE(op->InferShapes(&in, &out).ok());
  EXPECT_EQ(*in[0], (Shape{7, 3, 5, 5}));
  EXPECT_EQ(*in[1], (Shape{2, 3, 3, 3}));
  EXPECT_EQ(*in[2], (Shape{2}));
}

// Shapes reported by MXNet 1.9.1 for
// mx.sym.Deconvolution(mx.sym.var('data'), **attrs).infer_shape(data=data_shape).
TEST(ConvOpsTest, DeconvolutionShapesMatchMXNet) {
  struct Expect {
    AttrMap attrs;
    Shape data, weight, output;
    bool bias;
  };
  const std::vector<Expect> cases = {
      {{{"kernel", "(3, 3)"}, {"num_filter", "6"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"},
        {"adj", "(1, 0)"}, {"num_group", "2"}},
       {1, 4, 3, 5}, {4, 3, 3, 3}, {1, 6, 6, 9}, false},
      {{{"kernel", "(4,)"}, {"num_filter", "2"}, {"stride", "(3,)"}, {"pad", "(2,)"},
        {"adj", "(1,)"}, {"no_bias", "False"}},
       {2, 3, 7}, {3, 2, 4}, {2, 2, 19}, true},
      {{{"kernel", "(3, 3)"}, {"num_filter", "3"}, {"stride", "(2, 2)"},
        {"target_shape", "(8, 9)"}},
       {1, 2, 4, 4}, {2, 3, 3, 3}, {1, 3, 8, 9}, false},
  };
  for (const Expect& e : cases) {
    absl::StatusOr<ParsedOp> op = ConvRegistry().Parse("Deconvolution", e.attrs);
    ASSERT_TRUE(op.ok()) << op.status();
    ASSERT_EQ(op->num_inputs(), e.bias ? 3 : 2);
    std::vector<InferShape> in(op->num_inputs()), out(1);
    in[0] = e.data;
    ASSERT_TRUE(op->InferShapes(&in, &out).ok()) << e.data.ToString();
    EXPECT_EQ(*in[1], e.weight);
    EXPECT_EQ(*out[0], e.output);
    if (e.bias) {
      EXPECT_EQ(*in[2], (Shape{2}));
    }
  }
  // MXNet: "adj(y) must be samller than stride[0]".
  ExpectInvalid(Infer("Deconvolution",
                      {{"kernel", "(3, 3)"}, {"num_filter", "3"}, {"stride", "(2, 2)"},
                       {"adj", "(2, 2)"}},
                      {{1, 2, 4, 4}}),
                {"Deconvolution", "adj", "stride"});
}

// Runs Forward then Backward (head gradient `head`) of `op` in element type T on `vals`;
// returns the visible output followed by every input gradient, as doubles.
template <typename T>
std::vector<std::vector<double>> RunOp(const ParsedOp& op, const std::vector<Shape>& shapes,
                                       const std::vector<std::vector<double>>& vals,
                                       const std::vector<double>& head, bool train) {
  std::vector<InferShape> ins(shapes.begin(), shapes.end()), outs(op.num_outputs());
  EXPECT_TRUE(op.InferShapes(&ins, &outs).ok());
  const DType dt = std::is_same_v<T, float> ? DType::kFloat32 : DType::kFloat64;
  std::vector<std::vector<T>> in_data, out_data, grad_data;
  for (const auto& v : vals) in_data.emplace_back(v.begin(), v.end());
  std::vector<TensorView> in_v, out_v, grad_v, head_v;
  for (size_t i = 0; i < shapes.size(); ++i) {
    in_v.push_back({in_data[i].data(), shapes[i], dt, {}});
    grad_data.emplace_back(shapes[i].Size(), T(0));
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    grad_v.push_back({grad_data[i].data(), shapes[i], dt, {}});
  }
  for (const InferShape& o : outs) out_data.emplace_back(o->Size());
  for (size_t i = 0; i < outs.size(); ++i) out_v.push_back({out_data[i].data(), *outs[i], dt, {}});
  // `head` for output 0, zeros for any other visible output (BatchNorm's mean and var).
  std::vector<std::vector<T>> head_t = {{head.begin(), head.end()}};
  for (int k = 1; k < op.num_visible_outputs(); ++k) head_t.emplace_back(outs[k]->Size(), T(0));
  for (size_t k = 0; k < head_t.size(); ++k) head_v.push_back({head_t[k].data(), *outs[k], dt, {}});
  OpContext ctx;
  ctx.is_train = train;
  std::vector<OpReq> out_reqs(outs.size(), OpReq::kWriteTo), reqs(shapes.size(), OpReq::kWriteTo);
  for (int aux : op.aux_indices()) reqs[aux] = OpReq::kNull;
  const absl::Status forward = op.Forward(ctx, in_v, out_reqs, out_v);
  EXPECT_TRUE(forward.ok()) << forward;
  BackwardArgs args{head_v, in_v, out_v, grad_v, reqs};
  const absl::Status backward = op.Backward(ctx, args);
  EXPECT_TRUE(backward.ok()) << backward;
  std::vector<std::vector<double>> result = {{out_data[0].begin(), out_data[0].end()}};
  for (const auto& g : grad_data) result.emplace_back(g.begin(), g.end());
  for (const auto& v : in_data) result.emplace_back(v.begin(), v.end());  // aux as updated
  return result;
}

std::vector<double> Ramp(int64_t n, double scale) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.7 * i + scale) * scale;
  return v;
}

TEST(ConvOpsTest, Float32OneDnnGradientsMatchFloat64Loops) {
  const Registry& registry = ConvRegistry();
  for (const AttrMap& attrs : std::vector<AttrMap>{
           {{"kernel", "(3, 2)"}, {"num_filter", "4"}, {"num_group", "2"}, {"stride", "(2, 1)"},
            {"pad", "(1, 1)"}, {"dilate", "(1, 2)"}},
           {{"kernel", "(3,)"}, {"num_filter", "3"}, {"no_bias", "True"}, {"pad", "(1,)"}}}) {
    absl::StatusOr<ParsedOp> op = registry.Parse("Convolution", attrs);
    ASSERT_TRUE(op.ok()) << op.status();
    const bool one_d = attrs.at("kernel") == "(3,)";
    std::vector<Shape> shapes = one_d ? std::vector<Shape>{{2, 2, 7}, {3, 2, 3}}
                                      : std::vector<Shape>{{2, 4, 7, 6}, {4, 2, 3, 2}, {4}};
    std::vector<std::vector<double>> vals;
    for (const Shape& s : shapes) vals.push_back(Ramp(s.Size(), 1.0 + vals.size()));
    std::vector<InferShape> ins(shapes.begin(), shapes.end()), outs(1);
    ASSERT_TRUE(op->InferShapes(&ins, &outs).ok());
    std::vector<double> head = Ramp(outs[0]->Size(), 0.5);
    auto f32 = RunOp<float>(*op, shapes, vals, head, true);
    auto f64 = RunOp<double>(*op, shapes, vals, head, true);
    for (size_t k = 0; k <= shapes.size(); ++k) {
      ASSERT_EQ(f32[k].size(), f64[k].size());
      for (size_t i = 0; i < f32[k].size(); ++i) {
        EXPECT_NEAR(f32[k][i], f64[k][i], 1e-4 * (1 + std::abs(f64[k][i]))) << k << " " << i;
      }
    }
  }
}

// float32 Convolution gradients under every request mix, on shapes where oneDNN runs its
// blocked-layout (jit) kernels with reorders (channels a multiple of 8) and on odd ones: a
// written gradient equals the float64 loops', an added one the base plus it, a null one is
// left untouched, whichever other gradients are wanted.
TEST(ConvOpsTest, Float32GradientsHonourEveryRequest) {
  struct Case {
    AttrMap attrs;
    std::vector<Shape> shapes;
  };
  const std::vector<Case> cases = {
      {{{"kernel", "(3, 3)"}, {"num_filter", "16"}, {"pad", "(1, 1)"}},
       {{2, 3, 8, 8}, {16, 3, 3, 3}, {16}}},
      {{{"kernel", "(3, 3)"}, {"num_filter", "16"}}, {{2, 16, 6, 7}, {16, 16, 3, 3}, {16}}},
      {{{"kernel", "(5, 5)"}, {"num_filter", "5"}}, {{3, 1, 9, 9}, {5, 1, 5, 5}, {5}}},
  };
  const std::vector<std::vector<OpReq>> req_sets = {
      {OpReq::kWriteTo, OpReq::kWriteTo, OpReq::kWriteTo},
      {OpReq::kAddTo, OpReq::kAddTo, OpReq::kAddTo},
      {OpReq::kNull, OpReq::kWriteTo, OpReq::kAddTo},
      {OpReq::kWriteTo, OpReq::kNull, OpReq::kWriteTo},
      {OpReq::kAddTo, OpReq::kWriteTo, OpReq::kNull},
  };
  constexpr float kBase = 0.25f;
  for (const Case& c : cases) {
    absl::StatusOr<ParsedOp> op = ConvRegistry().Parse("Convolution", c.attrs);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<std::vector<double>> vals;
    for (const Shape& sh : c.shapes) vals.push_back(Ramp(sh.Size(), 1.0 + vals.size()));
    std::vector<InferShape> ins(c.shapes.begin(), c.shapes.end()), outs(1);
    ASSERT_TRUE(op->InferShapes(&ins, &outs).ok());
    const std::vector<double> head = Ramp(outs[0]->Size(), 0.5);
    const auto f64 = RunOp<double>(*op, c.shapes, vals, head, true);  // [1..3]: gradients
    for (const std::vector<OpReq>& reqs : req_sets) {
      std::vector<std::vector<float>> in(3), grads(3);
      std::vector<TensorView> in_v, grad_v;
      for (int i = 0; i < 3; ++i) {
        in[i].assign(vals[i].begin(), vals[i].end());
        grads[i].assign(c.shapes[i].Size(), kBase);
        in_v.push_back({in[i].data(), c.shapes[i], DType::kFloat32, Context::Cpu()});
        grad_v.push_back({grads[i].data(), c.shapes[i], DType::kFloat32, Context::Cpu()});
      }
      std::vector<float> y(outs[0]->Size()), dy(head.begin(), head.end());
      const std::vector<TensorView> out_v = {{y.data(), *outs[0], DType::kFloat32, {}}};
      const std::vector<TensorView> head_v = {{dy.data(), *outs[0], DType::kFloat32, {}}};
      const std::vector<OpReq> write = {OpReq::kWriteTo};
      OpContext ctx;
      ctx.is_train = true;
      ASSERT_TRUE(op->Forward(ctx, in_v, write, out_v).ok());
      ASSERT_TRUE(op->Backward(ctx, BackwardArgs{head_v, in_v, out_v, grad_v, reqs}).ok());
      for (int i = 0; i < 3; ++i) {
        for (size_t j = 0; j < grads[i].size(); ++j) {
          const double g = f64[1 + i][j];
          const double want = reqs[i] == OpReq::kNull    ? kBase
                              : reqs[i] == OpReq::kAddTo ? kBase + g
                                                         : g;
          ASSERT_NEAR(grads[i][j], want, 1e-4 * (1 + std::abs(want)))
              << c.shapes[0].ToString() << " input " << i << " request "
              << static_cast<int>(reqs[i]) << " element " << j;
        }
      }
    }
  }
}

// Pooling and BatchNorm run float32 on oneDNN only where their rule picks it; this forces
// oneDNN and compares outputs, gradients and updated moving stats with the float64 loops.
TEST(ConvOpsTest, Float32OneDnnPoolingAndBatchNormMatchFloat64Loops) {
  struct ForceDnnl {
    ForceDnnl() { conv_internal::SetCpuKernelChoice(conv_internal::KernelChoice::kDnnl); }
    ~ForceDnnl() { conv_internal::SetCpuKernelChoice(conv_internal::KernelChoice::kAuto); }
  } force;
  struct Case {
    const char* op;
    AttrMap attrs;
    std::vector<Shape> shapes;
    bool train;
  };
  const std::vector<Case> cases = {
      {"Pooling", {{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}}, {{2, 3, 6, 5}}, true},
      // 'full' adds a right / bottom pad of 2 (ceil) on top of the symmetric 1.
      {"Pooling", {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"},
                   {"pooling_convention", "full"}}, {{1, 2, 8, 7}}, true},
      {"Pooling", {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"},
                   {"pool_type", "avg"}, {"pooling_convention", "full"}}, {{2, 2, 8, 7}}, true},
      {"Pooling", {{"kernel", "(3, 2)"}, {"stride", "(2, 1)"}, {"pad", "(1, 1)"},
                   {"pool_type", "avg"}, {"count_include_pad", "False"}}, {{2, 1, 5, 4}}, true},
      {"Pooling", {{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}, {"pool_type", "sum"},
                   {"pooling_convention", "full"}}, {{1, 2, 5, 5}}, true},
      {"Pooling", {{"global_pool", "True"}, {"pool_type", "avg"}}, {{2, 3, 4, 5}}, true},
      {"Pooling", {{"global_pool", "True"}, {"pool_type", "sum"}}, {{2, 3, 4, 5}}, true},
      {"Pooling", {{"global_pool", "True"}}, {{2, 3, 7}}, true},
      {"Pooling", {{"kernel", "(3,)"}, {"stride", "(2,)"}, {"pool_type", "avg"}}, {{2, 2, 8}},
       true},
      {"BatchNorm", {}, {{2, 3, 4, 5}, {3}, {3}, {3}, {3}}, true},
      {"BatchNorm", {{"fix_gamma", "False"}, {"output_mean_var", "True"}, {"momentum", "0.7"}},
       {{3, 4, 3, 3}, {4}, {4}, {4}, {4}}, true},
      {"BatchNorm", {{"fix_gamma", "False"}, {"eps", "0.01"}}, {{2, 3, 3, 3}, {3}, {3}, {3}, {3}},
       false},
      {"BatchNorm", {{"fix_gamma", "False"}, {"use_global_stats", "True"}},
       {{2, 2, 3}, {2}, {2}, {2}, {2}}, true},
      {"BatchNorm", {{"fix_gamma", "False"}, {"axis", "-1"}}, {{3, 2, 4}, {4}, {4}, {4}, {4}},
       true},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ParsedOp> op = ConvRegistry().Parse(c.op, c.attrs);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<std::vector<double>> vals;
    for (const Shape& s : c.shapes) vals.push_back(Ramp(s.Size(), 1.0 + vals.size()));
    if (c.shapes.size() == 5) {
      for (double& v : vals[4]) v = std::abs(v) + 0.5;  // a positive moving variance
    }
    std::vector<InferShape> ins(c.shapes.begin(), c.shapes.end()), outs(op->num_outputs());
    ASSERT_TRUE(op->InferShapes(&ins, &outs).ok());
    std::vector<double> head = Ramp(outs[0]->Size(), 0.5);
    auto f32 = RunOp<float>(*op, c.shapes, vals, head, c.train);
    auto f64 = RunOp<double>(*op, c.shapes, vals, head, c.train);
    ASSERT_EQ(f32.size(), f64.size());
    for (size_t k = 0; k < f32.size(); ++k) {
      ASSERT_EQ(f32[k].size(), f64[k].size());
      for (size_t i = 0; i < f32[k].size(); ++i) {
        EXPECT_NEAR(f32[k][i], f64[k][i], 1e-4 * (1 + std::abs(f64[k][i])))
            << c.op << " " << c.shapes[0].ToString() << " result " << k << " element " << i;
      }
    }
  }
  // Ties route the gradient to the first maximum on oneDNN too.
  absl::StatusOr<ParsedOp> pool = ConvRegistry().Parse("Pooling", {{"kernel", "(2, 2)"}});
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto r = RunOp<float>(*pool, {{1, 1, 2, 2}}, {{1, 1, 1, 1}}, {3.0}, true);
  EXPECT_EQ(r[1], (std::vector<double>{3, 0, 0, 0}));
}

TEST(ConvOpsTest, MaxPoolTiesRouteGradientToFirstMaximum) {
  absl::StatusOr<ParsedOp> op = ConvRegistry().Parse("Pooling", {{"kernel", "(2, 2)"}});
  ASSERT_TRUE(op.ok()) << op.status();
  auto r = RunOp<double>(*op, {{1, 1, 2, 2}}, {{1, 1, 1, 1}}, {3.0}, true);
  EXPECT_EQ(r[1], (std::vector<double>{3, 0, 0, 0}));  // MXNet 1.9.1 gives [1, 0, 0, 0] * 3
}

// Runs float32 `op` forward and backward on x with head dy, outputs and gradients written
// (add = false) or added onto `base` (add = true); returns {y, dx}.
std::vector<std::vector<float>> RunFloatPool(const ParsedOp& op, const Shape& xs,
                                             const std::vector<float>& x,
                                             const std::vector<float>& dy, bool add,
                                             float base) {
  std::vector<InferShape> ins = {xs}, outs(1);
  EXPECT_TRUE(op.InferShapes(&ins, &outs).ok());
  std::vector<float> y(outs[0]->Size(), base), dx(x.size(), base);
  std::vector<float> xc = x, dyc = dy;
  TensorView xv{xc.data(), xs, DType::kFloat32, Context::Cpu()};
  TensorView yv{y.data(), *outs[0], DType::kFloat32, Context::Cpu()};
  TensorView dyv{dyc.data(), *outs[0], DType::kFloat32, Context::Cpu()};
  TensorView dxv{dx.data(), xs, DType::kFloat32, Context::Cpu()};
  const OpReq req = add ? OpReq::kAddTo : OpReq::kWriteTo;
  std::mt19937_64 rng(1);
  OpContext ctx{true, Context::Cpu(), &rng};
  std::vector<TensorView> in_views = {xv}, out_views = {yv}, heads = {dyv}, grads = {dxv};
  std::vector<OpReq> out_reqs = {req}, grad_reqs = {req};
  EXPECT_TRUE(op.Forward(ctx, in_views, out_reqs, out_views).ok());
  EXPECT_TRUE(op.Backward(ctx, BackwardArgs{heads, in_views, out_views, grads, grad_reqs}).ok());
  return {y, dx};
}

// Max pooling with tiled windows (kernel == stride, no padding) runs its own float32 kernel
// (pooling_tiled.cc, 2x2 in SIMD groups of 4 outputs); it must equal the loop kernels bit
// for bit, ties (many equal values) and uncovered right / bottom cells included.
TEST(ConvOpsTest, TiledMaxPoolingMatchesLoopKernelsExactly) {
  struct Case {
    AttrMap attrs;
    Shape shape;
  };
  const std::vector<Case> cases = {
      {{{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}}, {2, 3, 9, 19}},   // tails both ways
      {{{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}}, {1, 2, 8, 16}},   // all SIMD
      {{{"kernel", "(2, 2)"}}, {1, 1, 4, 4}},                          // stride defaults to 1
      {{{"kernel", "(3, 3)"}, {"stride", "(3, 3)"}}, {2, 2, 10, 11}},
      {{{"kernel", "(2, 1)"}, {"stride", "(2, 1)"}}, {1, 2, 5, 6}},
      {{{"kernel", "(3,)"}, {"stride", "(3,)"}}, {2, 2, 10}},
      {{{"global_pool", "True"}, {"kernel", "(1, 1)"}}, {2, 3, 5, 7}},
      {{{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}, {"pooling_convention", "full"}},
       {1, 1, 5, 5}},  // 'full' reaches past the data: not tiled, loops both times
  };
  std::mt19937 gen(3);
  std::uniform_int_distribution<int> small(-3, 3);  // plenty of ties
  for (const Case& c : cases) {
    absl::StatusOr<ParsedOp> op = ConvRegistry().Parse("Pooling", c.attrs);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<InferShape> ins = {c.shape}, outs(1);
    ASSERT_TRUE(op->InferShapes(&ins, &outs).ok());
    std::vector<float> x(c.shape.Size()), dy(outs[0]->Size());
    for (float& v : x) v = static_cast<float>(small(gen));
    for (float& v : dy) v = static_cast<float>(small(gen)) + 0.25f;
    for (bool add : {false, true}) {
      auto fast = RunFloatPool(*op, c.shape, x, dy, add, 0.5f);
      conv_internal::SetCpuKernelChoice(conv_internal::KernelChoice::kLoops);
      auto loops = RunFloatPool(*op, c.shape, x, dy, add, 0.5f);
      conv_internal::SetCpuKernelChoice(conv_internal::KernelChoice::kAuto);
      EXPECT_EQ(fast[0], loops[0]) << c.shape.ToString() << " add " << add << " output";
      EXPECT_EQ(fast[1], loops[1]) << c.shape.ToString() << " add " << add << " gradient";
    }
  }
}

TEST(ConvOpsTest, BatchNormTrainingUpdatesMovingStatsWithBiasedVariance) {
  absl::StatusOr<ParsedOp> op = ConvRegistry().Parse("BatchNorm", {{"momentum", "0.8"}});
  ASSERT_TRUE(op.ok()) << op.status();
  // Channel 0: {1, 3, 5, 7} (mean 4, biased var 5); channel 1: {2, 2, 2, 2}.
  auto r = RunOp<double>(*op, {{2, 2, 2}, {2}, {2}, {2}, {2}},
                         {{1, 3, 2, 2, 5, 7, 2, 2}, {5, 5}, {0, 0}, {1, 2}, {1, 1}},
                         std::vector<double>(8, 1.0), true);
  // r: output, 5 grads, then the inputs as updated (moving_mean at 6 + 3, var at 6 + 4).
  EXPECT_NEAR(r[9][0], 0.8 * 1 + 0.2 * 4, 1e-12);
  EXPECT_NEAR(r[9][1], 0.8 * 2 + 0.2 * 2, 1e-12);
  EXPECT_NEAR(r[10][0], 0.8 * 1 + 0.2 * 5, 1e-12);
  EXPECT_NEAR(r[10][1], 0.8 * 1 + 0.2 * 0, 1e-12);
  EXPECT_EQ(r[2], (std::vector<double>{0, 0}));  // fix_gamma: zero gamma gradient
  EXPECT_NEAR(r[0][0], (1 - 4) / std::sqrt(5 + 1e-3), 1e-12);  // gamma 5 ignored
}

TEST(ConvOpsTest, PoolingAndBatchNormRejectBadInput) {
  ExpectInvalid(Infer("Pooling", {{"kernel", "(4, 4)"}}, {{1, 1, 3, 9}}),
                {"Pooling", "(4, 4)", "(1, 1, 3, 9)"});
  ExpectInvalid(Infer("Pooling", {{"kernel", "(2, 2)"}, {"pool_type", "lp"}}, {}),
                {"Pooling", "pool_type"});
  ExpectInvalid(Infer("BatchNorm", {{"axis", "3"}}, {{2, 3, 4}}), {"BatchNorm", "(2, 3, 4)"});
  ExpectInvalid(Infer("BatchNorm", {}, {{2, 3, 4}, {4}}), {"BatchNorm", "gamma", "(4,)"});
}

}  // namespace
}  // namespace mxgrid::ops
