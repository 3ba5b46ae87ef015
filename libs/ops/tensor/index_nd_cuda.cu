// CUDA kernels of the index-driven copies: gather_nd and scatter_nd (forward and backward),
// _scatter_set_nd, batch_take (forward and backward), _slice_assign, _slice_assign_scalar,
// fill_element_0index, shape_array and size_array (forward; they have no gradient).
// Data in every numeric dtype (gather_nd: float32, float64, int32, int64, whose backward
// scatters with atomic adds, so sums over repeated indices may round in any order); indices
// in any numeric dtype, read as the CPU reads them (gather_op.cc's IndexAt, or truncation).
//
// Index checks: gather_nd, scatter_nd, _scatter_set_nd and fill_element_0index must fail
// as their CPU kernels do for an index out of range. Their index columns are resolved to
// offsets on the device, counting the bad ones; that count is read back (a synchronization
// of the call's stream, 8 bytes) and, when non-zero, the call runs on the CPU kernels
// (gpu_fallback.h), which return the CPU's error. scatter_nd and _scatter_set_nd keep the
// last of duplicate index columns, as the CPU kernels do: the largest column index wins.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/gpu_fallback.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/int_math.h"
#include "libs/ops/tensor/slice_util.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

using tensor_internal::ComputeSliceRanges;
using tensor_internal::SliceAssignScalarParams;
using tensor_internal::SliceParams;
using tensor_internal::SliceRanges;

absl::Status CopyBytes(const OpContext& ctx, const char* op, const TensorView& src,
                       const TensorView& dst) {
  if (src.data == dst.data || dst.size() == 0) return absl::OkStatus();
  const cudaError_t e = cudaMemcpyAsync(dst.data, src.data, dst.size() * DTypeSize(dst.dtype),
                                        cudaMemcpyDeviceToDevice, gpu::StreamOf(ctx.stream));
  if (e != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat(op, ": cudaMemcpyAsync failed: ", cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

absl::Status FillBytes(const OpContext& ctx, const char* op, void* p, int value, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  const cudaError_t e = cudaMemsetAsync(p, value, bytes, gpu::StreamOf(ctx.stream));
  if (e != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat(op, ": cudaMemsetAsync failed: ", cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

// ---- Index columns to offsets (gather_nd_diag.cc's NdOffsets). ----

inline constexpr int kMaxIndexAxes = 10;

// The data axes an (M, Y...) index addresses: their lengths and strides.
struct NdAxes {
  int m = 0;
  int64_t dims[kMaxIndexAxes];
  int64_t strides[kMaxIndexAxes];
};

// off[i] = sum_j wrap(idx[j, i]) * strides[j]; a column with an index outside
// [-dims[j], dims[j]) counts in *bad (its offset is 0).
template <typename I>
__global__ void NdOffsetsKernel(const I* idx, int64_t n, NdAxes ax, int64_t* off,
                                unsigned long long* bad) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    int64_t o = 0;
    for (int j = 0; j < ax.m; ++j) {
      int64_t v = IndexAt(idx, j * n + i);
      if (v < -ax.dims[j] || v >= ax.dims[j]) {
        atomicAdd(bad, 1ULL);
        o = 0;
        break;
      }
      if (v < 0) v += ax.dims[j];
      o += v * ax.strides[j];
    }
    off[i] = o;
  }
}

// fill_element_0index's columns: off[i] = i * m + trunc(rhs[i]); outside [0, m) is bad.
template <typename I>
__global__ void ColumnOffsetsKernel(const I* idx, int64_t n, int64_t m, int64_t* off,
                                    unsigned long long* bad) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const double t = trunc(static_cast<double>(idx[i]));
    if (t >= 0 && t < static_cast<double>(m)) {
      off[i] = i * m + static_cast<int64_t>(t);
    } else {
      atomicAdd(bad, 1ULL);
      off[i] = i * m;
    }
  }
}

// The workspace of one call: the bad-index count, then `n` offsets, then `groups` winners.
struct Resolved {
  unsigned long long* bad = nullptr;
  int64_t* off = nullptr;
  int64_t* winner = nullptr;
  bool ok = true;  // false: an index is out of range (the CPU kernel reports it)
};

// Resolves the n index columns with `launch(I{}, ws)` (which launches one of the offset
// kernels above), reads the bad count back, and sets `groups` winners to -1.
template <typename Launch>
absl::StatusOr<Resolved> Resolve(const OpContext& ctx, const char* op, const TensorView& idx,
                                 int64_t n, int64_t groups, Launch&& launch) {
  const int device = ctx.ctx.device_id;
  const size_t bytes = sizeof(unsigned long long) + sizeof(int64_t) * (n + groups);
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, bytes));
  Resolved r;
  r.bad = static_cast<unsigned long long*>(ws);
  r.off = reinterpret_cast<int64_t*>(r.bad + 1);
  r.winner = r.off + n;
  MXGRID_RETURN_IF_ERROR(FillBytes(ctx, op, r.bad, 0, sizeof(*r.bad)));
  MXGRID_RETURN_IF_ERROR(FillBytes(ctx, op, r.winner, 0xff, sizeof(int64_t) * groups));
  if (n == 0) return r;
  MXGRID_RETURN_IF_ERROR(DispatchNumeric(op, idx.dtype, [&](auto itag) {
    using I = decltype(itag);
    launch(I{}, r);
    return gpu::LaunchStatus(device, op);
  }));
  unsigned long long bad = 0;
  MXGRID_RETURN_IF_ERROR(gpu::CopyDeviceToHost(device, ctx.stream, &bad, r.bad, sizeof(bad)));
  r.ok = bad == 0;
  return r;
}

// The (M, Y...) index's geometry against `data` (the data of gather_nd, the output of the
// scatters): n columns, each addressing a block of `block` trailing elements.
struct NdGeom {
  NdAxes axes;
  int64_t n = 0, block = 1, groups = 1;
};

absl::StatusOr<NdGeom> MakeNdGeom(const char* op, const Shape& idx, const Shape& data) {
  if (idx.ndim() < 2 || idx[0] < 1 || idx[0] > std::min<int64_t>(data.ndim(), kMaxIndexAxes)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": indices ", idx.ToString(),
                                                   " do not fit data ", data.ToString()));
  }
  NdGeom g;
  g.axes.m = static_cast<int>(idx[0]);
  const std::vector<int64_t> st = Strides(data);
  for (int j = 0; j < g.axes.m; ++j) {
    g.axes.dims[j] = data[j];
    g.axes.strides[j] = st[j];
  }
  g.n = idx.Size() / std::max<int64_t>(idx[0], 1);
  g.block = data.ProdRange(g.axes.m, data.ndim());
  g.groups = data.ProdRange(0, g.axes.m);
  return g;
}

absl::StatusOr<Resolved> ResolveNd(const OpContext& ctx, const char* op, const TensorView& idx,
                                   const NdGeom& g, bool winners) {
  return Resolve(ctx, op, idx, g.n, winners ? g.groups : 0, [&](auto itag, const Resolved& r) {
    using I = decltype(itag);
    NdOffsetsKernel<I><<<gpu::Blocks(g.n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        idx.as<I>(), g.n, g.axes, r.off, r.bad);
  });
}

// winner[off[i] / block] = the largest i naming that block.
__global__ void WinnerKernel(const int64_t* off, int64_t n, int64_t block, int64_t* winner) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    atomicMax(reinterpret_cast<long long*>(winner + off[i] / block), static_cast<long long>(i));
  }
}

absl::Status RunWinners(const OpContext& ctx, const char* op, const NdGeom& g,
                        const Resolved& r) {
  if (g.n == 0 || g.block == 0) return absl::OkStatus();
  WinnerKernel<<<gpu::Blocks(g.n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      r.off, g.n, g.block, r.winner);
  return gpu::LaunchStatus(ctx.ctx.device_id, op);
}

// ---- gather_nd ----

template <typename T>
__global__ void GatherNdKernel(const T* x, const int64_t* off, T* y, int64_t total,
                               int64_t block, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) {
    const int64_t i = k / block;
    Put(req, y, k, x[off[i] + (k - i * block)]);
  }
}

template <typename T>
__global__ void GatherNdGradKernel(const T* dy, const int64_t* off, T* dx, int64_t total,
                                   int64_t block) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) {
    const int64_t i = k / block;
    AtomicAdd(dx + off[i] + (k - i * block), dy[k]);
  }
}

absl::Status SetGatherNd(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("gather_nd"));
  const OpDef* def = d;
  d->gpu_forward = [def](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) -> absl::Status {
    const int64_t total = out[0].size();
    if (reqs[0] == OpReq::kNull || total == 0) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const NdGeom g, MakeNdGeom("gather_nd", in[1].shape, in[0].shape));
    MXGRID_ASSIGN_OR_RETURN(Resolved r, ResolveNd(ctx, "gather_nd", in[1], g, false));
    if (!r.ok) return GpuFallbackForward(*def, params, ctx, in, reqs, out, {});
    return DispatchIndex("gather_nd", out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      GatherNdKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          in[0].as<T>(), r.off, out[0].as<T>(), total, g.block, Req(reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, "gather_nd");
    });
  };
  d->gpu_backward = [def](const OpContext& ctx, const OpParams& params,
                          const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "gather_nd", a.in_grads[1], a.reqs[1]));
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const TensorView &dy = a.out_grads[0], &dx = a.in_grads[0];
    MXGRID_ASSIGN_OR_RETURN(const NdGeom g,
                            MakeNdGeom("gather_nd", a.inputs[1].shape, dx.shape));
    MXGRID_ASSIGN_OR_RETURN(Resolved r, ResolveNd(ctx, "gather_nd", a.inputs[1], g, false));
    if (!r.ok) return GpuFallbackBackward(*def, params, ctx, a);
    MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "gather_nd", dx, a.reqs[0]));
    const int64_t total = dy.size();
    if (total == 0) return absl::OkStatus();
    return DispatchIndex("gather_nd", dx.dtype, [&](auto tag) {
      using T = decltype(tag);
      GatherNdGradKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0,
                              gpu::StreamOf(ctx.stream)>>>(dy.as<T>(), r.off, dx.as<T>(),
                                                           total, g.block);
      return gpu::LaunchStatus(ctx.ctx.device_id, "gather_nd");
    });
  };
  d->gpu_dtypes = IndexDtypes();
  return absl::OkStatus();
}

// ---- scatter_nd, _scatter_set_nd ----

// y[p] (req) the winning column's data element of block p / block, or 0 where none names it.
template <typename T>
__global__ void ScatterNdKernel(const T* x, const int64_t* winner, T* y, int64_t total,
                                int64_t block, int req) {
  MXGRID_CUDA_KERNEL_LOOP(p, total) {
    const int64_t g = p / block, w = winner[g];
    Put(req, y, p, w >= 0 ? x[w * block + (p - g * block)] : T(0));
  }
}

// dx[k] (req) the head gradient at the element column k / block wrote, if it won, else 0.
template <typename T>
__global__ void ScatterNdGradKernel(const T* dy, const int64_t* off, const int64_t* winner,
                                    T* dx, int64_t total, int64_t block, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) {
    const int64_t i = k / block, r = k - i * block;
    Put(req, dx, k, winner[off[i] / block] == i ? dy[off[i] + r] : T(0));
  }
}

// y[off[i] + r] = v[i * block + r] for the winning columns i.
template <typename T>
__global__ void ScatterSetKernel(const T* v, const int64_t* off, const int64_t* winner, T* y,
                                 int64_t total, int64_t block) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) {
    const int64_t i = k / block;
    if (winner[off[i] / block] == i) y[off[i] + (k - i * block)] = v[k];
  }
}

absl::Status SetScatterNd(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("scatter_nd"));
  const OpDef* def = d;
  d->gpu_forward = [def](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) -> absl::Status {
    const int64_t total = out[0].size();
    if (reqs[0] == OpReq::kNull || total == 0) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const NdGeom g,
                            MakeNdGeom("scatter_nd", in[1].shape, out[0].shape));
    MXGRID_ASSIGN_OR_RETURN(Resolved r, ResolveNd(ctx, "scatter_nd", in[1], g, true));
    if (!r.ok) return GpuFallbackForward(*def, params, ctx, in, reqs, out, {});
    MXGRID_RETURN_IF_ERROR(RunWinners(ctx, "scatter_nd", g, r));
    return DispatchNumeric("scatter_nd", out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      ScatterNdKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          in[0].as<T>(), r.winner, out[0].as<T>(), total, g.block, Req(reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, "scatter_nd");
    });
  };
  d->gpu_backward = [def](const OpContext& ctx, const OpParams& params,
                          const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "scatter_nd", a.in_grads[1], a.reqs[1]));
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const TensorView &dy = a.out_grads[0], &dx = a.in_grads[0];
    const int64_t total = dx.size();
    if (total == 0) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const NdGeom g,
                            MakeNdGeom("scatter_nd", a.inputs[1].shape, dy.shape));
    MXGRID_ASSIGN_OR_RETURN(Resolved r, ResolveNd(ctx, "scatter_nd", a.inputs[1], g, true));
    if (!r.ok) return GpuFallbackBackward(*def, params, ctx, a);
    MXGRID_RETURN_IF_ERROR(RunWinners(ctx, "scatter_nd", g, r));
    return DispatchNumeric("scatter_nd", dx.dtype, [&](auto tag) {
      using T = decltype(tag);
      ScatterNdGradKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0,
                               gpu::StreamOf(ctx.stream)>>>(dy.as<T>(), r.off, r.winner,
                                                            dx.as<T>(), total, g.block,
                                                            Req(a.reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, "scatter_nd");
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status SetScatterSetNd(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("_scatter_set_nd"));
  const OpDef* def = d;
  d->gpu_forward = [def](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) -> absl::Status {
    constexpr char kOp[] = "_scatter_set_nd";
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    if (reqs[0] == OpReq::kAddTo) {
      return absl::InvalidArgumentError(
          "_scatter_set_nd: the output cannot be accumulated into; write it instead");
    }
    MXGRID_ASSIGN_OR_RETURN(const NdGeom g, MakeNdGeom(kOp, in[2].shape, out[0].shape));
    MXGRID_ASSIGN_OR_RETURN(Resolved r, ResolveNd(ctx, kOp, in[2], g, true));
    if (!r.ok) return GpuFallbackForward(*def, params, ctx, in, reqs, out, {});
    MXGRID_RETURN_IF_ERROR(CopyBytes(ctx, kOp, in[0], out[0]));
    const int64_t total = g.n * g.block;
    if (total == 0) return absl::OkStatus();
    MXGRID_RETURN_IF_ERROR(RunWinners(ctx, kOp, g, r));
    return DispatchNumeric(kOp, out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      ScatterSetKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          in[1].as<T>(), r.off, r.winner, out[0].as<T>(), total, g.block);
      return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

// ---- batch_take: y[i] = a[i, clip(idx[i])]; rows are distinct, so backward needs no
// atomics. ----

template <typename T, typename I>
__global__ void BatchTakeKernel(const T* a, const I* idx, T* y, int64_t n, int64_t m,
                                int req) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t j = IndexAt(idx, i);
    Put(req, y, i, a[i * m + (j < 0 ? 0 : (j >= m ? m - 1 : j))]);
  }
}

template <typename T, typename I>
__global__ void BatchTakeGradKernel(const T* dy, const I* idx, T* da, int64_t n, int64_t m) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t j = IndexAt(idx, i);
    da[i * m + (j < 0 ? 0 : (j >= m ? m - 1 : j))] += dy[i];
  }
}

// Calls fn(T{}, I{}) for the data dtype and the index dtype.
template <typename Fn>
absl::Status DispatchDataIndex(const char* op, DType data, DType index, Fn&& fn) {
  return DispatchNumeric(op, data, [&](auto tag) {
    return DispatchNumeric(op, index, [&](auto itag) { return fn(tag, itag); });
  });
}

absl::Status SetBatchTake(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("batch_take"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    const Shape& s = in[0].shape;
    const int64_t m = s[s.ndim() - 1];
    if (m == 0) return absl::InvalidArgumentError("batch_take: rows of a are empty");
    return DispatchDataIndex("batch_take", out[0].dtype, in[1].dtype, [&](auto tag, auto itag) {
      using T = decltype(tag);
      using I = decltype(itag);
      BatchTakeKernel<T, I><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          in[0].as<T>(), in[1].as<I>(), out[0].as<T>(), n, m, Req(reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, "batch_take");
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams&,
                       const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "batch_take", a.in_grads[1], a.reqs[1]));
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const TensorView &dy = a.out_grads[0], &da = a.in_grads[0];
    const int64_t n = dy.size();
    const int64_t m = da.shape[da.shape.ndim() - 1];
    if (m == 0 && n > 0) return absl::InvalidArgumentError("batch_take: rows of a are empty");
    MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, "batch_take", da, a.reqs[0]));
    if (n == 0) return absl::OkStatus();
    return DispatchDataIndex("batch_take", da.dtype, a.inputs[1].dtype, [&](auto tag, auto itag) {
      using T = decltype(tag);
      using I = decltype(itag);
      BatchTakeGradKernel<T, I><<<gpu::Blocks(n), gpu::kThreads, 0,
                                  gpu::StreamOf(ctx.stream)>>>(dy.as<T>(), a.inputs[1].as<I>(),
                                                               da.as<T>(), n, m);
      return gpu::LaunchStatus(ctx.ctx.device_id, "batch_take");
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

// ---- _slice_assign, _slice_assign_scalar: lhs copied, then the region written. ----

absl::Status CheckAssignReq(const char* op, OpReq req) {
  if (req != OpReq::kAddTo) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      op, ": the output cannot be accumulated into (grad_req 'add'); write it instead"));
}

template <typename T>
__global__ void ViewFillKernel(T* y, int64_t n, int64_t base, Index ix, T v) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { y[base + Offset(ix, k)] = v; }
}

absl::Status SetSliceAssign(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("_slice_assign"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    constexpr char kOp[] = "_slice_assign";
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(SliceRanges r,
                            ComputeSliceRanges(kOp, ParamsAs<SliceParams>(p), in[0].shape));
    MXGRID_RETURN_IF_ERROR(CheckAssignReq(kOp, reqs[0]));
    MXGRID_RETURN_IF_ERROR(CopyBytes(ctx, kOp, in[0], out[0]));
    return RunView(ctx, kOp, RangesView(r.begin, r.step, r.out, out[0].shape), in[1],
                   OpReq::kWriteTo, out[0], /*scatter=*/true);
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status SetSliceAssignScalar(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("_slice_assign_scalar"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    constexpr char kOp[] = "_slice_assign_scalar";
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<SliceAssignScalarParams>(params);
    MXGRID_ASSIGN_OR_RETURN(SliceRanges r, ComputeSliceRanges(kOp, p, in[0].shape));
    MXGRID_RETURN_IF_ERROR(CheckAssignReq(kOp, reqs[0]));
    MXGRID_RETURN_IF_ERROR(CopyBytes(ctx, kOp, in[0], out[0]));
    const int64_t n = r.out.Size();
    if (n == 0) return absl::OkStatus();
    const View v = RangesView(r.begin, r.step, r.out, out[0].shape);
    const Index ix = Collapse(v.dims, {v.strides})[0];
    return DispatchNumeric(kOp, out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      ViewFillKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          out[0].as<T>(), n, v.base, ix, tensor_internal::MXCast<T>(p.scalar));
      return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

// ---- fill_element_0index: y[i, j] (req) j == col[i] ? mhs[i] : lhs[i, j]. ----

template <typename T>
__global__ void FillElementKernel(const T* x, const T* v, const int64_t* off, T* y,
                                  int64_t total, int64_t m, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) {
    const int64_t i = k / m;
    Put(req, y, k, k == off[i] ? v[i] : x[k]);
  }
}

absl::Status SetFillElement(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("fill_element_0index"));
  const OpDef* def = d;
  d->gpu_forward = [def](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) -> absl::Status {
    constexpr char kOp[] = "fill_element_0index";
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const int64_t n = in[0].shape[0], m = in[0].shape[1];
    MXGRID_ASSIGN_OR_RETURN(
        Resolved r, Resolve(ctx, kOp, in[2], n, 0, [&](auto itag, const Resolved& res) {
          using I = decltype(itag);
          ColumnOffsetsKernel<I><<<gpu::Blocks(n), gpu::kThreads, 0,
                                   gpu::StreamOf(ctx.stream)>>>(in[2].as<I>(), n, m, res.off,
                                                                res.bad);
        }));
    if (!r.ok) return GpuFallbackForward(*def, params, ctx, in, reqs, out, {});
    if (in[1].dtype != in[0].dtype) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": mhs must have lhs's dtype"));
    }
    const int64_t total = n * m;
    if (total == 0) return absl::OkStatus();
    return DispatchNumeric(kOp, out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      FillElementKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0,
                             gpu::StreamOf(ctx.stream)>>>(in[0].as<T>(), in[1].as<T>(), r.off,
                                                          out[0].as<T>(), total, m,
                                                          Req(reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

// ---- shape_array, size_array: the host's dims written into the output. ----

struct Dims64 {
  int n = 0;
  int64_t v[kMaxDims];
};

template <typename T>
__global__ void WriteDimsKernel(T* y, Dims64 d, int req) {
  MXGRID_CUDA_KERNEL_LOOP(i, d.n) { Put(req, y, i, static_cast<T>(d.v[i])); }
}

absl::Status SetShapeInfo(Registry* registry, const char* name, bool size) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, size](const OpContext& ctx, const OpParams&,
                              absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                              absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const Shape& s = in[0].shape;
    Dims64 dims;
    if (size) {
      dims.n = 1;
      dims.v[0] = s.Size();
    } else {
      dims.n = s.ndim();
      for (int i = 0; i < s.ndim(); ++i) dims.v[i] = s[i];
    }
    if (out[0].size() != dims.n) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": output has ", out[0].size(),
                                                     " elements, expected ", dims.n));
    }
    if (dims.n == 0) return absl::OkStatus();
    return DispatchNumeric(op, out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      WriteDimsKernel<T><<<1, gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          out[0].as<T>(), dims, Req(reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterIndexNdCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetGatherNd(registry));
  MXGRID_RETURN_IF_ERROR(SetScatterNd(registry));
  MXGRID_RETURN_IF_ERROR(SetScatterSetNd(registry));
  MXGRID_RETURN_IF_ERROR(SetBatchTake(registry));
  MXGRID_RETURN_IF_ERROR(SetSliceAssign(registry));
  MXGRID_RETURN_IF_ERROR(SetSliceAssignScalar(registry));
  MXGRID_RETURN_IF_ERROR(SetFillElement(registry));
  MXGRID_RETURN_IF_ERROR(SetShapeInfo(registry, "shape_array", false));
  return SetShapeInfo(registry, "size_array", true);
}

}  // namespace mxgrid::ops::tensor_cuda
