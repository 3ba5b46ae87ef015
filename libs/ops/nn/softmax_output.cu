// SoftmaxOutput on the GPU: softmax_cuda.h's forward over (rows, k, inner), and the loss
// gradient of softmax_output.cc computed the same way (in double, rounded once):
// (out - onehot(label) [smoothed]) * grad_scale / norm, zero for ignored labels, times the
// head gradient with out_grad; probability labels (shaped like data): (out - label) *
// grad_scale. 'valid' normalization counts the ignored labels on the device first.
#include <cuda_runtime.h>

#include <climits>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/softmax_cuda.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "SoftmaxOutput";

// softmax_output.cc's CheckRank and GetLayout.
absl::StatusOr<cu::SoftmaxGeometry> Geometry(const SoftmaxOutputParams& p, const Shape& d) {
  if (d.ndim() < (p.multi_output ? 2 : 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": data shape ", d.ToString(), " has too few dims (at least ",
        p.multi_output ? "2 with multi_output" : "1", ")"));
  }
  if (p.multi_output) return cu::SoftmaxGeometry{d[0], d[1], d.ProdRange(2, d.ndim())};
  if (p.preserve_shape) {
    const int64_t k = d[d.ndim() - 1];
    return cu::SoftmaxGeometry{k == 0 ? 0 : d.Size() / k, k, 1};
  }
  return cu::SoftmaxGeometry{d[0], d[0] == 0 ? 0 : d.Size() / d[0], 1};
}

// softmax_output.cc's ClassOf.
__device__ __forceinline__ int64_t ClassOf(double v) {
  if (!(fabs(v) < 9.2e18)) return LLONG_MIN;
  return static_cast<int64_t>(v);
}

// *count += #(labels whose class is `ignore`). REQUIRES: *count starts at 0.
template <typename T>
__global__ void CountIgnoredKernel(const T* label, int64_t n, int64_t ignore,
                                   unsigned long long* count) {
  unsigned long long mine = 0;
  MXGRID_CUDA_KERNEL_LOOP(j, n) { mine += ClassOf(static_cast<double>(label[j])) == ignore; }
  mine = cu::WarpAllReduce(mine, cu::SumOp());
  if ((threadIdx.x & 31) == 0 && mine != 0) atomicAdd(count, mine);
}

// The normalization as softmax_output.cc's BackwardT computes it.
struct Norm {
  int kind = 0;  // 0 null, 1 batch, 2 valid
  bool multi_output = false;
  double grad_scale = 1;
  int64_t ignore = 0;
  bool use_ignore = false;
  double on = 1, off = 0;
};

template <typename T>
__global__ void ClassGradKernel(const T* y, const T* label, const T* head, cu::SoftmaxGeometry g,
                                Norm q, const unsigned long long* ignored, bool add, T* out) {
  const int64_t n_labels = g.outer * g.inner;
  double norm = 1;
  if (q.kind == 1) norm = q.multi_output ? static_cast<double>(n_labels) : g.outer;
  if (q.kind == 2) {
    const int64_t valid = n_labels - static_cast<int64_t>(*ignored);
    norm = valid == 0 ? 1 : valid;
  }
  if (q.multi_output && q.kind == 0) norm = static_cast<double>(g.inner);
  const double scale = q.grad_scale / norm;
  MXGRID_CUDA_KERNEL_LOOP(j, g.outer * g.n * g.inner) {
    const int64_t i = j % g.inner;
    const int64_t c = (j / g.inner) % g.n;
    const int64_t r = j / (g.inner * g.n);
    const int64_t lab = ClassOf(static_cast<double>(label[r * g.inner + i]));
    const bool ignored_here = q.use_ignore && lab == q.ignore;
    const double target = c == lab ? q.on : q.off;
    double v = ignored_here ? 0.0 : (static_cast<double>(y[j]) - target) * scale;
    if (head != nullptr) v = v * static_cast<double>(head[j]);
    cu::Put(add, out, j, static_cast<T>(v));
  }
}

template <typename T>
__global__ void ProbGradKernel(const T* y, const T* label, const T* head, int64_t n,
                               double grad_scale, bool add, T* out) {
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    double v = (static_cast<double>(y[j]) - static_cast<double>(label[j])) * grad_scale;
    if (head != nullptr) v = v * static_cast<double>(head[j]);
    cu::Put(add, out, j, static_cast<T>(v));
  }
}

// The CPU kernel's ClassOf on the host, for ignore_label.
int64_t HostClassOf(double v) {
  if (!(std::fabs(v) < 9.2e18)) return LLONG_MIN;
  return static_cast<int64_t>(v);
}

template <typename T>
absl::Status BackwardT(const OpContext& ctx, const SoftmaxOutputParams& p,
                       const cu::SoftmaxGeometry& g, const BackwardArgs& a) {
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int device = ctx.ctx.device_id;
  const TensorView& out = a.outputs[0];
  const TensorView& label = a.inputs[1];
  const T* head = p.out_grad && !a.out_grads.empty() && a.out_grads[0].data
                      ? a.out_grads[0].as<T>()
                      : nullptr;
  const bool add = a.reqs[0] == OpReq::kAddTo;
  if (a.reqs[0] != OpReq::kNull && out.size() > 0) {
    if (label.shape == out.shape) {
      ProbGradKernel<T><<<gpu::Blocks(out.size()), gpu::kThreads, 0, stream>>>(
          out.as<T>(), label.as<T>(), head, out.size(), p.grad_scale, add,
          a.in_grads[0].as<T>());
    } else {
      Norm q;
      q.kind = p.normalization == "batch" ? 1 : p.normalization == "valid" ? 2 : 0;
      q.multi_output = p.multi_output;
      q.grad_scale = p.grad_scale;
      q.ignore = HostClassOf(p.ignore_label);
      q.use_ignore = p.use_ignore;
      q.on = 1 - p.smooth_alpha;
      q.off = g.n > 1 ? p.smooth_alpha / (g.n - 1) : 0.0;
      unsigned long long* count = nullptr;
      if (q.kind == 2) {
        MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, sizeof(*count)));
        count = static_cast<unsigned long long*>(ws);
        MXGRID_RETURN_IF_ERROR(cu::ZeroAsync(device, stream, count, sizeof(*count), kOp));
        const int64_t n_labels = g.outer * g.inner;
        CountIgnoredKernel<T><<<gpu::Blocks(n_labels), gpu::kThreads, 0, stream>>>(
            label.as<T>(), n_labels, q.ignore, count);
      }
      ClassGradKernel<T><<<gpu::Blocks(out.size()), gpu::kThreads, 0, stream>>>(
          out.as<T>(), label.as<T>(), head, g, q, count, add, a.in_grads[0].as<T>());
    }
  }
  if (a.reqs[1] != OpReq::kNull && a.reqs[1] != OpReq::kAddTo && label.size() > 0) {
    MXGRID_RETURN_IF_ERROR(
        cu::ZeroAsync(device, stream, a.in_grads[1].data, label.size() * sizeof(T), kOp));
  }
  return gpu::LaunchStatus(device, kOp);
}

}  // namespace

absl::Status RegisterSoftmaxOutputCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const cu::SoftmaxGeometry g,
                            Geometry(ParamsAs<SoftmaxOutputParams>(params), in[0].shape));
    return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      cu::LaunchSoftmaxForward<T>(gpu::StreamOf(ctx.stream), g, cu::SoftmaxArith<T>(),
                                  in[0].as<T>(), reqs[0] == OpReq::kAddTo, out[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<SoftmaxOutputParams>(params);
    MXGRID_ASSIGN_OR_RETURN(const cu::SoftmaxGeometry g, Geometry(p, a.outputs[0].shape));
    return DispatchFloat(kOp, a.outputs[0].dtype, [&](auto tag) {
      return BackwardT<typename decltype(tag)::type>(ctx, p, g, a);
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
