// CUDA kernels of the reductions: sum [sum_axis], mean, max, min, prod, nansum, nanprod,
// norm (ord 1 and 2) and _square_sum (forward and backward), argmax, argmin and
// argmax_channel (forward; no gradient), and SumTo, the reduction every broadcast backward
// uses. float32/float64, accumulating sums and products in double. norm with an out_dtype
// other than its input's runs on the CPU kernels (gpu_fallback.h).
//
// A reduction runs as one thread block per output element when the reduced elements are
// contiguous (the innermost axis is reduced: sum over the last axis) or the outputs are
// few, each block folding its elements with a shared-memory tree; otherwise (the innermost
// axis kept: sum over axis 0 of a matrix) as 32 x 8 blocks, 32 consecutive outputs read
// coalesced by the lanes and 8 rows of threads splitting the reduced elements.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/common.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/gpu_fallback.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/reduce_params.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {

ReduceGeom MakeReduceGeom(const Shape& in, const Shape& kept) {
  const std::vector<int64_t> st = Strides(in);
  std::vector<int64_t> od, os, rd, rs;
  int last = -1;
  for (int i = 0; i < in.ndim(); ++i) {
    if (in[i] != 1) last = i;
    if (kept[i] == 1 && in[i] != 1) {
      rd.push_back(in[i]);
      rs.push_back(st[i]);
    } else {
      od.push_back(in[i]);
      os.push_back(st[i]);
    }
  }
  ReduceGeom g;
  g.out = Collapse(od, {os})[0];
  g.red = Collapse(rd, {rs})[0];
  for (int64_t d : od) g.num_out *= d;
  for (int64_t d : rd) g.num_red *= d;
  g.inner_reduced = last >= 0 && kept[last] == 1;
  return g;
}

namespace {

// kNormL1: sum |x|; kNormL2: sqrt(sum x^2); kSquareSum: sum x^2 (norm.cc, square_sum.cc).
enum class Kind {
  kSum, kMean, kMax, kMin, kProd, kNanSum, kNanProd, kNormL1, kNormL2, kSquareSum
};

// Folds elements into an accumulator (double for sums and products, T for max and min);
// NaN rules as the CPU kernels: max/min propagate NaN, the nan kinds skip it.
template <typename T, Kind K>
struct Reducer {
  using Acc = std::conditional_t<K == Kind::kMax || K == Kind::kMin, T, double>;
  T count;   // kMean's divisor
  T scale;   // SumTo's factor
  __device__ Acc Init() const {
    if constexpr (K == Kind::kMax) return -CUDART_INF;
    if constexpr (K == Kind::kMin) return CUDART_INF;
    if constexpr (K == Kind::kProd || K == Kind::kNanProd) return 1.0;
    return 0.0;
  }
  __device__ Acc Combine(Acc a, Acc x) const {
    if constexpr (K == Kind::kMax) return a != a ? a : (a >= x ? a : x);
    if constexpr (K == Kind::kMin) return a != a ? a : (a <= x ? a : x);
    if constexpr (K == Kind::kProd || K == Kind::kNanProd) return a * x;
    return a + x;
  }
  __device__ Acc Fold(Acc a, T x, int64_t) const {
    if constexpr (K == Kind::kNormL1) return a + fabs(static_cast<double>(x));
    if constexpr (K == Kind::kNormL2 || K == Kind::kSquareSum) {
      const double v = static_cast<double>(x);
      return a + v * v;
    }
    if constexpr (K == Kind::kNanSum || K == Kind::kNanProd) {
      if (x != x) return a;
    }
    return Combine(a, static_cast<Acc>(x));
  }
  __device__ T Final(Acc a) const {
    if constexpr (K == Kind::kMean) return static_cast<T>(a) / count;
    if constexpr (K == Kind::kSum) return static_cast<T>(a) * scale;
    if constexpr (K == Kind::kNormL2) return static_cast<T>(sqrt(a));
    return static_cast<T>(a);
  }
};

// argmax / argmin: the position along the reduced axis (the flat index when all are
// reduced) of the first extreme, or of the first NaN, as the CPU's running search.
template <typename T>
struct ArgAcc {
  T v;
  int64_t i;
};

template <typename T, bool kMin>
struct ArgReducer {
  using Acc = ArgAcc<T>;
  __device__ Acc Init() const { return Acc{kMin ? T(CUDART_INF) : T(-CUDART_INF), 0}; }
  __device__ Acc Combine(Acc a, Acc b) const {
    const bool an = a.v != a.v, bn = b.v != b.v;
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (a.v == b.v) return a.i <= b.i ? a : b;
    return (kMin ? a.v < b.v : a.v > b.v) ? a : b;
  }
  __device__ Acc Fold(Acc a, T x, int64_t r) const { return Combine(a, Acc{x, r}); }
  __device__ T Final(Acc a) const { return static_cast<T>(static_cast<double>(a.i)); }
};

template <typename T, typename R>
__global__ void ReduceBlockKernel(const T* x, T* y, int req, ReduceGeom g, R r) {
  using Acc = typename R::Acc;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Acc* sm = reinterpret_cast<Acc*>(smem_raw);
  for (int64_t j = blockIdx.x; j < g.num_out; j += gridDim.x) {
    const int64_t base = Offset(g.out, j);
    Acc a = r.Init();
    for (int64_t k = threadIdx.x; k < g.num_red; k += blockDim.x) {
      a = r.Fold(a, x[base + Offset(g.red, k)], k);
    }
    sm[threadIdx.x] = a;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sm[threadIdx.x] = r.Combine(sm[threadIdx.x], sm[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) Put(req, y, j, r.Final(sm[0]));
    __syncthreads();
  }
}

constexpr int kColLanes = 32, kColRows = 8;

template <typename T, typename R>
__global__ void ReduceColumnsKernel(const T* x, T* y, int req, ReduceGeom g, R r) {
  using Acc = typename R::Acc;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Acc* sm = reinterpret_cast<Acc*>(smem_raw);
  for (int64_t j0 = static_cast<int64_t>(blockIdx.x) * kColLanes; j0 < g.num_out;
       j0 += static_cast<int64_t>(gridDim.x) * kColLanes) {
    const int64_t j = j0 + threadIdx.x;
    Acc a = r.Init();
    if (j < g.num_out) {
      const int64_t base = Offset(g.out, j);
      for (int64_t k = threadIdx.y; k < g.num_red; k += kColRows) {
        a = r.Fold(a, x[base + Offset(g.red, k)], k);
      }
    }
    sm[threadIdx.y * kColLanes + threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0 && j < g.num_out) {
      for (int t = 1; t < kColRows; ++t) a = r.Combine(a, sm[t * kColLanes + threadIdx.x]);
      Put(req, y, j, r.Final(a));
    }
    __syncthreads();
  }
}

// y (req) the reduction of x (shape `in`) to `kept`, launched on the call's stream.
template <typename T, typename R>
absl::Status LaunchReduce(const OpContext& ctx, const char* op, const T* x, const Shape& in,
                          const Shape& kept, T* y, OpReq req, R r) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const ReduceGeom g = MakeReduceGeom(in, kept);
  if (g.num_out == 0) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  using Acc = typename R::Acc;
  if (g.inner_reduced || g.num_out < kColLanes) {
    int threads = 32;
    while (threads < 256 && threads < g.num_red) threads *= 2;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(g.num_out, 65535));
    ReduceBlockKernel<T, R><<<blocks, threads, threads * sizeof(Acc), stream>>>(x, y, Req(req),
                                                                                 g, r);
  } else {
    const unsigned blocks = static_cast<unsigned>(
        std::min<int64_t>((g.num_out + kColLanes - 1) / kColLanes, 65535));
    ReduceColumnsKernel<T, R><<<blocks, dim3(kColLanes, kColRows),
                                kColLanes * kColRows * sizeof(Acc), stream>>>(x, y, Req(req),
                                                                              g, r);
  }
  return gpu::LaunchStatus(ctx.ctx.device_id, op);
}

template <typename T, Kind K>
Reducer<T, K> MakeReducer(T count, T scale) {
  Reducer<T, K> r;
  r.count = count;
  r.scale = scale;
  return r;
}

// Backward of the reductions, element by element of the input: dy at the element's output
// slot (times mean's scale), zero where max/min did not pick the element, times out / x for
// prod, zero at NaN for the nan kinds.
template <typename T, Kind K>
__global__ void ReduceGradKernel(const T* x, const T* y, const T* dy, T* dx, int64_t n,
                                 int req, Index slot, T scale) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t s = Offset(slot, i);
    T g = dy[s] * scale;
    if constexpr (K == Kind::kMax || K == Kind::kMin) {
      if (x[i] != y[s]) g = T(0);
    }
    if constexpr (K == Kind::kProd || K == Kind::kNanProd) g = g * (y[s] / x[i]);
    if constexpr (K == Kind::kNanSum || K == Kind::kNanProd) {
      if (x[i] != x[i]) g = T(0);
    }
    Put(req, dx, i, g);
  }
}

// The map from an element of `in` to its slot in the keepdims shape `kept`.
Index SlotIndex(const Shape& in, const Shape& kept) {
  return Collapse(Dims(in), {BroadcastStrides(kept, in)})[0];
}

template <Kind K>
absl::Status SetReduce(Registry* registry, const char* name) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op](const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<tensor_internal::ReduceParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Shape kept, tensor_internal::KeptShape(op, p, in[0].shape));
    return DispatchRealCuda(op, in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      const T count =
          static_cast<T>(in[0].size() / std::max<int64_t>(1, kept.Size()));
      return LaunchReduce(ctx, op.c_str(), in[0].as<T>(), in[0].shape, kept, out[0].as<T>(),
                          reqs[0], MakeReducer<T, K>(count, T(1)));
    });
  };
  d->gpu_backward = [op](const OpContext& ctx, const OpParams& params,
                         const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const Shape& is = a.in_grads[0].shape;
    const auto& p = ParamsAs<tensor_internal::ReduceParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Shape kept, tensor_internal::KeptShape(op, p, is));
    const int64_t n = is.Size();
    if (n == 0) return absl::OkStatus();
    const Index slot = SlotIndex(is, kept);
    return DispatchRealCuda(op, a.out_grads[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      constexpr bool kSelect = K == Kind::kMax || K == Kind::kMin;
      constexpr bool kProd = K == Kind::kProd || K == Kind::kNanProd;
      constexpr bool kUsesX = kSelect || kProd || K == Kind::kNanSum || K == Kind::kNanProd;
      const T* x = kUsesX ? a.inputs[0].as<T>() : nullptr;
      const T* y = kSelect || kProd ? a.outputs[0].as<T>() : nullptr;
      const T scale = K == Kind::kMean ? T(kept.Size()) / T(n) : T(1);
      ReduceGradKernel<T, K><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          x, y, a.out_grads[0].as<T>(), a.in_grads[0].as<T>(), n, Req(a.reqs[0]), slot, scale);
      return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

template <bool kMin>
absl::Status SetArgReduce(Registry* registry, const char* name) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op](const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<tensor_internal::ArgmaxParams>(params);
    tensor_internal::ReduceParams r;
    if (p.axis) r.axis = std::vector<int64_t>{*p.axis};
    MXGRID_ASSIGN_OR_RETURN(Shape kept, tensor_internal::KeptShape(op, r, in[0].shape));
    return DispatchRealCuda(op, in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      return LaunchReduce(ctx, op.c_str(), in[0].as<T>(), in[0].shape, kept, out[0].as<T>(),
                          reqs[0], ArgReducer<T, kMin>{});
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

// norm's gradient: dy * sign(x) (ord 1) or dy * x / norm (ord 2), in double as norm.cc.
template <typename T>
__global__ void NormGradKernel(const T* x, const T* y, const T* dy, T* dx, int64_t n, int req,
                               Index slot, bool l1) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t s = Offset(slot, i);
    const double xi = static_cast<double>(x[i]);
    const double g = l1 ? (xi > 0 ? 1.0 : xi < 0 ? -1.0 : 0.0) : xi / static_cast<double>(y[s]);
    Put(req, dx, i, static_cast<T>(static_cast<double>(dy[s]) * g));
  }
}

absl::Status SetNorm(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("norm"));
  const OpDef* def = d;
  d->gpu_forward = [def](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<tensor_internal::NormParams>(params);
    Shape kept, o;
    MXGRID_RETURN_IF_ERROR(tensor_internal::NormShapes(p, in[0].shape, &kept, &o));
    if (out[0].dtype != in[0].dtype) {
      return GpuFallbackForward(*def, params, ctx, in, reqs, out, {});
    }
    return DispatchRealCuda("norm", in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if (p.ord == 1) {
        return LaunchReduce(ctx, "norm", in[0].as<T>(), in[0].shape, kept, out[0].as<T>(),
                            reqs[0], MakeReducer<T, Kind::kNormL1>(T(1), T(1)));
      }
      return LaunchReduce(ctx, "norm", in[0].as<T>(), in[0].shape, kept, out[0].as<T>(),
                          reqs[0], MakeReducer<T, Kind::kNormL2>(T(1), T(1)));
    });
  };
  d->gpu_backward = [def](const OpContext& ctx, const OpParams& params,
                          const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<tensor_internal::NormParams>(params);
    const TensorView& dx = a.in_grads[0];
    Shape kept, o;
    MXGRID_RETURN_IF_ERROR(tensor_internal::NormShapes(p, dx.shape, &kept, &o));
    if (a.out_grads[0].dtype != dx.dtype || a.outputs[0].dtype != dx.dtype) {
      return GpuFallbackBackward(*def, params, ctx, a);
    }
    const int64_t n = dx.size();
    if (n == 0) return absl::OkStatus();
    const Index slot = SlotIndex(dx.shape, kept);
    return DispatchRealCuda("norm", dx.dtype, [&](auto tag) {
      using T = decltype(tag);
      NormGradKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          a.inputs[0].as<T>(), a.outputs[0].as<T>(), a.out_grads[0].as<T>(), dx.as<T>(), n,
          Req(a.reqs[0]), slot, p.ord == 1);
      return gpu::LaunchStatus(ctx.ctx.device_id, "norm");
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

// _square_sum's gradient: 2 * x * dy, in T as square_sum.cc.
template <typename T>
__global__ void SquareSumGradKernel(const T* x, const T* dy, T* dx, int64_t n, int req,
                                    Index slot) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    Put(req, dx, i, static_cast<T>(2 * x[i] * dy[Offset(slot, i)]));
  }
}

// The keepdims shape of _square_sum over `in` (its axis at 1).
absl::StatusOr<Shape> SquareSumKept(const OpParams& params, const Shape& in) {
  const auto& p = ParamsAs<tensor_internal::SquareSumParams>(params);
  MXGRID_ASSIGN_OR_RETURN(int axis,
                          tensor_internal::NormalizeAxis("_square_sum", p.axis, in.ndim()));
  Shape kept = in;
  kept[axis] = 1;
  return kept;
}

absl::Status SetSquareSum(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("_square_sum"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Shape kept, SquareSumKept(params, in[0].shape));
    return DispatchRealCuda("_square_sum", in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      return LaunchReduce(ctx, "_square_sum", in[0].as<T>(), in[0].shape, kept,
                          out[0].as<T>(), reqs[0],
                          MakeReducer<T, Kind::kSquareSum>(T(1), T(1)));
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const TensorView& dx = a.in_grads[0];
    MXGRID_ASSIGN_OR_RETURN(Shape kept, SquareSumKept(params, dx.shape));
    const int64_t n = dx.size();
    if (n == 0) return absl::OkStatus();
    const Index slot = SlotIndex(dx.shape, kept);
    return DispatchRealCuda("_square_sum", dx.dtype, [&](auto tag) {
      using T = decltype(tag);
      SquareSumGradKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          a.inputs[0].as<T>(), a.out_grads[0].as<T>(), dx.as<T>(), n, Req(a.reqs[0]), slot);
      return gpu::LaunchStatus(ctx.ctx.device_id, "_square_sum");
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace

absl::Status SumTo(const OpContext& ctx, const char* op, const TensorView& x,
                   const Shape& kept, double scale, OpReq req, const TensorView& y) {
  return DispatchRealCuda(op, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    return LaunchReduce(ctx, op, x.as<T>(), x.shape, kept, y.as<T>(), req,
                        MakeReducer<T, Kind::kSum>(T(1), static_cast<T>(scale)));
  });
}

absl::Status RegisterReduceCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kSum>(registry, "sum"));
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kMean>(registry, "mean"));
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kMax>(registry, "max"));
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kMin>(registry, "min"));
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kProd>(registry, "prod"));
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kNanSum>(registry, "nansum"));
  MXGRID_RETURN_IF_ERROR(SetReduce<Kind::kNanProd>(registry, "nanprod"));
  MXGRID_RETURN_IF_ERROR(SetArgReduce<false>(registry, "argmax"));
  MXGRID_RETURN_IF_ERROR(SetArgReduce<false>(registry, "argmax_channel"));
  MXGRID_RETURN_IF_ERROR(SetArgReduce<true>(registry, "argmin"));
  MXGRID_RETURN_IF_ERROR(SetNorm(registry));
  return SetSquareSum(registry);
}

}  // namespace mxgrid::ops::tensor_cuda
