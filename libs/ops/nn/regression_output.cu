// Linear/Logistic/MAERegressionOutput on the GPU, as regression_output.cc: forward out =
// data (logistic: sigmoid(data)); backward grad = T(grad_scale / per_row) * (out - label)
// (MAE: sign(out - label)), per_row = label.Size() / label.shape[0]; the label's gradient is
// zero. Elementwise, so out may alias data.
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

enum class Kind { kLinear, kLogistic, kMAE };

template <typename T>
__global__ void ForwardKernel(Kind kind, const T* x, int64_t n, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    const T v = kind == Kind::kLogistic ? T(1) / (T(1) + cu::Exp(-x[j])) : x[j];
    cu::Put(add, y, j, v);
  }
}

template <typename T>
__global__ void BackwardKernel(Kind kind, T scale, const T* y, const T* l, int64_t n, bool add,
                               T* gx) {
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    const T d = y[j] - l[j];
    const T diff = kind == Kind::kMAE ? (d > T(0) ? T(1) : d < T(0) ? T(-1) : T(0)) : d;
    cu::Put(add, gx, j, scale * diff);
  }
}

void Register(OpDef* d, const char* op, Kind kind) {
  d->gpu_forward = [op, kind](const OpContext& ctx, const OpParams&,
                              absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                              absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return DispatchFloat(op, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t n = in[0].size();
      ForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          kind, in[0].as<T>(), n, reqs[0] == OpReq::kAddTo, out[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    });
  };
  d->gpu_backward = [op, kind](const OpContext& ctx, const OpParams& params,
                               const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<RegressionParams>(params);
    cudaStream_t stream = gpu::StreamOf(ctx.stream);
    const int device = ctx.ctx.device_id;
    return DispatchFloat(op, a.outputs[0].dtype, [&](auto tag) -> absl::Status {
      using T = typename decltype(tag)::type;
      const TensorView& label = a.inputs[1];
      if (a.reqs[0] != OpReq::kNull) {
        const int64_t per_row =
            label.shape.ndim() == 0 || label.shape[0] == 0 ? 1 : label.size() / label.shape[0];
        const T scale = static_cast<T>(p.grad_scale / static_cast<double>(per_row));
        const int64_t n = a.outputs[0].size();
        BackwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
            kind, scale, a.outputs[0].as<T>(), label.as<T>(), n, a.reqs[0] == OpReq::kAddTo,
            a.in_grads[0].as<T>());
      }
      if (a.reqs[1] != OpReq::kNull && a.reqs[1] != OpReq::kAddTo) {
        MXGRID_RETURN_IF_ERROR(cu::ZeroAsync(device, stream, a.in_grads[1].data,
                                             label.size() * sizeof(T), op));
      }
      return gpu::LaunchStatus(device, op);
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
}

}  // namespace

absl::Status RegisterRegressionCuda(Registry* registry) {
  const std::pair<const char*, Kind> ops[] = {{"LinearRegressionOutput", Kind::kLinear},
                                              {"LogisticRegressionOutput", Kind::kLogistic},
                                              {"MAERegressionOutput", Kind::kMAE}};
  for (const auto& [op, kind] : ops) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(op));
    Register(d, op, kind);
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
