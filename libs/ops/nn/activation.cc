// Activation (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU (leaky, elu).
// Activation's gradient is computed from the output, as MXNet's _backward_Activation does,
// so its forward may run in place. LeakyReLU's tests the input's sign as MXNet 1.9.1 does
// (it differs from the output's for a negative slope): leaky slope, elu out + slope.
//
// float32 Activation runs on oneDNN's eltwise primitive where oneDNN has the function (relu,
// sigmoid, tanh; softrelu forward only, since its gradient needs the input an in-place
// forward overwrote; softsign never) and the tensor is large enough (kDnnl*Elements).
// float64 and LeakyReLU stay on the loops.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_dnnl.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

// Below this many elements a loop runs on the calling thread (OpenMP start-up costs more).
constexpr int64_t kParallelElements = int64_t{1} << 15;

// The rule: oneDNN where it measured at least as fast as the loops. Each oneDNN call pays a
// fixed primitive creation (~9 us forward, ~15 us backward, which builds a forward hint
// too); below these sizes the loops win, at and above them oneDNN does (relu, sigmoid, tanh,
// softrelu on 2 cores: at 16K elements forward 3-10x and backward 2-4x faster).
constexpr int64_t kDnnlForwardElements = 4096;
constexpr int64_t kDnnlBackwardElements = 8192;

// The oneDNN function computing `act` (forward), if there is one.
std::optional<DnnlEltwise> DnnlFunction(Act act) {
  switch (act) {
    case Act::kRelu:
      return DnnlEltwise::kRelu;
    case Act::kSigmoid:
      return DnnlEltwise::kLogistic;
    case Act::kTanh:
      return DnnlEltwise::kTanh;
    case Act::kSoftRelu:
      return DnnlEltwise::kSoftRelu;
    default:
      return std::nullopt;
  }
}

template <typename T>
T ActForward(Act act, T x, T slope) {
  switch (act) {
    case Act::kRelu:
      return x > T(0) ? x : T(0);
    case Act::kSigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case Act::kTanh:
      return std::tanh(x);
    case Act::kSoftRelu:
      return x > T(20) ? x : std::log1p(std::exp(x));
    case Act::kSoftSign:
      return x / (T(1) + std::abs(x));
    case Act::kLeaky:
      return x > T(0) ? x : slope * x;
    case Act::kElu:
      return x > T(0) ? x : slope * std::expm1(x);
  }
  return x;
}

// d out / d in, from the output y (and the input x for leaky and elu).
template <typename T>
T ActGrad(Act act, T x, T y, T slope) {
  switch (act) {
    case Act::kRelu:
      return y > T(0) ? T(1) : T(0);
    case Act::kSigmoid:
      return y * (T(1) - y);
    case Act::kTanh:
      return T(1) - y * y;
    case Act::kSoftRelu:
      return -std::expm1(-y);
    case Act::kSoftSign:
      return (T(1) - std::abs(y)) * (T(1) - std::abs(y));
    case Act::kLeaky:
      return x > T(0) ? T(1) : slope;
    case Act::kElu:
      return x > T(0) ? T(1) : y + slope;
  }
  return T(1);
}

absl::Status Forward(const char* op, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<ActParams>(params);
  const int64_t size = in[0].size();
  const std::optional<DnnlEltwise> f = DnnlFunction(p.act);
  if (f && in[0].dtype == DType::kFloat32 && size >= kDnnlForwardElements) {
    const float* x = in[0].as<float>();
    return ComputeWithReq(reqs[0], out[0].as<float>(), size,
                          [&](float* y) { return DnnlEltwiseForward(*f, x, size, y); });
  }
  return DispatchFloat(op, in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    const T slope = static_cast<T>(p.slope);
    const int64_t n = in[0].size();
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
    for (int64_t i = 0; i < n; ++i) Store(reqs[0], y, i, ActForward(p.act, x[i], slope));
    return absl::OkStatus();
  });
}

absl::Status Backward(const char* op, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<ActParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const int64_t size = a.outputs[0].size();
  const std::optional<DnnlEltwise> f = DnnlFunction(p.act);
  // oneDNN allows in_grad == out_grad (the executor plans that) but not in_grad == output.
  if (f && *f != DnnlEltwise::kSoftRelu && a.outputs[0].dtype == DType::kFloat32 &&
      size >= kDnnlBackwardElements && a.in_grads[0].data != a.outputs[0].data) {
    const float* y = a.outputs[0].as<float>();
    const float* g = a.out_grads[0].as<float>();
    return ComputeWithReq(a.reqs[0], a.in_grads[0].as<float>(), size,
                          [&](float* gx) { return DnnlEltwiseBackward(*f, y, g, size, gx); });
  }
  return DispatchFloat(op, a.outputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* y = a.outputs[0].as<T>();
    const bool leaky = p.act == Act::kLeaky || p.act == Act::kElu;
    const T* x = leaky ? a.inputs[0].as<T>() : y;
    const T* g = a.out_grads[0].as<T>();
    T* gx = a.in_grads[0].as<T>();
    const T slope = static_cast<T>(p.slope);
    const int64_t n = a.outputs[0].size();
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
    for (int64_t i = 0; i < n; ++i) {
      Store(a.reqs[0], gx, i, g[i] * ActGrad(p.act, x[i], y[i], slope));
    }
    return absl::OkStatus();
  });
}

OpDef MakeUnary(const char* op, std::string description) {
  OpDef d = NewUnaryOp(op, std::move(description));
  d.forward = [op](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                   absl::Span<const OpReq> reqs,
                   absl::Span<const TensorView> out) { return Forward(op, params, in, reqs, out); };
  d.backward = [op](const OpContext&, const OpParams& params, const BackwardArgs& a) {
    return Backward(op, params, a);
  };
  d.backward_deps.outputs = true;
  return d;
}

}  // namespace

OpDef MakeActivationOp() {
  OpDef d = MakeUnary("Activation", "Applies an element-wise activation function.");
  d.params = {Spec("act_type", "{'relu', 'sigmoid', 'softrelu', 'softsign', 'tanh'}", "",
                   "Activation function to be applied.")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ActParams>();
    ParamReader r("Activation", attrs);
    std::string act;
    MXGRID_RETURN_IF_ERROR(
        r.Enum("act_type", &act, {"relu", "sigmoid", "tanh", "softrelu", "softsign"}));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    p->act = act == "relu"       ? Act::kRelu
             : act == "sigmoid"  ? Act::kSigmoid
             : act == "tanh"     ? Act::kTanh
             : act == "softrelu" ? Act::kSoftRelu
                                 : Act::kSoftSign;
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.inplace = {{0, 0}};
  d.backward_inplace = {{0, 0}};
  return d;
}

OpDef MakeLeakyReLUOp() {
  OpDef d = MakeUnary("LeakyReLU", "Leaky ReLU (leaky) or ELU (elu) activation.");
  d.params = {Spec("act_type", "{'elu', 'gelu', 'leaky', 'prelu', 'rrelu', 'selu'}", "'leaky'",
                   "Activation function; only leaky and elu are supported."),
              Spec("slope", "float", "0.25", "Slope of the negative part (leaky) or ELU alpha."),
              Spec("lower_bound", "float", "0.125", "rrelu only (unsupported)."),
              Spec("upper_bound", "float", "0.334", "rrelu only (unsupported).")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ActParams>();
    ParamReader r("LeakyReLU", attrs);
    std::string act;
    double unused = 0;
    MXGRID_RETURN_IF_ERROR(
        r.Enum("act_type", &act, {"leaky", "elu", "prelu", "selu", "gelu", "rrelu"}, "leaky"));
    MXGRID_RETURN_IF_ERROR(r.Float("slope", &p->slope, 0.25));
    MXGRID_RETURN_IF_ERROR(r.Float("lower_bound", &unused, 0.125));
    MXGRID_RETURN_IF_ERROR(r.Float("upper_bound", &unused, 0.334));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (act != "leaky" && act != "elu") {
      return r.Error("act_type '" + act +
                     "' is not supported yet (only 'leaky' and 'elu' are implemented)");
    }
    p->act = act == "leaky" ? Act::kLeaky : Act::kElu;
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.backward_deps.inputs = true;
  return d;
}

}  // namespace mxgrid::ops::nn
