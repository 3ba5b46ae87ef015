// Convolution's CUDA kernels on cuDNN (conv_cudnn.cuh): forward, then the bias through
// cudnnAddTensor; backward runs only the wanted passes (data, filter, bias), each kAddTo
// request through cuDNN's beta = 1. A geometry cuDNN has no algorithm for runs the CPU
// kernels on host copies.
#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/conv/conv_cuda.cuh"
#include "libs/ops/conv/conv_cudnn.cuh"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/gpu_fallback.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {
namespace {

constexpr char kOp[] = "Convolution";

absl::Status Forward(const OpDef& def, const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  // cuDNN describes no empty tensor: the CPU kernels handle those (trivially).
  if (AnyEmpty(in) || AnyEmpty(out)) {
    return GpuFallbackForward(def, params, ctx, in, reqs, out, {});
  }
  const auto& p = ParamsAs<ConvParams>(params);
  const ConvGeom g = ConvGeomOf(p, in[0].shape, out[0].shape);
  const int device = ctx.ctx.device_id;
  MXGRID_ASSIGN_OR_RETURN(cudnnHandle_t handle, CudnnOn(ctx));
  absl::StatusOr<CudnnConv*> conv = CudnnConv::Get(device, in[0].dtype, g);
  absl::Status ready =
      conv.ok() ? (*conv)->Prepare(handle, ConvPasses{true, false, false}) : conv.status();
  if (absl::IsUnimplemented(ready)) {
    return GpuFallbackForward(def, params, ctx, in, reqs, out, {});
  }
  MXGRID_RETURN_IF_ERROR(ready);
  MXGRID_RETURN_IF_ERROR(
      (*conv)->Forward(device, handle, in[0].data, in[1].data, BetaOf(reqs[0]), out[0].data));
  if (!p.no_bias) {
    MXGRID_RETURN_IF_ERROR((*conv)->AddBias(handle, /*on_output=*/true, in[2].data, out[0].data));
  }
  return gpu::LaunchStatus(device, kOp);
}

absl::Status Backward(const OpDef& def, const OpContext& ctx, const OpParams& params,
                      const BackwardArgs& a) {
  const auto& p = ParamsAs<ConvParams>(params);
  const bool want_x = a.reqs[0] != OpReq::kNull;
  const bool want_w = a.reqs[1] != OpReq::kNull;
  const bool want_b = !p.no_bias && a.reqs[2] != OpReq::kNull;
  if (!want_x && !want_w && !want_b) return absl::OkStatus();
  if (AnyEmpty(a.inputs) || AnyEmpty(a.out_grads)) {
    return GpuFallbackBackward(def, params, ctx, a);
  }
  const ConvGeom g = ConvGeomOf(p, a.inputs[0].shape, a.out_grads[0].shape);
  const int device = ctx.ctx.device_id;
  MXGRID_ASSIGN_OR_RETURN(cudnnHandle_t handle, CudnnOn(ctx));
  absl::StatusOr<CudnnConv*> conv = CudnnConv::Get(device, a.inputs[0].dtype, g);
  absl::Status ready =
      conv.ok() ? (*conv)->Prepare(handle, ConvPasses{false, want_x, want_w})
                : conv.status();
  if (absl::IsUnimplemented(ready)) return GpuFallbackBackward(def, params, ctx, a);
  MXGRID_RETURN_IF_ERROR(ready);
  const void* dy = a.out_grads[0].data;
  if (want_x) {
    MXGRID_RETURN_IF_ERROR((*conv)->BackwardData(device, handle, dy, a.inputs[1].data,
                                                 BetaOf(a.reqs[0]), a.in_grads[0].data));
  }
  if (want_w) {
    MXGRID_RETURN_IF_ERROR((*conv)->BackwardFilter(device, handle, a.inputs[0].data, dy,
                                                   BetaOf(a.reqs[1]), a.in_grads[1].data));
  }
  if (want_b) {
    MXGRID_RETURN_IF_ERROR(
        (*conv)->BiasGrad(handle, /*on_output=*/true, dy, BetaOf(a.reqs[2]), a.in_grads[2].data));
  }
  return gpu::LaunchStatus(device, kOp);
}

}  // namespace

absl::Status RegisterConvolutionCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  const OpDef* def = d;  // registry entries outlive the kernels
  d->gpu_forward = [def](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
    return Forward(*def, ctx, params, in, reqs, out);
  };
  d->gpu_backward = [def](const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
    return Backward(*def, ctx, params, a);
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
