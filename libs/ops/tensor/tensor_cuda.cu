// Registers the tensor family's CUDA kernels (see ../cuda_kernels.h and tensor_cuda.h), and
// the shared copy, fill and strided-view helpers of tensor_cuda_util.cuh.
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/cuda_kernels.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops {
namespace tensor_cuda {
namespace {

template <typename T>
__global__ void AddKernel(const T* x, T* y, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { y[i] = static_cast<T>(y[i] + x[i]); }
}

template <typename T>
__global__ void BlockKernel(const T* x, T* y, int64_t s_len, int64_t s_off, int64_t d_len,
                            int64_t d_off, int64_t row, int64_t inner, int64_t total, int req) {
  MXGRID_CUDA_KERNEL_LOOP(k, total) {
    const int64_t o = k / row, j = k - o * row;
    Put(req, y, (o * d_len + d_off) * inner + j, x[(o * s_len + s_off) * inner + j]);
  }
}

template <typename T>
__global__ void FillKernel(T* y, int64_t n, T v, int req) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { Put(req, y, i, v); }
}

template <typename T>
__global__ void ViewGatherKernel(const T* x, T* y, int64_t n, int req, int64_t base, Index ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { Put(req, y, k, x[base + Offset(ix, k)]); }
}

// REQUIRES: the view's positions are distinct (no two k write one element).
template <typename T>
__global__ void ViewScatterKernel(const T* y, T* x, int64_t n, int req, int64_t base,
                                  Index ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { Put(req, x, base + Offset(ix, k), y[k]); }
}

}  // namespace

absl::Status CopyWithReq(const OpContext& ctx, const char* op, const TensorView& x, OpReq req,
                         const TensorView& y) {
  const int64_t n = y.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  if (req != OpReq::kAddTo) {
    if (x.data == y.data) return absl::OkStatus();
    const cudaError_t e = cudaMemcpyAsync(y.data, x.data, n * DTypeSize(y.dtype),
                                          cudaMemcpyDeviceToDevice, stream);
    if (e != cudaSuccess) {
      return absl::InternalError(absl::StrCat(op, ": cudaMemcpyAsync failed: ",
                                              cudaGetErrorString(e)));
    }
    return absl::OkStatus();
  }
  return DispatchNumeric(op, y.dtype, [&](auto tag) {
    using T = decltype(tag);
    AddKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(x.as<T>(), y.as<T>(), n);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status CopyBlock(const OpContext& ctx, const char* op, const TensorView& src,
                       int64_t s_len, int64_t s_off, const TensorView& dst, int64_t d_len,
                       int64_t d_off, int64_t outer, int64_t n, int64_t inner, OpReq req,
                       bool zero) {
  if (req == OpReq::kNull) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  if (zero && req != OpReq::kAddTo && dst.size() > 0) {
    const cudaError_t e =
        cudaMemsetAsync(dst.data, 0, dst.size() * DTypeSize(dst.dtype), stream);
    if (e != cudaSuccess) {
      return absl::InternalError(absl::StrCat(op, ": cudaMemsetAsync failed: ",
                                              cudaGetErrorString(e)));
    }
  }
  const int64_t row = n * inner, total = outer * row;
  if (total == 0) return absl::OkStatus();
  return DispatchNumeric(op, dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    BlockKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0, stream>>>(
        src.as<T>(), dst.as<T>(), s_len, s_off, d_len, d_off, row, inner, total, Req(req));
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status FillWithReq(const OpContext& ctx, const char* op, double value, OpReq req,
                         const TensorView& y) {
  const int64_t n = y.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  return DispatchNumeric(op, y.dtype, [&](auto tag) {
    using T = decltype(tag);
    FillKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        y.as<T>(), n, static_cast<T>(value), Req(req));
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status ZeroWithReq(const OpContext& ctx, const char* op, const TensorView& t, OpReq req) {
  if (req == OpReq::kNull || req == OpReq::kAddTo || t.size() == 0) return absl::OkStatus();
  const cudaError_t e =
      cudaMemsetAsync(t.data, 0, t.size() * DTypeSize(t.dtype), gpu::StreamOf(ctx.stream));
  if (e != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat(op, ": cudaMemsetAsync failed: ", cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

View RangesView(const std::vector<int64_t>& begin, const std::vector<int64_t>& step,
                const Shape& out, const Shape& s) {
  const std::vector<int64_t> st = Strides(s);
  View v;
  v.dims = Dims(out);
  for (int i = 0; i < s.ndim(); ++i) {
    v.strides.push_back(st[i] * step[i]);
    v.base += st[i] * begin[i];
  }
  return v;
}

absl::Status RunView(const OpContext& ctx, const char* op, const View& v, const TensorView& src,
                     OpReq req, const TensorView& dst, bool scatter) {
  int64_t n = 1;
  for (int64_t d : v.dims) n *= d;
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  const Index ix = Collapse(v.dims, {v.strides})[0];
  return DispatchNumeric(op, dst.dtype, [&](auto tag) {
    using T = decltype(tag);
    cudaStream_t stream = gpu::StreamOf(ctx.stream);
    if (scatter) {
      ViewScatterKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
          src.as<T>(), dst.as<T>(), n, Req(req), v.base, ix);
    } else {
      ViewGatherKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
          src.as<T>(), dst.as<T>(), n, Req(req), v.base, ix);
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

}  // namespace tensor_cuda

absl::Status RegisterTensorCudaKernels(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterElemwiseCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterScalarCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterUnaryCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterCastCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterBroadcastCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterReduceCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterDotCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterMatrixCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterShapeCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterIndexNdCuda(registry));
  MXGRID_RETURN_IF_ERROR(tensor_cuda::RegisterSortCuda(registry));
  return tensor_cuda::RegisterIndexCuda(registry);
}

}  // namespace mxgrid::ops
