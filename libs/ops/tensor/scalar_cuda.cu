// CUDA kernels of the *_scalar ops (elemwise_scalar.cc): float32/float64, forward and
// backward; the comparisons have no gradient. As on the CPU, +, -, *, / and rdiv compute in
// double with the scalar as given; the others cast the scalar to the element type first.
#include <string>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/elemwise_cuda.cuh"
#include "libs/ops/tensor/scalar_params.h"
#include "libs/ops/tensor/tensor_cuda.h"

namespace mxgrid::ops::tensor_cuda {
namespace {

// f(x, s) per element, s the scalar as a double; kOp picks the function.
enum Op {
  kPlus, kMinus, kRMinus, kMul, kDiv, kRDiv, kMod, kRMod, kPow, kRPow, kMax, kMin, kHypot,
  kEq, kNe, kGt, kGe, kLt, kLe
};

template <int kOp>
struct ScalarF {
  double s;
  template <typename T>
  __device__ T operator()(T x) const {
    const T st = static_cast<T>(s);
    const double xd = static_cast<double>(x);
    if constexpr (kOp == kPlus) return static_cast<T>(xd + s);
    if constexpr (kOp == kMinus) return static_cast<T>(xd - s);
    if constexpr (kOp == kRMinus) return static_cast<T>(s - xd);
    if constexpr (kOp == kMul) return static_cast<T>(xd * s);
    if constexpr (kOp == kDiv) return static_cast<T>(xd / s);
    if constexpr (kOp == kRDiv) return static_cast<T>(s / xd);
    if constexpr (kOp == kMod) return DevMod(x, st);
    if constexpr (kOp == kRMod) return DevMod(st, x);
    if constexpr (kOp == kPow) return DevPow(x, st);
    if constexpr (kOp == kRPow) return DevPow(st, x);
    if constexpr (kOp == kMax) return x > st ? x : st;
    if constexpr (kOp == kMin) return x < st ? x : st;
    if constexpr (kOp == kHypot) return DevHypot(x, st);
    if constexpr (kOp == kEq) return x == st ? T(1) : T(0);
    if constexpr (kOp == kNe) return x != st ? T(1) : T(0);
    if constexpr (kOp == kGt) return x > st ? T(1) : T(0);
    if constexpr (kOp == kGe) return x >= st ? T(1) : T(0);
    if constexpr (kOp == kLt) return x < st ? T(1) : T(0);
    if constexpr (kOp == kLe) return x <= st ? T(1) : T(0);
  }
};

// The gradients g(x, y, dy), mirroring elemwise_scalar.cc's functors.
template <int kOp>
struct ScalarGrad {
  double s;
  template <typename T>
  __device__ T operator()(T x, T y, T g) const {
    const T st = static_cast<T>(s);
    if constexpr (kOp == kPlus || kOp == kMinus || kOp == kMod) return g;
    if constexpr (kOp == kRMinus) return -g;
    if constexpr (kOp == kMul) return static_cast<T>(static_cast<double>(g) * s);
    if constexpr (kOp == kDiv) return static_cast<T>(static_cast<double>(g) / s);
    if constexpr (kOp == kRDiv) {
      return static_cast<T>(static_cast<double>(-g) * s / static_cast<double>(x * x));
    }
    if constexpr (kOp == kRMod) return -g * floor(st / x);
    if constexpr (kOp == kPow) return g * st * DevPow(x, static_cast<T>(st - 1));
    if constexpr (kOp == kRPow) return g * y * log(st);
    if constexpr (kOp == kMax) return x >= st ? g : T(0);
    if constexpr (kOp == kMin) return x <= st ? g : T(0);
    if constexpr (kOp == kHypot) return g * x / hypot(x, st);
    return T(0);
  }
};

template <int kOp>
absl::Status Set(Registry* registry, const char* name) {
  auto scalar = [](const OpParams& p) {
    return ParamsAs<tensor_internal::ScalarParams>(p).scalar;
  };
  return SetUnary(
      registry, name, [scalar](const OpParams& p) { return ScalarF<kOp>{scalar(p)}; },
      [scalar](const OpParams& p) { return ScalarGrad<kOp>{scalar(p)}; });
}

}  // namespace

absl::Status RegisterScalarCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(Set<kPlus>(registry, "_plus_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kMinus>(registry, "_minus_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kRMinus>(registry, "_rminus_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kMul>(registry, "_mul_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kDiv>(registry, "_div_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kRDiv>(registry, "_rdiv_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kMod>(registry, "_mod_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kRMod>(registry, "_rmod_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kPow>(registry, "_power_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kRPow>(registry, "_rpower_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kMax>(registry, "_maximum_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kMin>(registry, "_minimum_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kHypot>(registry, "_hypot_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kEq>(registry, "_equal_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kNe>(registry, "_not_equal_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kGt>(registry, "_greater_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kGe>(registry, "_greater_equal_scalar"));
  MXGRID_RETURN_IF_ERROR(Set<kLt>(registry, "_lesser_scalar"));
  return Set<kLe>(registry, "_lesser_equal_scalar");
}

}  // namespace mxgrid::ops::tensor_cuda
