// CUDA kernels of the indexing ops: one_hot (forward), Embedding, take, pick and where
// (forward and backward). Data float32/float64 (take, pick and one_hot's output also
// int32/int64), indices in any of those dtypes, read as the CPU reads them. The backward
// scatters with atomic adds, so sums over repeated indices may round in any order.
// take with mode='raise' must report an out-of-range index: its forward runs on the CPU.
#include <cuda_runtime.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/gpu_fallback.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/index_params.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

using tensor_internal::EmbeddingParams;
using tensor_internal::NormalizeAxis;
using tensor_internal::OneHotParams;
using tensor_internal::TakeMode;
using tensor_internal::TakeParams;

// FromDouble: integers truncate and saturate, NaN is 0.
template <typename T>
__device__ T FromD(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (!(v == v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::min())) {
      return std::numeric_limits<T>::min();
    }
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
      return std::numeric_limits<T>::max();
    }
  }
  return static_cast<T>(v);
}

// take_pick.cc's Resolve for clip and wrap (raise's indices are checked on the CPU).
__device__ int64_t Resolve(int64_t j, int64_t n, bool wrap) {
  if (wrap) {
    const int64_t r = j % n;
    return r < 0 ? r + n : r;
  }
  return j < 0 ? 0 : (j >= n ? n - 1 : j);
}

absl::Status Zero(const OpContext& ctx, const char* op, const TensorView& t) {
  if (t.size() == 0) return absl::OkStatus();
  const cudaError_t e =
      cudaMemsetAsync(t.data, 0, t.size() * DTypeSize(t.dtype), gpu::StreamOf(ctx.stream));
  if (e != cudaSuccess) {
    return absl::InternalError(absl::StrCat(op, ": cudaMemsetAsync failed: ",
                                            cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

// Zeroes a gradient written (not accumulated).
absl::Status ZeroIfWritten(const OpContext& ctx, const char* op, const TensorView& g, OpReq r) {
  if (r == OpReq::kWriteTo || r == OpReq::kWriteInplace) return Zero(ctx, op, g);
  return absl::OkStatus();
}

// ---- one_hot

template <typename I, typename T>
__global__ void OneHotKernel(const I* idx, T* y, int64_t n, int64_t depth, double on,
                             double off, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const int64_t i = k / depth, j = k - i * depth;
    const int64_t v = static_cast<int64_t>(trunc(static_cast<double>(idx[i])));
    Put(req, y, k, FromD<T>(v == j ? on : off));
  }
}

absl::Status SetOneHot(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("one_hot"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    const auto& p = ParamsAs<OneHotParams>(params);
    return DispatchIndex("one_hot", in[0].dtype, [&](auto itag) {
      using I = decltype(itag);
      return DispatchIndex("one_hot", out[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        OneHotKernel<I, T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
            in[0].as<I>(), out[0].as<T>(), n, p.depth, p.on_value, p.off_value, Req(reqs[0]));
        return gpu::LaunchStatus(ctx.ctx.device_id, "one_hot");
      });
    });
  };
  d->gpu_dtypes = IndexDtypes();
  return absl::OkStatus();
}

// ---- Embedding

template <typename I, typename T>
__global__ void EmbeddingKernel(const I* idx, const T* w, T* y, int64_t n, int64_t dim,
                                int64_t rows, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const int64_t i = k / dim, j = k - i * dim;
    int64_t row = static_cast<int64_t>(trunc(static_cast<double>(idx[i])));
    row = row < 0 ? 0 : (row > rows - 1 ? rows - 1 : row);
    Put(req, y, k, w[row * dim + j]);
  }
}

template <typename I, typename T>
__global__ void EmbeddingGradKernel(const I* idx, const T* dy, T* dw, int64_t n, int64_t dim,
                                    int64_t rows) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const int64_t i = k / dim, j = k - i * dim;
    int64_t row = static_cast<int64_t>(trunc(static_cast<double>(idx[i])));
    row = row < 0 ? 0 : (row > rows - 1 ? rows - 1 : row);
    AtomicAdd(dw + row * dim + j, dy[k]);
  }
}

absl::Status SetEmbedding(Registry* registry, const char* name) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    const auto& p = ParamsAs<EmbeddingParams>(params);
    return DispatchIndex("Embedding", in[0].dtype, [&](auto itag) {
      using I = decltype(itag);
      return DispatchRealCuda("Embedding", in[1].dtype, [&](auto tag) {
        using T = decltype(tag);
        EmbeddingKernel<I, T><<<gpu::Blocks(n), gpu::kThreads, 0,
                                gpu::StreamOf(ctx.stream)>>>(
            in[0].as<I>(), in[1].as<T>(), out[0].as<T>(), n, p.output_dim, p.input_dim,
            Req(reqs[0]));
        return gpu::LaunchStatus(ctx.ctx.device_id, "Embedding");
      });
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<EmbeddingParams>(params);
    MXGRID_RETURN_IF_ERROR(ZeroIfWritten(ctx, "Embedding", a.in_grads[0], a.reqs[0]));
    if (a.reqs[1] == OpReq::kNull) return absl::OkStatus();
    MXGRID_RETURN_IF_ERROR(ZeroIfWritten(ctx, "Embedding", a.in_grads[1], a.reqs[1]));
    const int64_t n = a.out_grads[0].size();
    if (n == 0) return absl::OkStatus();
    return DispatchIndex("Embedding", a.inputs[0].dtype, [&](auto itag) {
      using I = decltype(itag);
      return DispatchRealCuda("Embedding", a.in_grads[1].dtype, [&](auto tag) {
        using T = decltype(tag);
        EmbeddingGradKernel<I, T><<<gpu::Blocks(n), gpu::kThreads, 0,
                                    gpu::StreamOf(ctx.stream)>>>(
            a.inputs[0].as<I>(), a.out_grads[0].as<T>(), a.in_grads[1].as<T>(), n,
            p.output_dim, p.input_dim);
        return gpu::LaunchStatus(ctx.ctx.device_id, "Embedding");
      });
    });
  };
  d->gpu_dtypes = IndexDtypes();
  return absl::OkStatus();
}

// ---- take and pick: out[k] = a[src(k)], the backward scattering dy back to src(k).

// take: k = (o, j, i) over (outer, m, inner); src = (o * n + idx[j]) * inner + i.
// pick: k = (o, i) over (outer, inner); src = (o * n + idx[k]) * inner + i.
struct Gather {
  int64_t outer, n, inner, m;
  bool pick, wrap;
};

template <typename I>
__device__ int64_t SourceOf(const Gather& g, const I* idx, int64_t k) {
  if (g.pick) {
    const int64_t o = k / g.inner, i = k - o * g.inner;
    return (o * g.n + Resolve(IndexAt(idx, k), g.n, g.wrap)) * g.inner + i;
  }
  const int64_t row = g.m * g.inner;
  const int64_t o = k / row, rem = k - o * row, j = rem / g.inner, i = rem - j * g.inner;
  return (o * g.n + Resolve(IndexAt(idx, j), g.n, g.wrap)) * g.inner + i;
}

template <typename T, typename I>
__global__ void GatherKernel(const T* a, const I* idx, T* y, int64_t total, Gather g, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) { Put(req, y, k, a[SourceOf(g, idx, k)]); }
}

template <typename T, typename I>
__global__ void ScatterKernel(const T* dy, const I* idx, T* da, int64_t total, Gather g) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) { AtomicAdd(da + SourceOf(g, idx, k), dy[k]); }
}

// The geometry of take / pick on data `a` and indices `idx` (InvalidArgument as the CPU).
absl::StatusOr<Gather> Geometry(const char* op, bool pick, const TakeParams& p, const Shape& a,
                                const TensorView& idx) {
  if (a.ndim() == 0)
    return absl::InvalidArgumentError(absl::StrCat(op, ": a must not be a scalar"));
  MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis(op, p.axis, a.ndim()));
  Gather g;
  g.outer = a.ProdRange(0, axis);
  g.n = a[axis];
  g.inner = a.ProdRange(axis + 1, a.ndim());
  g.m = idx.size();
  g.pick = pick;
  g.wrap = p.mode == TakeMode::kWrap;
  if (pick && g.m != g.outer * g.inner) {
    return absl::InvalidArgumentError(absl::StrCat("pick: index has ", g.m,
                                                   " elements, expected ", g.outer * g.inner));
  }
  if (g.n == 0 && g.m > 0 && g.outer * g.inner > 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": cannot take from an empty axis"));
  }
  return g;
}

absl::Status SetGather(Registry* registry, const char* name, bool pick) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  const OpDef* def = d;
  d->gpu_forward = [op, pick, def](const OpContext& ctx, const OpParams& params,
                                   absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                                   absl::Span<const TensorView> out) -> absl::Status {
    const int64_t total = out[0].size();
    if (reqs[0] == OpReq::kNull || total == 0) return absl::OkStatus();
    const auto& p = ParamsAs<TakeParams>(params);
    if (p.mode == TakeMode::kRaise) {
      return GpuFallbackForward(*def, params, ctx, in, reqs, out, {});
    }
    MXGRID_ASSIGN_OR_RETURN(Gather g, Geometry(op.c_str(), pick, p, in[0].shape, in[1]));
    if (g.n == 0) return absl::OkStatus();
    return DispatchIndex(op, in[1].dtype, [&](auto itag) {
      using I = decltype(itag);
      return DispatchIndex(op, out[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        GatherKernel<T, I><<<gpu::Blocks(total), gpu::kThreads, 0,
                             gpu::StreamOf(ctx.stream)>>>(in[0].as<T>(), in[1].as<I>(),
                                                          out[0].as<T>(), total, g, Req(reqs[0]));
        return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
      });
    });
  };
  d->gpu_backward = [op, pick](const OpContext& ctx, const OpParams& params,
                               const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(ZeroIfWritten(ctx, op.c_str(), a.in_grads[1], a.reqs[1]));
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_RETURN_IF_ERROR(ZeroIfWritten(ctx, op.c_str(), a.in_grads[0], a.reqs[0]));
    const int64_t total = a.out_grads[0].size();
    const auto& p = ParamsAs<TakeParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Gather g,
                            Geometry(op.c_str(), pick, p, a.in_grads[0].shape, a.inputs[1]));
    if (g.n == 0 || total == 0) return absl::OkStatus();
    return DispatchIndex(op, a.inputs[1].dtype, [&](auto itag) {
      using I = decltype(itag);
      return DispatchIndex(op, a.out_grads[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        ScatterKernel<T, I><<<gpu::Blocks(total), gpu::kThreads, 0,
                              gpu::StreamOf(ctx.stream)>>>(a.out_grads[0].as<T>(),
                                                           a.inputs[1].as<I>(),
                                                           a.in_grads[0].as<T>(), total, g);
        return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
      });
    });
  };
  d->gpu_dtypes = IndexDtypes();
  return absl::OkStatus();
}

// ---- where

template <typename C, typename T>
__global__ void WhereKernel(const C* cond, const T* x, const T* y, T* out, int64_t n,
                            int64_t per, int req) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { Put(req, out, i, cond[i / per] != C(0) ? x[i] : y[i]); }
}

template <typename C, typename T>
__global__ void WhereGradKernel(const C* cond, const T* dy, T* dx, T* dyy, int64_t n,
                                int64_t per, int req_x, int req_y) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const bool pick = cond[i / per] != C(0);
    const T g = dy[i];
    if (req_x) Put(req_x, dx, i, pick ? g : T(0));
    if (req_y) Put(req_y, dyy, i, pick ? T(0) : g);
  }
}

int64_t Per(const TensorView& cond, const Shape& x) {
  return cond.shape == x ? 1 : x.Size() / std::max<int64_t>(cond.size(), 1);
}

absl::Status SetWhere(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("where"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    const int64_t per = Per(in[0], in[1].shape);
    return DispatchIndex("where", in[0].dtype, [&](auto ctag) {
      using C = decltype(ctag);
      return DispatchRealCuda("where", in[1].dtype, [&](auto tag) {
        using T = decltype(tag);
        WhereKernel<C, T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
            in[0].as<C>(), in[1].as<T>(), in[2].as<T>(), out[0].as<T>(), n, per, Req(reqs[0]));
        return gpu::LaunchStatus(ctx.ctx.device_id, "where");
      });
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams&,
                       const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(ZeroIfWritten(ctx, "where", a.in_grads[0], a.reqs[0]));
    if (a.reqs[1] == OpReq::kNull && a.reqs[2] == OpReq::kNull) return absl::OkStatus();
    const int64_t n = a.out_grads[0].size();
    if (n == 0) return absl::OkStatus();
    const int64_t per = Per(a.inputs[0], a.in_grads[1].shape);
    return DispatchIndex("where", a.inputs[0].dtype, [&](auto ctag) {
      using C = decltype(ctag);
      return DispatchRealCuda("where", a.out_grads[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        WhereGradKernel<C, T><<<gpu::Blocks(n), gpu::kThreads, 0,
                                gpu::StreamOf(ctx.stream)>>>(
            a.inputs[0].as<C>(), a.out_grads[0].as<T>(),
            a.reqs[1] == OpReq::kNull ? nullptr : a.in_grads[1].as<T>(),
            a.reqs[2] == OpReq::kNull ? nullptr : a.in_grads[2].as<T>(), n, per,
            Req(a.reqs[1]), Req(a.reqs[2]));
        return gpu::LaunchStatus(ctx.ctx.device_id, "where");
      });
    });
  };
  d->gpu_dtypes = IndexDtypes();
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterIndexCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetOneHot(registry));
  MXGRID_RETURN_IF_ERROR(SetEmbedding(registry, "Embedding"));
  MXGRID_RETURN_IF_ERROR(SetEmbedding(registry, "_contrib_SparseEmbedding"));
  MXGRID_RETURN_IF_ERROR(SetGather(registry, "take", /*pick=*/false));
  MXGRID_RETURN_IF_ERROR(SetGather(registry, "pick", /*pick=*/true));
  return SetWhere(registry);
}

}  // namespace mxgrid::ops::tensor_cuda
