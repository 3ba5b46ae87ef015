// MXNet's elementwise math beyond unary.cc: trigonometric and hyperbolic functions,
// degrees/radians, rounding (floor ceil round rint fix trunc), powers and roots (rsqrt
// cbrt rcbrt), special functions (erf erfinv gamma gammaln), log1p expm1 log2 log10 and
// logical_not.
//
// Forward runs on float16 (computed in float, as mshadow's half math does), float32,
// float64 and, as in MXNet, the integer dtypes through float64 math and back (sin of int32
// [1, 2, 3] is [0, 0, 0]; degrees of 1 is 57). Backward runs on float16/32/64. The rounding
// ops and logical_not have a zero gradient (MXNet's MakeZeroGradNodes). Thread-safe: pure
// functions.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::ElemwiseShapes;
using tensor_internal::kInputDeps;
using tensor_internal::kIsInt;
using tensor_internal::MXCast;
using tensor_internal::NoParamsParser;

constexpr double kPi = 3.14159265358979323846;

// Digamma (psi): reflection for x < 0.5, recurrence up to 6, then the asymptotic series.
// Poles (0, -1, -2, ...) give NaN, as cephes' psi does.
template <typename T>
T Digamma(T x) {
  double v = static_cast<double>(x);
  if (v <= 0 && std::floor(v) == v) return std::numeric_limits<T>::quiet_NaN();
  double shift = 0;
  if (v < 0.5) {
    shift = -kPi / std::tan(kPi * v);
    v = 1 - v;
  }
  double acc = 0;
  while (v < 6) {
    acc -= 1 / v;
    v += 1;
  }
  const double f = 1 / (v * v);
  const double series =
      f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
  return static_cast<T>(shift + acc + std::log(v) - 0.5 / v - series);
}

// Inverse error function: Giles' approximation refined by Newton steps on erf.
template <typename T>
T ErfInv(T x) {
  const double a = static_cast<double>(x);
  if (std::isnan(a) || a < -1 || a > 1) return std::numeric_limits<T>::quiet_NaN();
  if (a == 1) return std::numeric_limits<T>::infinity();
  if (a == -1) return -std::numeric_limits<T>::infinity();
  double w = -std::log((1 - a) * (1 + a)), p;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                     -0.00125372503, -0.00417768164, 0.246640727, 1.50140941}) {
      p = c + p * w;
    }
  } else {
    w = std::sqrt(w) - 3;
    p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                     -0.0076224613, 0.00943887047, 1.00167406, 2.83297682}) {
      p = c + p * w;
    }
  }
  double y = p * a;
  for (int i = 0; i < 2; ++i) {
    const double err = std::erf(y) - a;
    y -= err / (2 / std::sqrt(kPi) * std::exp(-y * y));
  }
  return static_cast<T>(y);
}

// MXNet's rint: the nearer of floor and ceil, floor on a tie (-1.5 -> -2, 2.5 -> 2).
template <typename T>
T Rint(T a) {
  const T f = std::floor(a), c = std::ceil(a);
  return (a - f) <= (c - a) ? f : c;
}

// MXNet's fix: the one of floor and ceil nearer to zero.
template <typename T>
T Fix(T a) {
  const T f = std::floor(a), c = std::ceil(a);
  return std::abs(f) < std::abs(c) ? f : c;
}

template <typename S>
float Load(S v) {
  if constexpr (std::is_same_v<S, Half>) {
    return HalfToFloat(v);
  } else {
    return static_cast<float>(v);
  }
}

template <typename S, typename C>
void Put(OpReq req, S* dst, int64_t i, C v) {
  if constexpr (std::is_same_v<S, Half>) {
    const float base = req == OpReq::kAddTo ? HalfToFloat(dst[i]) : 0.0f;
    dst[i] = FloatToHalf(base + static_cast<float>(v));
  } else {
    Store(req, dst, i, static_cast<S>(v));
  }
}

// Calls fn(TypeTag<S>) for float16, float32, float64; InvalidArgument otherwise.
template <typename Fn>
absl::Status DispatchFloat3(absl::string_view op, DType dtype, Fn&& fn) {
  if (dtype == DType::kFloat16) return fn(TypeTag<Half>{});
  return DispatchFloat(op, dtype, std::forward<Fn>(fn));
}

template <typename S>
auto LoadC(S v) {
  if constexpr (std::is_same_v<S, double>) {
    return v;
  } else {
    return Load(v);
  }
}

// fwd(x) and grad(x, dy) are generic over float/double. grad null: zero gradient.
template <typename Fwd, typename Grad>
OpDef MathOp(const std::string& name, Fwd fwd, Grad grad, bool has_grad = true) {
  OpDef d;
  d.name = name;
  d.description = "Elementwise " + name + " (MXNet-compatible).";
  d.parse = NoParamsParser(name);
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) { return ElemwiseShapes(name, in, out); };
  d.forward = [name, fwd](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                          absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const int64_t n = out[0].size();
    if (in[0].dtype == DType::kFloat16) {
      const Half* x = in[0].as<Half>();
      Half* y = out[0].as<Half>();
      for (int64_t i = 0; i < n; ++i) Put(reqs[0], y, i, fwd(HalfToFloat(x[i])));
      return absl::OkStatus();
    }
    return DispatchNumeric(name, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      T* y = out[0].as<T>();
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kIsInt<T>) {
          Store(reqs[0], y, i, MXCast<T>(fwd(static_cast<double>(x[i]))));
        } else {
          Store(reqs[0], y, i, static_cast<T>(fwd(x[i])));
        }
      }
      return absl::OkStatus();
    });
  };
  if (has_grad) {
    d.backward = [name, grad](const OpContext&, const OpParams&,
                              const BackwardArgs& a) -> absl::Status {
      if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
      return DispatchFloat3(name, a.out_grads[0].dtype, [&](auto tag) {
        using S = typename decltype(tag)::type;
        const S* x = a.inputs[0].as<S>();
        const S* dy = a.out_grads[0].as<S>();
        S* dx = a.in_grads[0].as<S>();
        for (int64_t i = 0, n = a.in_grads[0].size(); i < n; ++i) {
          Put(a.reqs[0], dx, i, grad(LoadC(x[i]), LoadC(dy[i])));
        }
        return absl::OkStatus();
      });
    };
    d.backward_deps = kInputDeps;
  }
  d.inplace = {{0, 0}};
  return d;
}

// The zero-gradient ops (rounding, logical_not): backward null, inputs get zero.
template <typename Fwd>
OpDef NoGradOp(const std::string& name, Fwd fwd) {
  return MathOp(name, fwd, [](auto, auto g) { return g; }, /*has_grad=*/false);
}

}  // namespace

absl::Status RegisterUnaryMathOps(Registry* registry) {
  std::vector<OpDef> d;
  // The constants' types follow mshadow: float where it writes 1.0f, double where 0.5 * ...
  d.push_back(MathOp("sin", [](auto x) { return std::sin(x); },
                     [](auto x, auto g) { return g * std::cos(x); }));
  d.push_back(MathOp("cos", [](auto x) { return std::cos(x); },
                     [](auto x, auto g) { return -g * std::sin(x); }));
  d.push_back(MathOp("tan", [](auto x) { return std::tan(x); }, [](auto x, auto g) {
    const auto y = std::tan(x);
    return g * (y * y + 1);
  }));
  d.push_back(MathOp("arcsin", [](auto x) { return std::asin(x); },
                     [](auto x, auto g) { return g / std::sqrt(1 - x * x); }));
  d.push_back(MathOp("arccos", [](auto x) { return std::acos(x); },
                     [](auto x, auto g) { return -g / std::sqrt(1 - x * x); }));
  d.push_back(MathOp("arctan", [](auto x) { return std::atan(x); },
                     [](auto x, auto g) { return g / (x * x + 1); }));
  d.push_back(MathOp("sinh", [](auto x) { return std::sinh(x); },
                     [](auto x, auto g) { return g * std::cosh(x); }));
  d.push_back(MathOp("cosh", [](auto x) { return std::cosh(x); },
                     [](auto x, auto g) { return g * std::sinh(x); }));
  d.push_back(MathOp("arcsinh", [](auto x) { return std::asinh(x); },
                     [](auto x, auto g) { return g / std::hypot(x, decltype(x)(1)); }));
  d.push_back(MathOp("arccosh", [](auto x) { return std::acosh(x); },
                     [](auto x, auto g) { return g / std::sqrt(x * x - 1); }));
  d.push_back(MathOp("arctanh", [](auto x) { return std::atanh(x); },
                     [](auto x, auto g) { return g / (1 - x * x); }));
  d.push_back(MathOp("degrees",
                     [](auto x) { return static_cast<decltype(x)>(180 / kPi) * x; },
                     [](auto, auto g) { return g * static_cast<decltype(g)>(180 / kPi); }));
  d.push_back(MathOp("radians",
                     [](auto x) { return static_cast<decltype(x)>(kPi / 180) * x; },
                     [](auto, auto g) { return g * static_cast<decltype(g)>(kPi / 180); }));
  d.push_back(NoGradOp("floor", [](auto x) { return std::floor(x); }));
  d.push_back(NoGradOp("ceil", [](auto x) { return std::ceil(x); }));
  d.push_back(NoGradOp("round", [](auto x) { return std::round(x); }));
  d.push_back(NoGradOp("rint", [](auto x) { return Rint(x); }));
  d.push_back(NoGradOp("fix", [](auto x) { return Fix(x); }));
  d.push_back(NoGradOp("trunc", [](auto x) { return std::trunc(x); }));
  d.push_back(MathOp("rsqrt", [](auto x) { return 1 / std::sqrt(x); },
                     [](auto x, auto g) { return g * (-0.5f / (std::sqrt(x) * x)); }));
  d.push_back(MathOp("cbrt", [](auto x) { return std::cbrt(x); }, [](auto x, auto g) {
    const auto y = std::cbrt(x);
    return g / (3 * y * y);
  }));
  d.push_back(MathOp("rcbrt", [](auto x) { return 1 / std::cbrt(x); },
                     [](auto x, auto g) { return g * (-1 / (3 * std::cbrt(x) * x)); }));
  d.push_back(MathOp("erf", [](auto x) { return std::erf(x); }, [](auto x, auto g) {
    return g * static_cast<decltype(x)>(2 / std::sqrt(kPi) * std::exp(-(x * x)));
  }));
  d.push_back(MathOp("erfinv", [](auto x) { return ErfInv(x); }, [](auto x, auto g) {
    const auto y = ErfInv(x);
    return g * static_cast<decltype(x)>(0.5 * std::sqrt(kPi) * std::exp(y * y));
  }));
  d.push_back(MathOp("gamma", [](auto x) { return std::tgamma(x); },
                     [](auto x, auto g) { return g * std::tgamma(x) * Digamma(x); }));
  d.push_back(MathOp("gammaln", [](auto x) { return std::lgamma(x); },
                     [](auto x, auto g) { return g * Digamma(x); }));
  d.push_back(MathOp("log1p", [](auto x) { return std::log1p(x); },
                     [](auto x, auto g) { return g / (1 + x); }));
  d.push_back(MathOp("expm1", [](auto x) { return std::expm1(x); },
                     [](auto x, auto g) { return g * std::exp(x); }));
  d.push_back(MathOp("log2", [](auto x) { return std::log2(x); }, [](auto x, auto g) {
    return g * (static_cast<decltype(x)>(1.44269504088896340737) / x);
  }));
  d.push_back(MathOp("log10", [](auto x) { return std::log10(x); }, [](auto x, auto g) {
    return g * (static_cast<decltype(x)>(0.43429448190325182765) / x);
  }));
  d.push_back(NoGradOp("logical_not",
                       [](auto x) { return x == 0 ? decltype(x)(1) : decltype(x)(0); }));
  for (OpDef& def : d) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(def)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
