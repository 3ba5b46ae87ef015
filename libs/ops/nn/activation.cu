// Activation (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU (leaky, elu) on the
// GPU: the formulas of activation.cc's ActForward / ActGrad, elementwise. The gradient is
// computed from the output (and the input's sign for leaky and elu), so both the forward
// (out aliasing data) and the backward (in_grad aliasing out_grad) may run in place: each
// element is read before it is written, by the same thread.
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

template <typename T>
__device__ __forceinline__ T ActForward(Act act, T x, T slope) {
  switch (act) {
    case Act::kRelu:
      return x > T(0) ? x : T(0);
    case Act::kSigmoid:
      return T(1) / (T(1) + cu::Exp(-x));
    case Act::kTanh:
      return cu::Tanh(x);
    case Act::kSoftRelu:
      return x > T(20) ? x : cu::Log1p(cu::Exp(x));
    case Act::kSoftSign:
      return x / (T(1) + cu::Abs(x));
    case Act::kLeaky:
      return x > T(0) ? x : slope * x;
    case Act::kElu:
      return x > T(0) ? x : slope * cu::Expm1(x);
  }
  return x;
}

template <typename T>
__device__ __forceinline__ T ActGrad(Act act, T x, T y, T slope) {
  switch (act) {
    case Act::kRelu:
      return y > T(0) ? T(1) : T(0);
    case Act::kSigmoid:
      return y * (T(1) - y);
    case Act::kTanh:
      return T(1) - y * y;
    case Act::kSoftRelu:
      return -cu::Expm1(-y);
    case Act::kSoftSign:
      return (T(1) - cu::Abs(y)) * (T(1) - cu::Abs(y));
    case Act::kLeaky:
      return x > T(0) ? T(1) : slope;
    case Act::kElu:
      return x > T(0) ? T(1) : y + slope;
  }
  return T(1);
}

template <typename T>
__global__ void ForwardKernel(Act act, T slope, const T* x, int64_t n, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { cu::Put(add, y, i, ActForward(act, x[i], slope)); }
}

// x may be null (unused) for the functions other than leaky and elu.
template <typename T>
__global__ void BackwardKernel(Act act, T slope, const T* x, const T* y, const T* g, int64_t n,
                               bool add, T* gx) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const T xi = x != nullptr ? x[i] : y[i];
    cu::Put(add, gx, i, g[i] * ActGrad(act, xi, y[i], slope));
  }
}

GpuForwardFn Forward(const char* op) {
  return [op](const OpContext& ctx, const OpParams& params, absl::Span<const TensorView> in,
              absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    const auto& p = ParamsAs<ActParams>(params);
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return DispatchFloat(op, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t n = in[0].size();
      ForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          p.act, static_cast<T>(p.slope), in[0].as<T>(), n, reqs[0] == OpReq::kAddTo,
          out[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    });
  };
}

GpuBackwardFn Backward(const char* op) {
  return [op](const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
    const auto& p = ParamsAs<ActParams>(params);
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    return DispatchFloat(op, a.outputs[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const bool leaky = p.act == Act::kLeaky || p.act == Act::kElu;
      const int64_t n = a.outputs[0].size();
      BackwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          p.act, static_cast<T>(p.slope), leaky ? a.inputs[0].as<T>() : nullptr,
          a.outputs[0].as<T>(), a.out_grads[0].as<T>(), n, a.reqs[0] == OpReq::kAddTo,
          a.in_grads[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    });
  };
}

}  // namespace

absl::Status RegisterActivationCuda(Registry* registry) {
  for (const char* op : {"Activation", "LeakyReLU"}) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(op));
    d->gpu_forward = Forward(op);
    d->gpu_backward = Backward(op);
    d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
