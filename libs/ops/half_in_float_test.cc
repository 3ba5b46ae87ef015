// Operators on float16/bfloat16 arrays (half_in_float.h): each result equals the float32
// kernel's result rounded once; auxiliary states and accumulated gradients come back too.
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/base/dtype.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

std::vector<Half> ToHalf(const std::vector<float>& x) {
  std::vector<Half> h;
  for (float v : x) h.push_back(FloatToHalf(v));
  return h;
}

std::vector<float> Rounded(const std::vector<float>& x) {
  std::vector<float> r;
  for (float v : x) r.push_back(HalfToFloat(FloatToHalf(v)));
  return r;
}

std::vector<float> FromHalf(const std::vector<Half>& h) {
  std::vector<float> x;
  for (Half v : h) x.push_back(HalfToFloat(v));
  return x;
}

// Output 0 of `op` forward, computed in float32 (half=false) or on float16 arrays.
std::vector<float> Forward(const std::string& op, const AttrMap& attrs,
                           const std::vector<std::vector<float>>& inputs,
                           const std::vector<Shape>& shapes, bool half, bool train = false,
                           std::vector<std::vector<float>>* inputs_after = nullptr) {
  absl::StatusOr<ParsedOp> p = GlobalRegistry().Parse(op, attrs);
  EXPECT_TRUE(p.ok()) << p.status();
  std::vector<InferShape> in(shapes.begin(), shapes.end()), out(p->num_outputs());
  EXPECT_TRUE(p->InferShapes(&in, &out).ok());
  const DType dt = half ? DType::kFloat16 : DType::kFloat32;
  std::vector<std::vector<float>> xf = inputs, yf;
  std::vector<std::vector<Half>> xh, yh;
  std::vector<TensorView> views, outs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    xh.push_back(ToHalf(inputs[i]));
    views.push_back({half ? static_cast<void*>(xh[i].data()) : xf[i].data(), shapes[i], dt,
                     Context::Cpu()});
  }
  for (const auto& o : out) {
    yf.emplace_back(o->Size());
    yh.emplace_back(o->Size());
  }
  for (size_t i = 0; i < out.size(); ++i) {
    outs.push_back({half ? static_cast<void*>(yh[i].data()) : yf[i].data(), *out[i], dt,
                    Context::Cpu()});
  }
  std::vector<OpReq> reqs(out.size(), OpReq::kWriteTo);
  OpContext ctx;
  ctx.is_train = train;
  const absl::Status s = p->Forward(ctx, views, reqs, outs);
  EXPECT_TRUE(s.ok()) << s;
  if (inputs_after != nullptr) {
    inputs_after->clear();
    for (size_t i = 0; i < inputs.size(); ++i) {
      inputs_after->push_back(half ? FromHalf(xh[i]) : xf[i]);
    }
  }
  return half ? FromHalf(yh[0]) : yf[0];
}

TEST(HalfInFloatTest, ElementwiseAndBroadcastEqualRoundedFloat) {
  // Values exact in float16, so float32 and float16 runs see the same inputs.
  const std::vector<float> a = {0.5f, -1.25f, 3.0f, 1024.0f, 0.125f, -7.5f};
  const std::vector<float> b = {2.0f, 0.75f, -0.5f};
  EXPECT_EQ(Forward("elemwise_add", {}, {a, a}, {{6}, {6}}, true),
            Rounded(Forward("elemwise_add", {}, {a, a}, {{6}, {6}}, false)));
  EXPECT_EQ(Forward("broadcast_mul", {}, {a, b}, {{2, 3}, {1, 3}}, true),
            Rounded(Forward("broadcast_mul", {}, {a, b}, {{2, 3}, {1, 3}}, false)));
  EXPECT_EQ(Forward("exp", {}, {b}, {{3}}, true), Rounded(Forward("exp", {}, {b}, {{3}}, false)));
  EXPECT_EQ(Forward("_plus_scalar", {{"scalar", "0.5"}}, {a}, {{6}}, true),
            Rounded(Forward("_plus_scalar", {{"scalar", "0.5"}}, {a}, {{6}}, false)));
}

TEST(HalfInFloatTest, ReductionAccumulatesInFloat) {
  // 4096 ones: a float16 accumulator would stop at 2048; MXNet sums half_t in float.
  const std::vector<float> ones(4096, 1.0f);
  EXPECT_EQ(Forward("sum", {}, {ones}, {{4096}}, true), std::vector<float>{4096.0f});
}

TEST(HalfInFloatTest, FullyConnectedMatchesFloat) {
  std::vector<float> x(2 * 8), w(3 * 8), bias = {0.5f, -0.25f, 1.0f};
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) * 0.25f - 0.5f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) * 0.125f - 0.375f;
  const std::vector<Shape> shapes = {{2, 8}, {3, 8}, {3}};
  EXPECT_EQ(Forward("FullyConnected", {{"num_hidden", "3"}}, {x, w, bias}, shapes, true),
            Rounded(Forward("FullyConnected", {{"num_hidden", "3"}}, {x, w, bias}, shapes,
                            false)));
}

TEST(HalfInFloatTest, BatchNormWritesItsMovingStatisticsBack) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<float> gamma = {1, 1}, beta = {0, 0}, mean = {0, 0}, var = {1, 1};
  const std::vector<Shape> shapes = {{2, 2, 2}, {2}, {2}, {2}, {2}};
  std::vector<std::vector<float>> after_half, after_float;
  const std::vector<float> yh = Forward("BatchNorm", {{"fix_gamma", "False"}},
                                        {x, gamma, beta, mean, var}, shapes, true, true,
                                        &after_half);
  const std::vector<float> yf = Forward("BatchNorm", {{"fix_gamma", "False"}},
                                        {x, gamma, beta, mean, var}, shapes, false, true,
                                        &after_float);
  EXPECT_EQ(yh, Rounded(yf));
  ASSERT_EQ(after_half.size(), 5u);
  EXPECT_NE(after_float[3], mean);  // training moved the statistics
  EXPECT_EQ(after_half[3], Rounded(after_float[3]));
  EXPECT_EQ(after_half[4], Rounded(after_float[4]));
}

TEST(HalfInFloatTest, BackwardAccumulatesIntoHalfGradients) {
  absl::StatusOr<ParsedOp> p = GlobalRegistry().Parse("elemwise_mul", {});
  ASSERT_TRUE(p.ok());
  std::vector<Half> a = ToHalf({1, 2, 3}), b = ToHalf({4, 5, 6}), y = ToHalf({4, 10, 18});
  std::vector<Half> og = ToHalf({1, 1, 0.5f}), ga = ToHalf({10, 10, 10}), gb(3);
  auto view = [](std::vector<Half>& v) {
    return TensorView{v.data(), Shape{3}, DType::kFloat16, Context::Cpu()};
  };
  const std::vector<TensorView> ogs = {view(og)}, ins = {view(a), view(b)}, outs = {view(y)};
  const std::vector<TensorView> grads = {view(ga), view(gb)};
  const std::vector<OpReq> reqs = {OpReq::kAddTo, OpReq::kWriteTo};
  const absl::Status s = p->Backward(OpContext{}, BackwardArgs{ogs, ins, outs, grads, reqs});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(FromHalf(ga), (std::vector<float>{14, 15, 13}));  // 10 + og * b
  EXPECT_EQ(FromHalf(gb), (std::vector<float>{1, 2, 1.5f}));  // og * a
}

TEST(HalfInFloatTest, BFloat16AndCastStayExact) {
  absl::StatusOr<ParsedOp> p = GlobalRegistry().Parse("elemwise_sub", {});
  ASSERT_TRUE(p.ok());
  std::vector<BFloat16> a = {FromDouble<BFloat16>(3.0), FromDouble<BFloat16>(-1.5)};
  std::vector<BFloat16> b = {FromDouble<BFloat16>(1.0), FromDouble<BFloat16>(0.5)}, y(2);
  auto view = [](std::vector<BFloat16>& v) {
    return TensorView{v.data(), Shape{2}, DType::kBFloat16, Context::Cpu()};
  };
  const OpReq req = OpReq::kWriteTo;
  ASSERT_TRUE(p->Forward(OpContext{}, {view(a), view(b)}, {req}, {view(y)}).ok());
  EXPECT_EQ(ToDouble(y[0]), 2.0);
  EXPECT_EQ(ToDouble(y[1]), -2.0);

  // Cast reads float16 itself (no float copy in between): every float16 value is exact.
  p = GlobalRegistry().Parse("Cast", {{"dtype", "float32"}});
  ASSERT_TRUE(p.ok());
  std::vector<Half> h = ToHalf({65504.0f, 6.1035156e-05f});
  std::vector<float> f(2);
  ASSERT_TRUE(p->Forward(OpContext{}, {{h.data(), Shape{2}, DType::kFloat16, Context::Cpu()}},
                         {req}, {{f.data(), Shape{2}, DType::kFloat32, Context::Cpu()}})
                  .ok());
  EXPECT_EQ(f, (std::vector<float>{65504.0f, 6.1035156e-05f}));
}

}  // namespace
}  // namespace mxgrid::ops
