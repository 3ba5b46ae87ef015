// CUDA kernels of the shape ops (Flatten, Reshape, expand_dims, squeeze, reshape_like,
// _identity_with_attr_like_rhs: copies under a new shape), slice [crop], transpose (a strided
// permutation), Concat, SliceChannel and slice_axis (block copies, as concat_slice.cc), and the
// creation ops (_zeros, _ones, _full, _arange, _linspace, _eye). Forward and backward; float32,
// float64 and the integer dtypes (the creation ops float32/float64).
#include <cuda_runtime.h>

#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/concat_slice_params.h"
#include "libs/ops/tensor/init_params.h"
#include "libs/ops/tensor/matrix_params.h"
#include "libs/ops/tensor/slice_util.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

using tensor_internal::ConcatParams;
using tensor_internal::InitParams;
using tensor_internal::NormalizeAxis;
using tensor_internal::SliceAxisParams;
using tensor_internal::SplitParams;

absl::Status SetShapeCopy(Registry* registry, const char* name) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                        absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return CopyWithReq(ctx, op.c_str(), in[0], reqs[0], out[0]);
  };
  d->gpu_backward = [op](const OpContext& ctx, const OpParams&, const BackwardArgs& a) {
    return CopyWithReq(ctx, op.c_str(), a.out_grads[0], a.reqs[0], a.in_grads[0]);
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

template <typename T>
__global__ void GatherKernel(const T* x, T* y, int64_t n, int req, Index ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { Put(req, y, k, x[Offset(ix, k)]); }
}

// dst = src with its axes permuted: dst dim i is src dim axes[i].
absl::Status Permute(const OpContext& ctx, const TensorView& src, const std::vector<int>& axes,
                     OpReq req, const TensorView& dst) {
  const int64_t n = dst.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  const std::vector<int64_t> st = Strides(src.shape);
  std::vector<int64_t> pstride(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) pstride[i] = st[axes[i]];
  const Index ix = Collapse(Dims(dst.shape), {pstride})[0];
  return DispatchNumeric("transpose", dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    GatherKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        src.as<T>(), dst.as<T>(), n, Req(req), ix);
    return gpu::LaunchStatus(ctx.ctx.device_id, "transpose");
  });
}

absl::Status SetTranspose(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("transpose"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(auto axes, tensor_internal::TransposeAxes(
                                           ParamsAs<tensor_internal::TransposeParams>(p),
                                           in[0].shape.ndim()));
    return Permute(ctx, in[0], axes, reqs[0], out[0]);
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& p,
                       const BackwardArgs& a) -> absl::Status {
    const int nd = a.in_grads[0].shape.ndim();
    MXGRID_ASSIGN_OR_RETURN(auto axes, tensor_internal::TransposeAxes(
                                           ParamsAs<tensor_internal::TransposeParams>(p), nd));
    std::vector<int> inverse(nd);
    for (int i = 0; i < nd; ++i) inverse[axes[i]] = i;
    return Permute(ctx, a.out_grads[0], inverse, a.reqs[0], a.in_grads[0]);
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status SetConcat(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("Concat"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const Shape& os = out[0].shape;
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("Concat", ParamsAs<ConcatParams>(params).dim,
                                                  os.ndim()));
    const int64_t outer = os.ProdRange(0, ax), inner = os.ProdRange(ax + 1, os.ndim());
    int64_t off = 0;
    for (const TensorView& v : in) {
      MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "Concat", v, v.shape[ax], 0, out[0], os[ax], off,
                                       outer, v.shape[ax], inner, reqs[0]));
      off += v.shape[ax];
    }
    return absl::OkStatus();
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    const Shape& os = a.out_grads[0].shape;
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("Concat", ParamsAs<ConcatParams>(params).dim,
                                                  os.ndim()));
    const int64_t outer = os.ProdRange(0, ax), inner = os.ProdRange(ax + 1, os.ndim());
    int64_t off = 0;
    for (size_t i = 0; i < a.in_grads.size(); ++i) {
      const int64_t len = a.in_grads[i].shape[ax];
      MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "Concat", a.out_grads[0], os[ax], off,
                                       a.in_grads[i], len, 0, outer, len, inner, a.reqs[i]));
      off += len;
    }
    return absl::OkStatus();
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status SetSliceChannel(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("SliceChannel"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const Shape& s = in[0].shape;
    const auto& p = ParamsAs<SplitParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("SliceChannel", p.axis, s.ndim()));
    const int64_t outer = s.ProdRange(0, ax), inner = s.ProdRange(ax + 1, s.ndim());
    const int64_t len = s[ax] / p.num_outputs;
    for (size_t i = 0; i < out.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "SliceChannel", in[0], s[ax], i * len, out[i], len,
                                       0, outer, len, inner, reqs[i]));
    }
    return absl::OkStatus();
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    const Shape& s = a.in_grads[0].shape;
    const auto& p = ParamsAs<SplitParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("SliceChannel", p.axis, s.ndim()));
    const int64_t outer = s.ProdRange(0, ax), inner = s.ProdRange(ax + 1, s.ndim());
    const int64_t len = s[ax] / p.num_outputs;
    for (size_t i = 0; i < a.out_grads.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(CopyBlock(ctx, "SliceChannel", a.out_grads[i], len, 0,
                                       a.in_grads[0], s[ax], i * len, outer, len, inner,
                                       a.reqs[0]));
    }
    return absl::OkStatus();
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

absl::Status SetSliceAxis(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("slice_axis"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const Shape& s = in[0].shape;
    int ax;
    int64_t b, e;
    MXGRID_RETURN_IF_ERROR(
        tensor_internal::SliceRange(ParamsAs<SliceAxisParams>(params), s, &ax, &b, &e));
    return CopyBlock(ctx, "slice_axis", in[0], s[ax], b, out[0], e - b, 0, s.ProdRange(0, ax),
                     e - b, s.ProdRange(ax + 1, s.ndim()), reqs[0]);
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    const Shape& s = a.in_grads[0].shape;
    int ax;
    int64_t b, e;
    MXGRID_RETURN_IF_ERROR(
        tensor_internal::SliceRange(ParamsAs<SliceAxisParams>(params), s, &ax, &b, &e));
    return CopyBlock(ctx, "slice_axis", a.out_grads[0], e - b, 0, a.in_grads[0], s[ax], b,
                     s.ProdRange(0, ax), e - b, s.ProdRange(ax + 1, s.ndim()), a.reqs[0],
                     /*zero=*/true);
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

// reshape_like, _identity_with_attr_like_rhs: lhs copied; rhs gets a zero gradient.
absl::Status SetLikeCopy(Registry* registry, const char* name) {
  MXGRID_RETURN_IF_ERROR(SetShapeCopy(registry, name));
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_backward = [op](const OpContext& ctx, const OpParams&,
                         const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(
        CopyWithReq(ctx, op.c_str(), a.out_grads[0], a.reqs[0], a.in_grads[0]));
    if (a.reqs[1] == OpReq::kNull || a.reqs[1] == OpReq::kAddTo) return absl::OkStatus();
    return FillWithReq(ctx, op.c_str(), 0.0, a.reqs[1], a.in_grads[1]);
  };
  return absl::OkStatus();
}

template <typename T>
__global__ void SliceKernel(const T* x, T* y, int64_t n, int req, int64_t base, Index ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { Put(req, y, k, x[base + Offset(ix, k)]); }
}

// The sliced positions are distinct (no step is 0): no two k write one element.
template <typename T>
__global__ void SliceGradKernel(const T* dy, T* dx, int64_t n, int64_t base, Index ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { dx[base + Offset(ix, k)] += dy[k]; }
}

// The first element's offset and the index over the slice of data shaped `in`.
absl::StatusOr<std::pair<int64_t, Index>> SliceIndex(const OpParams& p, const Shape& in,
                                                     int64_t* n) {
  MXGRID_ASSIGN_OR_RETURN(
      tensor_internal::SliceRanges r,
      tensor_internal::ComputeSliceRanges("slice", ParamsAs<tensor_internal::SliceParams>(p),
                                          in));
  const std::vector<int64_t> st = Strides(in);
  std::vector<int64_t> stride(in.ndim());
  int64_t base = 0;
  for (int i = 0; i < in.ndim(); ++i) {
    stride[i] = st[i] * r.step[i];
    base += st[i] * r.begin[i];
  }
  *n = r.out.Size();
  return std::make_pair(base, Collapse(Dims(r.out), {stride})[0]);
}

absl::Status SetSlice(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("slice"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& p, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    int64_t n = 0;
    MXGRID_ASSIGN_OR_RETURN(auto geom, SliceIndex(p, in[0].shape, &n));
    if (n == 0) return absl::OkStatus();
    return DispatchNumeric("slice", in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      SliceKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          in[0].as<T>(), out[0].as<T>(), n, Req(reqs[0]), geom.first, geom.second);
      return gpu::LaunchStatus(ctx.ctx.device_id, "slice");
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& p,
                       const BackwardArgs& a) -> absl::Status {
    const OpReq req = a.reqs[0];
    if (req == OpReq::kNull) return absl::OkStatus();
    const TensorView& dx = a.in_grads[0];
    int64_t n = 0;
    MXGRID_ASSIGN_OR_RETURN(auto geom, SliceIndex(p, dx.shape, &n));
    if (req != OpReq::kAddTo) MXGRID_RETURN_IF_ERROR(FillWithReq(ctx, "slice", 0.0, req, dx));
    if (n == 0) return absl::OkStatus();
    return DispatchNumeric("slice", dx.dtype, [&](auto tag) {
      using T = decltype(tag);
      SliceGradKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          a.out_grads[0].as<T>(), dx.as<T>(), n, geom.first, geom.second);
      return gpu::LaunchStatus(ctx.ctx.device_id, "slice");
    });
  };
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

enum class Init { kFill, kArange, kLinspace, kEye };

// y[i] (req) the creation op's value at i, computed in double as init_ops.cc does.
template <typename T>
__global__ void InitKernel(T* y, int64_t n, int req, Init kind, double value, double start,
                           double step, int64_t repeat, int64_t cols, int64_t diag) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    double v;
    if (kind == Init::kEye) {
      v = i % cols - i / cols == diag ? 1.0 : 0.0;
    } else if (kind == Init::kArange) {
      v = start + static_cast<double>(i / repeat) * step;
    } else if (kind == Init::kLinspace) {
      v = start + static_cast<double>(i) * step;
    } else {
      v = value;
    }
    y[i] = static_cast<T>(req == kAddTo ? static_cast<double>(y[i]) + v : v);
  }
}

// `fill`: the value of _zeros/_ones; _full reads its `value`.
absl::Status SetInit(Registry* registry, const char* name, Init kind, bool has_value,
                     double fill) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, kind, has_value, fill](
                       const OpContext& ctx, const OpParams& params,
                       absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                       absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    const auto& p = ParamsAs<InitParams>(params);
    const double start = p.stop ? p.start : 0;
    return DispatchRealCuda(op, out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      InitKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          out[0].as<T>(), n, Req(reqs[0]), kind, has_value ? p.value : fill, start, p.step,
          std::max<int64_t>(1, p.repeat), std::max<int64_t>(1, p.cols), p.diag);
      return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterMatrixCuda(Registry* registry) {
  for (const char* name : {"Flatten", "Reshape", "expand_dims", "squeeze"}) {
    MXGRID_RETURN_IF_ERROR(SetShapeCopy(registry, name));
  }
  MXGRID_RETURN_IF_ERROR(SetTranspose(registry));
  MXGRID_RETURN_IF_ERROR(SetConcat(registry));
  MXGRID_RETURN_IF_ERROR(SetSliceChannel(registry));
  MXGRID_RETURN_IF_ERROR(SetSliceAxis(registry));
  MXGRID_RETURN_IF_ERROR(SetSlice(registry));
  MXGRID_RETURN_IF_ERROR(SetLikeCopy(registry, "reshape_like"));
  MXGRID_RETURN_IF_ERROR(SetLikeCopy(registry, "_identity_with_attr_like_rhs"));
  MXGRID_RETURN_IF_ERROR(SetInit(registry, "_zeros", Init::kFill, false, 0.0));
  MXGRID_RETURN_IF_ERROR(SetInit(registry, "_ones", Init::kFill, false, 1.0));
  MXGRID_RETURN_IF_ERROR(SetInit(registry, "_full", Init::kFill, true, 0.0));
  MXGRID_RETURN_IF_ERROR(SetInit(registry, "_arange", Init::kArange, false, 0.0));
  MXGRID_RETURN_IF_ERROR(SetInit(registry, "_linspace", Init::kLinspace, false, 0.0));
  return SetInit(registry, "_eye", Init::kEye, false, 0.0);
}

}  // namespace mxgrid::ops::tensor_cuda
