// _linalg_sumlogdiag, _linalg_extractdiag and _linalg_makediag on the GPU (diag_ops.cc):
// one thread per output element, computing in float64 as the CPU kernels do; every gradient
// is the other direction's copy (sumlogdiag: dy / A_ii on the diagonal, 0 elsewhere).
#include <cuda_runtime.h>

#include <string>

#include "libs/base/status_macros.h"
#include "libs/ops/cuda_dispatch.h"
#include "libs/ops/linalg/linalg_common.h"
#include "libs/ops/linalg/linalg_cuda.cuh"

namespace mxgrid::ops::linalg_cuda {
namespace {

using linalg_internal::MiscParams;

constexpr char kSumLogDiag[] = "_linalg_sumlogdiag";

template <typename T>
__device__ __forceinline__ void Store(bool add, T* y, int64_t i, double v) {
  const T t = static_cast<T>(v);
  y[i] = add ? static_cast<T>(y[i] + t) : t;
}

// y[b] (req) sum_i log(a[b, i, i]), summed in order in float64.
template <typename T>
__global__ void SumLogDiagKernel(const T* a, int64_t n, int64_t count, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(b, count) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += log(static_cast<double>(a[b * n * n + i * n + i]));
    Store(add, y, b, s);
  }
}

// dx[b, i, j] (req) i == j ? dy[b] / a[b, i, i] : 0.
template <typename T>
__global__ void SumLogDiagGradKernel(const T* a, const T* dy, int64_t n, int64_t total,
                                     bool add, T* dx) {
  MXGRID_CUDA_KERNEL_LOOP(e, total) {
    const int64_t b = e / (n * n), ij = e - b * n * n, i = ij / n, j = ij - i * n;
    const double v =
        i == j ? static_cast<double>(dy[b]) / static_cast<double>(a[e]) : 0.0;
    Store(add, dx, e, v);
  }
}

// vec[b, t] (req) mat[b] at diagonal k's element t (matrices n x n, diagonals len long).
template <typename T>
__global__ void ExtractKernel(const T* mat, int64_t n, int64_t k, int64_t len, int64_t total,
                              bool add, T* vec) {
  MXGRID_CUDA_KERNEL_LOOP(e, total) {
    const int64_t b = e / len, t = e - b * len;
    const int64_t row = t + (k < 0 ? -k : 0), col = t + (k > 0 ? k : 0);
    Store(add, vec, e, static_cast<double>(mat[b * n * n + row * n + col]));
  }
}

// mat[b, i, j] (req) j - i == k ? vec[b, t] : 0.
template <typename T>
__global__ void MakeKernel(const T* vec, int64_t n, int64_t k, int64_t len, int64_t total,
                           bool add, T* mat) {
  MXGRID_CUDA_KERNEL_LOOP(e, total) {
    const int64_t b = e / (n * n), ij = e - b * n * n, i = ij / n, j = ij - i * n;
    double v = 0.0;
    if (j - i == k) v = static_cast<double>(vec[b * len + i - (k < 0 ? -k : 0)]);
    Store(add, mat, e, v);
  }
}

absl::Status SumLogDiagForward(const OpContext& ctx, const OpParams&,
                               absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const int64_t n = in[0].shape[in[0].shape.ndim() - 1];
  const int64_t count = out[0].size();
  if (count == 0) return absl::OkStatus();
  return DispatchRealCuda(kSumLogDiag, in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    SumLogDiagKernel<T><<<gpu::Blocks(count), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        in[0].as<T>(), n, count, reqs[0] == OpReq::kAddTo, out[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kSumLogDiag);
  });
}

absl::Status SumLogDiagBackward(const OpContext& ctx, const OpParams&, const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& a = g.inputs[0];
  const int64_t n = a.shape[a.shape.ndim() - 1];
  const int64_t total = a.size();
  if (total == 0) return absl::OkStatus();
  return DispatchRealCuda(kSumLogDiag, a.dtype, [&](auto tag) {
    using T = decltype(tag);
    SumLogDiagGradKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0,
                              gpu::StreamOf(ctx.stream)>>>(
        a.as<T>(), g.out_grads[0].as<T>(), n, total, g.reqs[0] == OpReq::kAddTo,
        g.in_grads[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kSumLogDiag);
  });
}

// diag_ops.cc's `move`: from the matrices to their diagonal vectors (to_vector) or back.
absl::Status Move(const OpContext& ctx, const std::string& op, const TensorView& from,
                  OpReq req, const TensorView& to, int64_t k, bool to_vector) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const TensorView& mat = to_vector ? from : to;
  const int64_t n = mat.shape[mat.shape.ndim() - 1];
  const int64_t len = n - (k < 0 ? -k : k);
  const int64_t total = to.size();
  if (total == 0) return absl::OkStatus();
  const bool add = req == OpReq::kAddTo;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchRealCuda(op, to.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (to_vector) {
      ExtractKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0, stream>>>(
          from.as<T>(), n, k, len, total, add, to.as<T>());
    } else {
      MakeKernel<T><<<gpu::Blocks(total), gpu::kThreads, 0, stream>>>(
          from.as<T>(), n, k, len, total, add, to.as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
  });
}

}  // namespace

absl::Status RegisterDiagCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kSumLogDiag));
  d->gpu_forward = SumLogDiagForward;
  d->gpu_backward = SumLogDiagBackward;
  d->gpu_dtypes = Dtypes();
  for (bool extract : {true, false}) {
    const std::string op = extract ? "_linalg_extractdiag" : "_linalg_makediag";
    MXGRID_ASSIGN_OR_RETURN(OpDef * def, registry->FindMutable(op));
    def->gpu_forward = [op, extract](const OpContext& ctx, const OpParams& params,
                                     absl::Span<const TensorView> in,
                                     absl::Span<const OpReq> reqs,
                                     absl::Span<const TensorView> out) {
      return Move(ctx, op, in[0], reqs[0], out[0], ParamsAs<MiscParams>(params).offset,
                  extract);
    };
    def->gpu_backward = [op, extract](const OpContext& ctx, const OpParams& params,
                                      const BackwardArgs& g) {
      return Move(ctx, op, g.out_grads[0], g.reqs[0], g.in_grads[0],
                  ParamsAs<MiscParams>(params).offset, !extract);
    };
    def->gpu_dtypes = Dtypes();
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::linalg_cuda
