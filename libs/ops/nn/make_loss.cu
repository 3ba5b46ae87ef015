// MakeLoss and smooth_l1 on the GPU, as make_loss.cc: MakeLoss's forward is a copy and its
// backward writes grad_scale / norm ('batch': rows of data flattened to 2-D; 'valid':
// max(1, #elements > valid_thresh), counted on the device); smooth_l1 elementwise in
// double, rounded once.
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

template <typename T>
__global__ void CopyKernel(const T* x, int64_t n, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { cu::Put(add, y, i, x[i]); }
}

// *count += #(x > thresh). REQUIRES: *count starts at 0.
template <typename T>
__global__ void CountAboveKernel(const T* x, int64_t n, double thresh,
                                 unsigned long long* count) {
  unsigned long long mine = 0;
  MXGRID_CUDA_KERNEL_LOOP(i, n) { mine += thresh < static_cast<double>(x[i]) ? 1 : 0; }
  mine = cu::WarpAllReduce(mine, cu::SumOp());
  if ((threadIdx.x & 31) == 0 && mine != 0) atomicAdd(count, mine);
}

// dx = grad_scale (divided by max(1, *count) when count is given).
template <typename T>
__global__ void LossGradKernel(double g, const unsigned long long* count, int64_t n, bool add,
                               T* dx) {
  if (count != nullptr) g /= fmax(1.0, static_cast<double>(*count));
  MXGRID_CUDA_KERNEL_LOOP(i, n) { cu::Put(add, dx, i, static_cast<T>(g)); }
}

template <typename T>
__global__ void SmoothL1Forward(double bsq, const T* x, int64_t n, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const double a = x[i];
    const double v = a > 1 / bsq ? a - 0.5 / bsq : a < -1 / bsq ? -a - 0.5 / bsq
                                                                : 0.5 * a * a * bsq;
    cu::Put(add, y, i, static_cast<T>(v));
  }
}

template <typename T>
__global__ void SmoothL1Backward(double bsq, const T* x, const T* dy, int64_t n, bool add,
                                 T* dx) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const double v = x[i];
    const double g = v > 1 / bsq ? 1.0 : v < -1 / bsq ? -1.0 : bsq * v;
    cu::Put(add, dx, i, static_cast<T>(g * dy[i]));
  }
}

absl::Status MakeLossForward(const OpContext& ctx, const OpParams&,
                             absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                             absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  if (reqs[0] != OpReq::kAddTo && in[0].data == out[0].data) return absl::OkStatus();
  return DispatchFloat("MakeLoss", in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = in[0].size();
    CopyKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        in[0].as<T>(), n, reqs[0] == OpReq::kAddTo, out[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, "MakeLoss");
  });
}

absl::Status MakeLossBackward(const OpContext& ctx, const OpParams& params,
                              const BackwardArgs& a) {
  const auto& p = ParamsAs<MakeLossParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& dx = a.in_grads[0];
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int device = ctx.ctx.device_id;
  return DispatchFloat("MakeLoss", dx.dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    double g = p.grad_scale;
    unsigned long long* count = nullptr;
    if (p.normalization == "batch") {
      const int64_t last = dx.shape.ndim() > 0 ? dx.shape[dx.shape.ndim() - 1] : 1;
      if (last > 0 && dx.size() > 0) g /= static_cast<double>(dx.size() / last);
    } else if (p.normalization == "valid") {
      MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, sizeof(*count)));
      count = static_cast<unsigned long long*>(ws);
      MXGRID_RETURN_IF_ERROR(cu::ZeroAsync(device, stream, count, sizeof(*count), "MakeLoss"));
      CountAboveKernel<T><<<gpu::Blocks(dx.size()), gpu::kThreads, 0, stream>>>(
          a.inputs[0].as<T>(), dx.size(), p.valid_thresh, count);
    }
    LossGradKernel<T><<<gpu::Blocks(dx.size()), gpu::kThreads, 0, stream>>>(
        g, count, dx.size(), a.reqs[0] == OpReq::kAddTo, dx.as<T>());
    return gpu::LaunchStatus(device, "MakeLoss");
  });
}

double SigmaSquared(const OpParams& params) {
  const double s = ParamsAs<SmoothL1Params>(params).sigma;
  return s * s;
}

absl::Status SmoothL1ForwardOp(const OpContext& ctx, const OpParams& params,
                               absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  return DispatchFloat("smooth_l1", in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = in[0].size();
    SmoothL1Forward<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        SigmaSquared(params), in[0].as<T>(), n, reqs[0] == OpReq::kAddTo, out[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, "smooth_l1");
  });
}

absl::Status SmoothL1BackwardOp(const OpContext& ctx, const OpParams& params,
                                const BackwardArgs& a) {
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  return DispatchFloat("smooth_l1", a.in_grads[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = a.in_grads[0].size();
    SmoothL1Backward<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        SigmaSquared(params), a.inputs[0].as<T>(), a.out_grads[0].as<T>(), n,
        a.reqs[0] == OpReq::kAddTo, a.in_grads[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, "smooth_l1");
  });
}

}  // namespace

absl::Status RegisterMakeLossCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * loss, registry->FindMutable("MakeLoss"));
  loss->gpu_forward = MakeLossForward;
  loss->gpu_backward = MakeLossBackward;
  loss->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  MXGRID_ASSIGN_OR_RETURN(OpDef * l1, registry->FindMutable("smooth_l1"));
  l1->gpu_forward = SmoothL1ForwardOp;
  l1->gpu_backward = SmoothL1BackwardOp;
  l1->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
