// float32 Activation and softmax on tensors large enough for their oneDNN paths, checked
// against the float64 loops under every request and aliasing the executor plans: separate
// buffers, in place (forward out == in; backward in_grad == out_grad) and kAddTo.
#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

enum class Mode { kSeparate, kInPlace, kAddTo };

template <typename T>
TensorView View(std::vector<T>& v, const Shape& shape) {
  return TensorView{v.data(), shape,
                    std::is_same_v<T, float> ? DType::kFloat32 : DType::kFloat64,
                    Context::Cpu()};
}

// Forward then backward of `op` on x with head gradient g; returns {y, dx}.
template <typename T>
std::pair<std::vector<T>, std::vector<T>> Run(const std::string& op, const AttrMap& attrs,
                                              const Shape& shape, const std::vector<double>& x,
                                              const std::vector<double>& g, Mode mode) {
  absl::StatusOr<ParsedOp> parsed = GlobalRegistry().Parse(op, attrs);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  std::vector<T> in(x.begin(), x.end()), head(g.begin(), g.end());
  const T fill = mode == Mode::kAddTo ? T(0.5) : T(7);
  std::vector<T> out(in.size(), fill), grad(in.size(), fill);
  const OpReq req = mode == Mode::kAddTo ? OpReq::kAddTo
                    : mode == Mode::kInPlace ? OpReq::kWriteInplace
                                             : OpReq::kWriteTo;
  std::vector<T>& y = mode == Mode::kInPlace ? in : out;
  std::vector<T>& dx = mode == Mode::kInPlace ? head : grad;
  std::mt19937_64 rng(1);
  OpContext ctx{true, Context::Cpu(), &rng};
  std::vector<TensorView> in_v{View(in, shape)}, out_v{View(y, shape)},
      head_v{View(head, shape)}, grad_v{View(dx, shape)};
  std::vector<OpReq> reqs{req};
  absl::Status s = parsed->Forward(ctx, in_v, reqs, out_v);
  EXPECT_TRUE(s.ok()) << s;
  if (mode == Mode::kAddTo) {  // Backward reads the forward output, not output + 0.5.
    for (T& v : y) v -= T(0.5);
  }
  BackwardArgs args{head_v, in_v, out_v, grad_v, reqs};
  s = parsed->Backward(ctx, args);
  EXPECT_TRUE(s.ok()) << s;
  std::vector<T> y_copy = y, dx_copy = dx;
  if (mode == Mode::kAddTo) {
    for (T& v : y_copy) v += T(0.5);
  }
  return {y_copy, dx_copy};
}

void CheckAgainstFloat64(const std::string& op, const AttrMap& attrs, const Shape& shape) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(-3, 3);
  std::vector<double> x(shape.Size()), g(shape.Size());
  for (double& v : x) v = u(gen);
  for (double& v : g) v = u(gen);
  auto [y64, dx64] = Run<double>(op, attrs, shape, x, g, Mode::kSeparate);
  for (Mode mode : {Mode::kSeparate, Mode::kInPlace, Mode::kAddTo}) {
    SCOPED_TRACE(::testing::Message() << op << " mode " << static_cast<int>(mode));
    auto [y32, dx32] = Run<float>(op, attrs, shape, x, g, mode);
    const double offset = mode == Mode::kAddTo ? 0.5 : 0.0;
    int bad_y = 0, bad_dx = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      bad_y += std::abs(y32[i] - (y64[i] + offset)) > 1e-4 * (1 + std::abs(y64[i]));
      bad_dx += std::abs(dx32[i] - (dx64[i] + offset)) > 1e-4 * (1 + std::abs(dx64[i]));
    }
    EXPECT_EQ(bad_y, 0) << "outputs off";
    EXPECT_EQ(bad_dx, 0) << "gradients off";
  }
}

TEST(NNDnnlTest, LargeFloat32ActivationsMatchFloat64UnderEveryRequest) {
  for (const char* act : {"relu", "sigmoid", "tanh", "softrelu", "softsign"}) {
    CheckAgainstFloat64("Activation", {{"act_type", act}}, {64, 300});
  }
}

TEST(NNDnnlTest, LargeFloat32SoftmaxMatchesFloat64UnderEveryRequest) {
  CheckAgainstFloat64("softmax", {}, {64, 100});
  CheckAgainstFloat64("log_softmax", {}, {4, 16, 50});
  CheckAgainstFloat64("softmax", {{"axis", "1"}}, {4, 16, 50});
  CheckAgainstFloat64("SoftmaxActivation", {}, {16, 4, 25});
}

}  // namespace
}  // namespace mxgrid::ops
