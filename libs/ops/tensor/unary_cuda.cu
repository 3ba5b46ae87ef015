// CUDA kernels of the unary ops: unary.cc's math (exp, log, sqrt, square, abs, negative,
// sign, relu, sigmoid, tanh, reciprocal), clip, the copies (_copy [identity], BlockGrad,
// zeros_like, ones_like) and unary_math.cc's (trigonometric, hyperbolic, rounding, roots,
// erf, erfinv, gamma, gammaln, logs, logical_not). float32/float64 forward and backward,
// mirroring the CPU functors (their constants' types included). Cast is in cast_cuda.cu.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <string>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/elemwise_cuda.cuh"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/unary_params.h"

namespace mxgrid::ops::tensor_cuda {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Digamma as unary_math.cc computes it (reflection, recurrence, asymptotic series).
template <typename T>
__device__ T Digamma(T x) {
  double v = static_cast<double>(x);
  if (v <= 0 && floor(v) == v) return static_cast<T>(CUDART_NAN);
  double shift = 0;
  if (v < 0.5) {
    shift = -kPi / tan(kPi * v);
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
  return static_cast<T>(shift + acc + log(v) - 0.5 / v - series);
}

template <typename T>
__device__ T ErfInv(T x) {
  return static_cast<T>(erfinv(static_cast<double>(x)));
}

enum Op {
  kExp, kLog, kSqrt, kSquare, kAbs, kNegative, kSign, kRelu, kSigmoid, kTanh, kReciprocal,
  kCopy, kSin, kCos, kTan, kArcsin, kArccos, kArctan, kSinh, kCosh, kArcsinh, kArccosh,
  kArctanh, kDegrees, kRadians, kFloor, kCeil, kRound, kRint, kFix, kTrunc, kRsqrt, kCbrt,
  kRcbrt, kErf, kErfinv, kGamma, kGammaln, kLog1p, kExpm1, kLog2, kLog10, kLogicalNot
};

template <int kOp>
struct Fwd {
  template <typename T>
  __device__ T operator()(T x) const {
    if constexpr (kOp == kExp) return exp(x);
    if constexpr (kOp == kLog) return log(x);
    if constexpr (kOp == kSqrt) return sqrt(x);
    if constexpr (kOp == kSquare) return x * x;
    if constexpr (kOp == kAbs) return fabs(x);
    if constexpr (kOp == kNegative) return -x;
    if constexpr (kOp == kSign) return x < T(0) ? T(-1) : (x > T(0) ? T(1) : T(0));
    if constexpr (kOp == kRelu) return x != x || x > T(0) ? x : T(0);
    if constexpr (kOp == kSigmoid) return T(1) / (T(1) + exp(-x));
    if constexpr (kOp == kTanh) return tanh(x);
    if constexpr (kOp == kReciprocal) return T(1) / x;
    if constexpr (kOp == kCopy) return x;
    if constexpr (kOp == kSin) return sin(x);
    if constexpr (kOp == kCos) return cos(x);
    if constexpr (kOp == kTan) return tan(x);
    if constexpr (kOp == kArcsin) return asin(x);
    if constexpr (kOp == kArccos) return acos(x);
    if constexpr (kOp == kArctan) return atan(x);
    if constexpr (kOp == kSinh) return sinh(x);
    if constexpr (kOp == kCosh) return cosh(x);
    if constexpr (kOp == kArcsinh) return asinh(x);
    if constexpr (kOp == kArccosh) return acosh(x);
    if constexpr (kOp == kArctanh) return atanh(x);
    if constexpr (kOp == kDegrees) return static_cast<T>(180 / kPi) * x;
    if constexpr (kOp == kRadians) return static_cast<T>(kPi / 180) * x;
    if constexpr (kOp == kFloor) return floor(x);
    if constexpr (kOp == kCeil) return ceil(x);
    if constexpr (kOp == kRound) return round(x);
    if constexpr (kOp == kRint) {
      const T f = floor(x), c = ceil(x);
      return (x - f) <= (c - x) ? f : c;
    }
    if constexpr (kOp == kFix) {
      const T f = floor(x), c = ceil(x);
      return fabs(f) < fabs(c) ? f : c;
    }
    if constexpr (kOp == kTrunc) return trunc(x);
    if constexpr (kOp == kRsqrt) return T(1) / sqrt(x);
    if constexpr (kOp == kCbrt) return cbrt(x);
    if constexpr (kOp == kRcbrt) return T(1) / cbrt(x);
    if constexpr (kOp == kErf) return erf(x);
    if constexpr (kOp == kErfinv) return ErfInv(x);
    if constexpr (kOp == kGamma) return tgamma(x);
    if constexpr (kOp == kGammaln) return lgamma(x);
    if constexpr (kOp == kLog1p) return log1p(x);
    if constexpr (kOp == kExpm1) return expm1(x);
    if constexpr (kOp == kLog2) return log2(x);
    if constexpr (kOp == kLog10) return log10(x);
    if constexpr (kOp == kLogicalNot) return x == T(0) ? T(1) : T(0);
  }
};

// g(x, y, dy); x and y are zero unless the op's BackwardDeps reads them.
template <int kOp>
struct Grad {
  template <typename T>
  __device__ T operator()(T x, T y, T g) const {
    if constexpr (kOp == kExp) return g * y;
    if constexpr (kOp == kLog) return g / x;
    if constexpr (kOp == kSqrt) return g / (2 * y);
    if constexpr (kOp == kSquare) return 2 * x * g;
    if constexpr (kOp == kAbs) return x > T(0) ? g : (x < T(0) ? -g : T(0));
    if constexpr (kOp == kNegative) return -g;
    if constexpr (kOp == kSign) return T(0);
    if constexpr (kOp == kRelu) return y != y ? g * y : (y > T(0) ? g : T(0));
    if constexpr (kOp == kSigmoid) return g * y * (1 - y);
    if constexpr (kOp == kTanh) return g * (1 - y * y);
    if constexpr (kOp == kReciprocal) return -g / (x * x);
    if constexpr (kOp == kCopy) return g;
    if constexpr (kOp == kSin) return g * cos(x);
    if constexpr (kOp == kCos) return -g * sin(x);
    if constexpr (kOp == kTan) {
      const T t = tan(x);
      return g * (t * t + 1);
    }
    if constexpr (kOp == kArcsin) return g / sqrt(1 - x * x);
    if constexpr (kOp == kArccos) return -g / sqrt(1 - x * x);
    if constexpr (kOp == kArctan) return g / (x * x + 1);
    if constexpr (kOp == kSinh) return g * cosh(x);
    if constexpr (kOp == kCosh) return g * sinh(x);
    if constexpr (kOp == kArcsinh) return g / hypot(x, T(1));
    if constexpr (kOp == kArccosh) return g / sqrt(x * x - 1);
    if constexpr (kOp == kArctanh) return g / (1 - x * x);
    if constexpr (kOp == kDegrees) return g * static_cast<T>(180 / kPi);
    if constexpr (kOp == kRadians) return g * static_cast<T>(kPi / 180);
    if constexpr (kOp == kRsqrt) return g * (-0.5f / (sqrt(x) * x));
    if constexpr (kOp == kCbrt) {
      const T c = cbrt(x);
      return g / (3 * c * c);
    }
    if constexpr (kOp == kRcbrt) return g * (-1 / (3 * cbrt(x) * x));
    if constexpr (kOp == kErf) return g * static_cast<T>(2 / sqrt(kPi) * exp(-(x * x)));
    if constexpr (kOp == kErfinv) {
      const T e = ErfInv(x);
      return g * static_cast<T>(0.5 * sqrt(kPi) * exp(e * e));
    }
    if constexpr (kOp == kGamma) return g * tgamma(x) * Digamma(x);
    if constexpr (kOp == kGammaln) return g * Digamma(x);
    if constexpr (kOp == kLog1p) return g / (1 + x);
    if constexpr (kOp == kExpm1) return g * exp(x);
    if constexpr (kOp == kLog2) return g * (static_cast<T>(1.44269504088896340737) / x);
    if constexpr (kOp == kLog10) return g * (static_cast<T>(0.43429448190325182765) / x);
    return T(0);
  }
};

template <int kOp>
absl::Status Set(Registry* registry, const char* name) {
  return SetUnary(registry, name, [](const OpParams&) { return Fwd<kOp>{}; },
                  [](const OpParams&) { return Grad<kOp>{}; });
}

struct ClipF {
  double lo, hi;
  template <typename T>
  __device__ T operator()(T x) const {
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    const T m = x < l ? l : x;  // std::max(x, lo) (NaN stays NaN)
    return h < m ? h : m;       // std::min(m, hi)
  }
};

struct ClipGrad {
  double lo, hi;
  template <typename T>
  __device__ T operator()(T x, T, T g) const {
    const double xd = static_cast<double>(x);
    return (xd < lo || xd > hi) ? T(0) : g;
  }
};

// zeros_like / ones_like: the constant, added for kAddTo. BlockGrad and the copies: x.
absl::Status SetFill(Registry* registry, const char* name, double value) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, value](const OpContext& ctx, const OpParams&,
                               absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> out) {
    return FillWithReq(ctx, op.c_str(), value, reqs[0], out[0]);
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status SetCopy(Registry* registry, const char* name) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                        absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return CopyWithReq(ctx, op.c_str(), in[0], reqs[0], out[0]);
  };
  if (d->backward) {
    d->gpu_backward = [op](const OpContext& ctx, const OpParams&, const BackwardArgs& a) {
      return CopyWithReq(ctx, op.c_str(), a.out_grads[0], a.reqs[0], a.in_grads[0]);
    };
  }
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status RegisterMath(Registry* r) {
  MXGRID_RETURN_IF_ERROR(Set<kSin>(r, "sin"));
  MXGRID_RETURN_IF_ERROR(Set<kCos>(r, "cos"));
  MXGRID_RETURN_IF_ERROR(Set<kTan>(r, "tan"));
  MXGRID_RETURN_IF_ERROR(Set<kArcsin>(r, "arcsin"));
  MXGRID_RETURN_IF_ERROR(Set<kArccos>(r, "arccos"));
  MXGRID_RETURN_IF_ERROR(Set<kArctan>(r, "arctan"));
  MXGRID_RETURN_IF_ERROR(Set<kSinh>(r, "sinh"));
  MXGRID_RETURN_IF_ERROR(Set<kCosh>(r, "cosh"));
  MXGRID_RETURN_IF_ERROR(Set<kArcsinh>(r, "arcsinh"));
  MXGRID_RETURN_IF_ERROR(Set<kArccosh>(r, "arccosh"));
  MXGRID_RETURN_IF_ERROR(Set<kArctanh>(r, "arctanh"));
  MXGRID_RETURN_IF_ERROR(Set<kDegrees>(r, "degrees"));
  MXGRID_RETURN_IF_ERROR(Set<kRadians>(r, "radians"));
  MXGRID_RETURN_IF_ERROR(Set<kFloor>(r, "floor"));
  MXGRID_RETURN_IF_ERROR(Set<kCeil>(r, "ceil"));
  MXGRID_RETURN_IF_ERROR(Set<kRound>(r, "round"));
  MXGRID_RETURN_IF_ERROR(Set<kRint>(r, "rint"));
  MXGRID_RETURN_IF_ERROR(Set<kFix>(r, "fix"));
  MXGRID_RETURN_IF_ERROR(Set<kTrunc>(r, "trunc"));
  MXGRID_RETURN_IF_ERROR(Set<kRsqrt>(r, "rsqrt"));
  MXGRID_RETURN_IF_ERROR(Set<kCbrt>(r, "cbrt"));
  MXGRID_RETURN_IF_ERROR(Set<kRcbrt>(r, "rcbrt"));
  MXGRID_RETURN_IF_ERROR(Set<kErf>(r, "erf"));
  MXGRID_RETURN_IF_ERROR(Set<kErfinv>(r, "erfinv"));
  MXGRID_RETURN_IF_ERROR(Set<kGamma>(r, "gamma"));
  MXGRID_RETURN_IF_ERROR(Set<kGammaln>(r, "gammaln"));
  MXGRID_RETURN_IF_ERROR(Set<kLog1p>(r, "log1p"));
  MXGRID_RETURN_IF_ERROR(Set<kExpm1>(r, "expm1"));
  MXGRID_RETURN_IF_ERROR(Set<kLog2>(r, "log2"));
  MXGRID_RETURN_IF_ERROR(Set<kLog10>(r, "log10"));
  return Set<kLogicalNot>(r, "logical_not");
}

}  // namespace

absl::Status RegisterUnaryCuda(Registry* r) {
  MXGRID_RETURN_IF_ERROR(Set<kExp>(r, "exp"));
  MXGRID_RETURN_IF_ERROR(Set<kLog>(r, "log"));
  MXGRID_RETURN_IF_ERROR(Set<kSqrt>(r, "sqrt"));
  MXGRID_RETURN_IF_ERROR(Set<kSquare>(r, "square"));
  MXGRID_RETURN_IF_ERROR(Set<kAbs>(r, "abs"));
  MXGRID_RETURN_IF_ERROR(Set<kNegative>(r, "negative"));
  MXGRID_RETURN_IF_ERROR(Set<kSign>(r, "sign"));
  MXGRID_RETURN_IF_ERROR(Set<kRelu>(r, "relu"));
  MXGRID_RETURN_IF_ERROR(Set<kSigmoid>(r, "sigmoid"));
  MXGRID_RETURN_IF_ERROR(Set<kTanh>(r, "tanh"));
  MXGRID_RETURN_IF_ERROR(Set<kReciprocal>(r, "reciprocal"));
  MXGRID_RETURN_IF_ERROR(SetUnary(
      r, "clip",
      [](const OpParams& p) {
        const auto& c = ParamsAs<tensor_internal::ClipParams>(p);
        return ClipF{c.a_min, c.a_max};
      },
      [](const OpParams& p) {
        const auto& c = ParamsAs<tensor_internal::ClipParams>(p);
        return ClipGrad{c.a_min, c.a_max};
      }));
  MXGRID_RETURN_IF_ERROR(SetCopy(r, "_copy"));
  MXGRID_RETURN_IF_ERROR(SetCopy(r, "BlockGrad"));
  MXGRID_RETURN_IF_ERROR(SetFill(r, "zeros_like", 0.0));
  MXGRID_RETURN_IF_ERROR(SetFill(r, "ones_like", 1.0));
  return RegisterMath(r);
}

}  // namespace mxgrid::ops::tensor_cuda
