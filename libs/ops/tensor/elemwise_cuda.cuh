// Elementwise CUDA kernels over per-element functors, and the registration helpers that
// attach them to the CPU registry's OpDefs (nvcc only, internal to libs/ops/tensor).
//
//   struct Exp { template <typename T> __device__ T operator()(T x) const { return exp(x); } };
//   struct ExpGrad {
//     template <typename T> __device__ T operator()(T x, T y, T g) const { return g * y; }
//   };
//   SetUnary(registry, "exp", [](const OpParams&) { return Exp{}; },
//            [](const OpParams&) { return ExpGrad{}; });
//
// Functors are generic over the element type (float, double) and mirror the CPU functors of
// the same op; the backward gets x (input) and y (output) only where the op's BackwardDeps
// asks for them (otherwise zero). Every kernel reads element i before writing element i, so
// outputs may alias inputs. Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_TENSOR_ELEMWISE_CUDA_CUH_
#define MXGRID_LIBS_OPS_TENSOR_ELEMWISE_CUDA_CUH_

#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {

// MXNet's power: pow in double, powf for float (as the CPU's Pow).
template <typename T>
__device__ __forceinline__ T DevPow(T a, T b) {
  if constexpr (std::is_same_v<T, double>) {
    return pow(a, b);
  } else {
    return powf(static_cast<float>(a), static_cast<float>(b));
  }
}

// MXNet's hypot: hypotf for float, hypot for double.
template <typename T>
__device__ __forceinline__ T DevHypot(T a, T b) {
  if constexpr (std::is_same_v<T, double>) {
    return hypot(a, b);
  } else {
    return hypotf(static_cast<float>(a), static_cast<float>(b));
  }
}

// MXNet's mod (int_math.h's Mod for floats): fmod in double, the result taking the
// divisor's sign, 0 for a zero divisor.
template <typename T>
__device__ __forceinline__ T DevMod(T a, T b) {
  const double da = static_cast<double>(a), db = static_cast<double>(b);
  if (b == T(0)) return T(0);
  if (b < T(0)) {
    if (a < T(0)) return static_cast<T>(-fmod(-da, -db));
    const double r = fmod(da, -db);
    const T ret = static_cast<T>(r + (r != 0.0 ? db : 0.0));
    return ret == b ? T(0) : ret;
  }
  if (a >= T(0)) return static_cast<T>(fmod(da, db));
  const double r = fmod(-da, db);
  const T ret = static_cast<T>(-r + (r != 0.0 ? db : 0.0));
  return ret == b ? T(0) : ret;
}

template <typename T, typename F>
__global__ void MapKernel(const T* x, T* y, int64_t n, int req, F f) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { Put(req, y, i, static_cast<T>(f(x[i]))); }
}

template <typename T, typename G>
__global__ void MapGradKernel(const T* x, const T* y, const T* dy, T* dx, int64_t n, int req,
                              G g) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const T xi = x ? x[i] : T(0);
    const T yi = y ? y[i] : T(0);
    Put(req, dx, i, static_cast<T>(g(xi, yi, dy[i])));
  }
}

template <typename T, typename F>
__global__ void ZipKernel(const T* a, const T* b, T* y, int64_t n, int req, F f) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { Put(req, y, i, static_cast<T>(f(a[i], b[i]))); }
}

// Both gradients computed before either is stored (they may alias dy); req 0 (kNull): the
// gradient is neither computed nor touched.
template <typename T, typename GA, typename GB>
__global__ void ZipGradKernel(const T* a, const T* b, const T* dy, T* da, T* db, int64_t n,
                              int req_a, int req_b, GA ga, GB gb) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const T ai = a ? a[i] : T(0);
    const T bi = b ? b[i] : T(0);
    const T g = dy[i];
    const T gra = req_a ? static_cast<T>(ga(ai, bi, g)) : T(0);
    const T grb = req_b ? static_cast<T>(gb(ai, bi, g)) : T(0);
    if (req_a) Put(req_a, da, i, gra);
    if (req_b) Put(req_b, db, i, grb);
  }
}

inline const std::vector<DType>& RealDtypes() {
  static const std::vector<DType> kReal = {DType::kFloat32, DType::kFloat64};
  return kReal;
}

// A unary op: forward MapKernel with make_f(params); backward (when the op has one)
// MapGradKernel with make_g(params), reading x and y as the op's BackwardDeps say.
template <typename MakeF, typename MakeG>
absl::Status SetUnary(Registry* registry, const char* name, MakeF make_f, MakeG make_g) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, make_f](const OpContext& ctx, const OpParams& params,
                                absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                                absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    return DispatchRealCuda(op, in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      MapKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          in[0].as<T>(), out[0].as<T>(), n, Req(reqs[0]), make_f(params));
      return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
    });
  };
  if (d->backward) {
    const BackwardDeps deps = d->backward_deps;
    d->gpu_backward = [op, make_g, deps](const OpContext& ctx, const OpParams& params,
                                         const BackwardArgs& a) -> absl::Status {
      const int64_t n = a.in_grads[0].size();
      if (a.reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
      return DispatchRealCuda(op, a.out_grads[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* x = deps.inputs ? a.inputs[0].as<T>() : nullptr;
        const T* y = deps.outputs ? a.outputs[0].as<T>() : nullptr;
        MapGradKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
            x, y, a.out_grads[0].as<T>(), a.in_grads[0].as<T>(), n, Req(a.reqs[0]),
            make_g(params));
        return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
      });
    };
  }
  d->gpu_dtypes = RealDtypes();
  return absl::OkStatus();
}

// Forward of a same-shape binary op (also the broadcast ops' same-shape case).
template <typename F>
absl::Status ZipForward(const OpContext& ctx, const char* op, F f, const TensorView& a,
                        const TensorView& b, OpReq req, const TensorView& y) {
  const int64_t n = y.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  return DispatchRealCuda(op, y.dtype, [&](auto tag) {
    using T = decltype(tag);
    ZipKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.as<T>(), b.as<T>(), y.as<T>(), n, Req(req), f);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// Backward of a same-shape binary op: a and b read only when `inputs`.
template <typename GA, typename GB>
absl::Status ZipBackward(const OpContext& ctx, const char* op, GA ga, GB gb, bool inputs,
                         const BackwardArgs& args) {
  const int64_t n = args.out_grads[0].size();
  const OpReq ra = args.reqs[0], rb = args.reqs[1];
  if ((ra == OpReq::kNull && rb == OpReq::kNull) || n == 0) return absl::OkStatus();
  return DispatchRealCuda(op, args.out_grads[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* a = inputs ? args.inputs[0].as<T>() : nullptr;
    const T* b = inputs ? args.inputs[1].as<T>() : nullptr;
    T* da = ra == OpReq::kNull ? nullptr : args.in_grads[0].as<T>();
    T* db = rb == OpReq::kNull ? nullptr : args.in_grads[1].as<T>();
    ZipGradKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a, b, args.out_grads[0].as<T>(), da, db, n, Req(ra), Req(rb), ga, gb);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// A same-shape binary op: forward f, backward ga / gb (null backward when the op has none).
template <typename F, typename GA, typename GB>
absl::Status SetBinary(Registry* registry, const char* name, F f, GA ga, GB gb) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, f](const OpContext& ctx, const OpParams&,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
    return ZipForward(ctx, op.c_str(), f, in[0], in[1], reqs[0], out[0]);
  };
  if (d->backward) {
    const bool inputs = d->backward_deps.inputs;
    d->gpu_backward = [op, ga, gb, inputs](const OpContext& ctx, const OpParams&,
                                           const BackwardArgs& a) {
      return ZipBackward(ctx, op.c_str(), ga, gb, inputs, a);
    };
  }
  d->gpu_dtypes = RealDtypes();
  return absl::OkStatus();
}

// Functors shared by the same-shape, scalar and broadcast forms.
struct AddF {
  template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct SubF {
  template <typename T> __device__ T operator()(T a, T b) const { return a - b; }
};
struct MulF {
  template <typename T> __device__ T operator()(T a, T b) const { return a * b; }
};
struct DivF {
  template <typename T> __device__ T operator()(T a, T b) const { return a / b; }
};
struct ModF {
  template <typename T> __device__ T operator()(T a, T b) const { return DevMod(a, b); }
};
struct PowF {
  template <typename T> __device__ T operator()(T a, T b) const { return DevPow(a, b); }
};
struct HypotF {
  template <typename T> __device__ T operator()(T a, T b) const { return DevHypot(a, b); }
};
// NaN in a gives NaN; NaN in b gives b (the CPU's `a != a || a > b ? a : b`).
struct MaxF {
  template <typename T> __device__ T operator()(T a, T b) const {
    return a != a || a > b ? a : b;
  }
};
struct MinF {
  template <typename T> __device__ T operator()(T a, T b) const {
    return a != a || a < b ? a : b;
  }
};
// Comparisons: 1 or 0 in the element type. Op: 0 ==, 1 !=, 2 >, 3 >=, 4 <, 5 <=.
template <int kOp>
struct CmpF {
  template <typename T> __device__ T operator()(T a, T b) const {
    bool c;
    if constexpr (kOp == 0) c = a == b;
    if constexpr (kOp == 1) c = a != b;
    if constexpr (kOp == 2) c = a > b;
    if constexpr (kOp == 3) c = a >= b;
    if constexpr (kOp == 4) c = a < b;
    if constexpr (kOp == 5) c = a <= b;
    return c ? T(1) : T(0);
  }
};

// Gradient functors g(a, b, dy) of the binary ops.
struct GradDy {
  template <typename T> __device__ T operator()(T, T, T g) const { return g; }
};
struct GradNegDy {
  template <typename T> __device__ T operator()(T, T, T g) const { return -g; }
};
struct GradZero {
  template <typename T> __device__ T operator()(T, T, T) const { return T(0); }
};
struct MulGradA {
  template <typename T> __device__ T operator()(T, T b, T g) const { return g * b; }
};
struct MulGradB {
  template <typename T> __device__ T operator()(T a, T, T g) const { return g * a; }
};
struct DivGradA {
  template <typename T> __device__ T operator()(T, T b, T g) const { return g / b; }
};
struct DivGradB {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return -g * a / (b * b); }
};
struct ModGradB {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return -g * floor(a / b); }
};
struct MaxGradA {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return a >= b ? g : T(0); }
};
struct MaxGradB {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return a >= b ? T(0) : g; }
};
struct MinGradA {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return a <= b ? g : T(0); }
};
struct MinGradB {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return a <= b ? T(0) : g; }
};
struct PowGradA {
  template <typename T> __device__ T operator()(T a, T b, T g) const {
    return g * b * DevPow(a, T(b - 1));
  }
};
struct PowGradB {
  template <typename T> __device__ T operator()(T a, T b, T g) const {
    return g * DevPow(a, b) * log(a);
  }
};
struct HypotGradA {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return g * a / hypot(a, b); }
};
struct HypotGradB {
  template <typename T> __device__ T operator()(T a, T b, T g) const { return g * b / hypot(a, b); }
};

}  // namespace mxgrid::ops::tensor_cuda

#endif  // MXGRID_LIBS_OPS_TENSOR_ELEMWISE_CUDA_CUH_
