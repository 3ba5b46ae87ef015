// Helpers of the optimizer family's CUDA kernels (included by libs/ops/optimizer/*.cu only).
//
// Bit-exactness with the CPU kernels: the kernels run update_rules.h's arithmetic with the
// compute types F32 / D64 below, whose operators are the correctly rounded intrinsics
// (__fadd_rn, __fmul_rn, ...). nvcc never contracts those into fused multiply-adds, so every
// operation rounds exactly as the CPU's SSE arithmetic does (the CPU build targets baseline
// x86-64, no FMA) and float32 results match bit for bit.
//
// Storage: weights may be float16 (Half's bits, converted through float with
// round-to-nearest-even as HalfToFloat / FloatToHalf), float32 or float64; Ld / St / Assign
// mirror update_op.h's element access. A kernel is a functor with
// `__device__ void operator()(int64_t i) const` launched over the elements by Launch.
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_CUDA_UTIL_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_CUDA_UTIL_H_

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "libs/base/dtype.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/op.h"
#include "libs/ops/registry.h"
#include "libs/ops/optimizer/update_op.h"
#include "libs/ops/optimizer/update_rules.h"

namespace mxgrid::ops::optimizer {

// A GPU kernel of an update op: UpdateKernel's contract on device memory, launched on
// ctx.stream. Called after CheckUpdateCall.
using GpuUpdateKernel = std::function<absl::Status(const OpContext&, const UpdateParams&,
                                                   absl::Span<const TensorView>, OpReq,
                                                   const TensorView&)>;

// Each .cu file's kernels by op name.
void AddSgdGpuKernels(std::map<std::string, GpuUpdateKernel>* kernels);       // sgd_ops.cu
void AddAdaptiveGpuKernels(std::map<std::string, GpuUpdateKernel>* kernels);  // adaptive_ops.cu
void AddLambGpuKernels(std::map<std::string, GpuUpdateKernel>* kernels);      // lamb_ops.cu
// The multi_*sgd*_update ops' GPU forwards (multi_sgd_ops.cu).
absl::Status RegisterMultiSgdCuda(Registry* registry);

namespace cu {

// float with correctly rounded, never-fused operations.
struct F32 {
  using Raw = float;
  float v;
  F32() = default;
  __host__ __device__ F32(float x) : v(x) {}  // NOLINT: implicit, as float's literals
};
__device__ __forceinline__ F32 operator+(F32 a, F32 b) { return __fadd_rn(a.v, b.v); }
__device__ __forceinline__ F32 operator-(F32 a, F32 b) { return __fsub_rn(a.v, b.v); }
__device__ __forceinline__ F32 operator*(F32 a, F32 b) { return __fmul_rn(a.v, b.v); }
__device__ __forceinline__ F32 operator/(F32 a, F32 b) { return __fdiv_rn(a.v, b.v); }
__device__ __forceinline__ F32 operator-(F32 a) { return -a.v; }
__device__ __forceinline__ F32 sqrt(F32 a) { return __fsqrt_rn(a.v); }
__device__ __forceinline__ F32 abs(F32 a) { return fabsf(a.v); }

// double likewise.
struct D64 {
  using Raw = double;
  double v;
  D64() = default;
  __host__ __device__ D64(double x) : v(x) {}  // NOLINT
};
__device__ __forceinline__ D64 operator+(D64 a, D64 b) { return __dadd_rn(a.v, b.v); }
__device__ __forceinline__ D64 operator-(D64 a, D64 b) { return __dsub_rn(a.v, b.v); }
__device__ __forceinline__ D64 operator*(D64 a, D64 b) { return __dmul_rn(a.v, b.v); }
__device__ __forceinline__ D64 operator/(D64 a, D64 b) { return __ddiv_rn(a.v, b.v); }
__device__ __forceinline__ D64 operator-(D64 a) { return -a.v; }
__device__ __forceinline__ D64 sqrt(D64 a) { return __dsqrt_rn(a.v); }
__device__ __forceinline__ D64 abs(D64 a) { return fabs(a.v); }

#define MXGRID_EXACT_COMPARE(T, op) \
  __device__ __forceinline__ bool operator op(T a, T b) { return a.v op b.v; }
MXGRID_EXACT_COMPARE(F32, <)
MXGRID_EXACT_COMPARE(F32, >)
MXGRID_EXACT_COMPARE(F32, <=)
MXGRID_EXACT_COMPARE(F32, >=)
MXGRID_EXACT_COMPARE(F32, ==)
MXGRID_EXACT_COMPARE(F32, !=)
MXGRID_EXACT_COMPARE(D64, <)
MXGRID_EXACT_COMPARE(D64, >)
MXGRID_EXACT_COMPARE(D64, <=)
MXGRID_EXACT_COMPARE(D64, >=)
MXGRID_EXACT_COMPARE(D64, ==)
MXGRID_EXACT_COMPARE(D64, !=)
#undef MXGRID_EXACT_COMPARE

__device__ __forceinline__ F32& operator+=(F32& a, F32 b) { return a = a + b; }
__device__ __forceinline__ D64& operator+=(D64& a, D64 b) { return a = a + b; }

// The device compute type of a host compute type (float or double).
template <typename H>
using Dev = std::conditional_t<std::is_same_v<H, double>, D64, F32>;

// Element i of p (storage W) in compute type C; update_op.h's Ld.
template <typename C, typename W>
__device__ __forceinline__ C Ld(const W* p, int64_t i) {
  if constexpr (std::is_same_v<W, Half>) {
    __half_raw r;
    r.x = p[i].bits;
    return C(static_cast<typename C::Raw>(__half2float(__half(r))));
  } else {
    return C(static_cast<typename C::Raw>(p[i]));
  }
}

// update_op.h's St: float16 through float, rounding to nearest even.
template <typename C, typename W>
__device__ __forceinline__ void St(W* p, int64_t i, C x) {
  if constexpr (std::is_same_v<W, Half>) {
    const __half_raw r = __float2half_rn(static_cast<float>(x.v));
    p[i].bits = r.x;
  } else {
    p[i] = static_cast<W>(x.v);
  }
}

// A request as the kernels take it: 0 kNull, 1 write, 2 add.
inline int Req(OpReq r) { return r == OpReq::kNull ? 0 : r == OpReq::kAddTo ? 2 : 1; }

// update_op.h's Assign (MXNet's KERNEL_ASSIGN) for a request code.
template <typename C, typename W>
__device__ __forceinline__ void Assign(int req, W* p, int64_t i, C x) {
  if (req == 0) return;
  if (req == 2) x = Ld<C, W>(p, i) + x;
  St<C, W>(p, i, x);
}

template <typename Op>
__global__ void ElementwiseKernel(Op op, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { op(i); }
}

// Runs op(i) for i in [0, n) on the call's stream.
template <typename Op>
void Launch(const OpContext& ctx, int64_t n, const Op& op) {
  if (n <= 0) return;
  ElementwiseKernel<Op><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(op, n);
}

// Typed pointers of a call's views.
template <typename T>
T* Ptr(const TensorView& v) {
  return static_cast<T*>(v.data);
}

// update_op.h's Plain / Mixed, then the launch status: fn(TypeTag<W>, [TypeTag<S>,]
// TypeTag<H>) with H the host compute type (Dev<H> on the device).
template <typename Fn>
absl::Status RunPlain(const OpContext& ctx, const char* name, absl::Span<const TensorView> in,
                      Fn&& fn) {
  absl::Status s = Plain(name, in, fn);
  if (!s.ok()) return s;
  return gpu::LaunchStatus(ctx.ctx.device_id, name);
}
template <typename Fn>
absl::Status RunMixed(const OpContext& ctx, const char* name, absl::Span<const TensorView> in,
                      int state, Fn&& fn) {
  absl::Status s = Mixed(name, in, state, fn);
  if (!s.ok()) return s;
  return gpu::LaunchStatus(ctx.ctx.device_id, name);
}

}  // namespace cu
}  // namespace mxgrid::ops::optimizer

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_CUDA_UTIL_H_
