// Device side of the random family's CUDA kernels (included by libs/ops/random/*.cu only;
// nvcc compiles it): the distributions of random_util.h's Draw, sampled on the GPU from a
// counter-based generator, and the per-file registration functions.
//
// Generator: every output element i draws from its own Philox4x32-10 subsequence
// (curand_init(seed, i, 0)), where `seed` is one 64-bit value taken from OpContext::rng per
// call. OpContext::rng is seeded per call from the session's per-device generator
// (mx.random.seed), so a seed gives the same arrays on a given GPU, and each call advances
// the generator; no generator state lives on the device. The values differ from the CPU's
// (as MXNet's GPU samplers differ from its CPU ones); the distributions are the same:
// uniform and normal from curand, gamma by Marsaglia-Tsang (boosted for shape < 1),
// exponential by inversion, Poisson by multiplication (lam < 10) or Hörmann's PTRS
// transformed rejection (lam >= 10), the negative binomials as gamma-Poisson mixtures.
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_RANDOM_RANDOM_CUDA_CUH_
#define MXGRID_LIBS_OPS_RANDOM_RANDOM_CUDA_CUH_

#include <cuda_runtime.h>
#include <curand_kernel.h>
#include <math_constants.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/cuda_dispatch.h"
#include "libs/ops/op.h"
#include "libs/ops/random/random_util.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::random {

// Registration of each .cu file's kernels (called by RegisterRandomCudaKernels).
absl::Status RegisterSamplerCuda(Registry* registry);      // sampler_cuda.cu
absl::Status RegisterMultinomialCuda(Registry* registry);  // multinomial_cuda.cu
absl::Status RegisterShuffleCuda(Registry* registry);      // shuffle_cuda.cu

namespace cu {

using Philox = curandStatePhilox4_32_10_t;

__device__ __forceinline__ void Init(uint64_t seed, int64_t i, Philox* s) {
  curand_init(static_cast<unsigned long long>(seed), static_cast<unsigned long long>(i), 0, s);
}

// Uniform on [0, 1) (curand's is on (0, 1]).
__device__ __forceinline__ double Uniform01(Philox* s) { return 1.0 - curand_uniform_double(s); }

// 64 uniform bits.
__device__ __forceinline__ uint64_t Bits64(Philox* s) {
  const uint64_t hi = curand(s);
  return (hi << 32) | curand(s);
}

// Gamma(shape, scale) by Marsaglia and Tsang; shape < 1 through Gamma(shape + 1) * U^(1/shape).
// 0 for scale <= 0 (random_util.cc's Gamma).
__device__ inline double Gamma(double shape, double scale, Philox* s) {
  if (scale <= 0) return 0;
  double boost = 1.0;
  if (shape < 1.0) {
    boost = pow(curand_uniform_double(s), 1.0 / shape);  // U on (0, 1]
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = curand_normal_double(s);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = curand_uniform_double(s);
    if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v * boost * scale;
    if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v * boost * scale;
  }
}

// Poisson(lam): 0 for lam <= 0, +inf for an infinite lam (random_util.cc's Poisson).
__device__ inline double Poisson(double lam, Philox* s) {
  if (lam <= 0) return 0;
  if (isinf(lam)) return CUDART_INF;
  if (lam < 10.0) {
    // Multiplication of uniforms until the product drops below exp(-lam).
    const double limit = exp(-lam);
    double prod = curand_uniform_double(s);
    double k = 0;
    while (prod > limit) {
      prod *= curand_uniform_double(s);
      k += 1;
    }
    return k;
  }
  // PTRS (W. Hörmann, "The transformed rejection method for generating Poisson random
  // variables", 1993), as NumPy's random_poisson_ptrs.
  const double slam = sqrt(lam), loglam = log(lam);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = Uniform01(s) - 0.5;
    const double v = Uniform01(s);
    const double us = 0.5 - fabs(u);
    const double k = floor((2 * a / us + b) * u + lam + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= -lam + k * loglam - lgamma(k + 1)) {
      return k;
    }
  }
}

// One draw of `dist` with parameters (a, b), as random_util.cc's Draw.
// REQUIRES: ParamsOk(dist, a, b).
__device__ inline double Draw(Dist dist, double a, double b, Philox* s) {
  switch (dist) {
    case Dist::kUniform:
      return a + (b - a) * Uniform01(s);
    case Dist::kNormal:
      return a + b * curand_normal_double(s);
    case Dist::kGamma:
      return Gamma(a, b, s);
    case Dist::kExponential:
      return -log(curand_uniform_double(s)) / a;  // U on (0, 1]: finite
    case Dist::kPoisson:
      return Poisson(a, s);
    case Dist::kNegativeBinomial:
      if (b == 0) return CUDART_INF;
      return Poisson(Gamma(a, (1 - b) / b, s), s);
    case Dist::kGeneralizedNegativeBinomial:
      if (b == 0) return Poisson(a, s);
      return Poisson(Gamma(1 / b, a * b, s), s);
  }
  return 0;
}

// random_util.cc's CheckParams as a predicate (the device-side check of parameter arrays;
// the host's CheckParams writes the message).
__device__ __forceinline__ bool ParamsOk(Dist dist, double a, double b) {
  if (isnan(a) || isnan(b)) return false;
  switch (dist) {
    case Dist::kUniform: return b >= a;
    case Dist::kNormal: return b > 0;
    case Dist::kGamma: return a > 0 && b > 0;
    case Dist::kExponential: return a > 0;
    case Dist::kPoisson: return a >= 0;
    case Dist::kNegativeBinomial: return a > 0 && b >= 0 && b <= 1;
    case Dist::kGeneralizedNegativeBinomial: return a >= 0 && b >= 0;
  }
  return false;
}

}  // namespace cu

// The per-call seed of the counter-based generator: one draw of OpContext::rng.
inline absl::StatusOr<uint64_t> CallSeed(const OpContext& ctx, absl::string_view op) {
  if (ctx.rng == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(op, ": OpContext::rng is null"));
  }
  return static_cast<uint64_t>((*ctx.rng)());
}

// Reads back the smallest element index a check kernel stored at `flag` (initialised to
// UINT64_MAX; unchanged when every element passed). Waits for the stream: the only host
// synchronisation of the family, needed because a parameter array's values decide whether
// the call is InvalidArgument, as on the CPU.
absl::StatusOr<uint64_t> ReadFirstBad(const OpContext& ctx, const unsigned long long* flag);
// Element i of the device array `v`, as a double (a blocking copy; error paths only).
absl::StatusOr<double> ReadDeviceDouble(const OpContext& ctx, const TensorView& v, int64_t i);

}  // namespace mxgrid::ops::random

#endif  // MXGRID_LIBS_OPS_RANDOM_RANDOM_CUDA_CUH_
