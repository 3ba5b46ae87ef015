// softmax, log_softmax, softmin and SoftmaxActivation on the GPU (softmax_cuda.h's kernels;
// geometry and arithmetic as softmax.cc's).
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/softmax_cuda.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

// softmax.cc's GetLayout.
absl::StatusOr<cu::SoftmaxGeometry> Geometry(const char* op, const SoftmaxParams& p,
                                             const Shape& s) {
  if (s.ndim() == 0) return absl::InvalidArgumentError(absl::StrCat(op, ": data is a scalar"));
  if (p.activation) {
    if (!p.channel) return cu::SoftmaxGeometry{s[0], s.ProdRange(1, s.ndim()), 1};
    if (s.ndim() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": channel mode needs at least 2 dims, got ", s.ToString()));
    }
    return cu::SoftmaxGeometry{s[0], s[1], s.ProdRange(2, s.ndim())};
  }
  const int64_t axis = p.axis < 0 ? p.axis + s.ndim() : p.axis;
  if (axis < 0 || axis >= s.ndim()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": axis ", p.axis, " is out of range for shape ", s.ToString()));
  }
  const int a = static_cast<int>(axis);
  return cu::SoftmaxGeometry{s.ProdRange(0, a), s[a], s.ProdRange(a + 1, s.ndim())};
}

GpuForwardFn Forward(const char* op) {
  return [op](const OpContext& ctx, const OpParams& params, absl::Span<const TensorView> in,
              absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<SoftmaxParams>(params);
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const cu::SoftmaxGeometry g, Geometry(op, p, in[0].shape));
    return DispatchFloat(op, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cu::SoftmaxArith<T> a;
      a.t = static_cast<T>(p.temperature);
      a.sign = p.negate ? T(-1) : T(1);
      a.log = p.log;
      cu::LaunchSoftmaxForward<T>(gpu::StreamOf(ctx.stream), g, a, in[0].as<T>(),
                                  reqs[0] == OpReq::kAddTo, out[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    });
  };
}

GpuBackwardFn Backward(const char* op) {
  return [op](const OpContext& ctx, const OpParams& params,
              const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<SoftmaxParams>(params);
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const cu::SoftmaxGeometry g, Geometry(op, p, a.outputs[0].shape));
    return DispatchFloat(op, a.outputs[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T t = static_cast<T>(p.negate ? -p.temperature : p.temperature);
      cu::LaunchSoftmaxBackward<T>(gpu::StreamOf(ctx.stream), g, t, p.log,
                                   a.outputs[0].as<T>(), a.out_grads[0].as<T>(),
                                   a.reqs[0] == OpReq::kAddTo, a.in_grads[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    });
  };
}

}  // namespace

absl::Status RegisterSoftmaxCuda(Registry* registry) {
  for (const char* op : {"softmax", "log_softmax", "softmin", "SoftmaxActivation"}) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(op));
    d->gpu_forward = Forward(op);
    d->gpu_backward = Backward(op);
    d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
