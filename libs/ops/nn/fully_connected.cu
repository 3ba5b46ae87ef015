// FullyConnected on the GPU through cuBLAS: out = data (m, k) · weight (n, k)ᵀ + bias, the
// same arithmetic as fully_connected.cc. Row-major matrices are passed to column-major
// cuBLAS as their transposes (out ᵀ = W · Xᵀ).
//
// Precision: float32 GEMMs are full FP32 (cublasGemmEx with CUBLAS_COMPUTE_32F) unless the
// environment variable MXGRID_GPU_ALLOW_TF32=1 is set when the first FullyConnected call
// runs (read once per process): then they use CUBLAS_COMPUTE_32F_FAST_TF32 (TF32 tensor
// cores, ~10 mantissa bits in the products; results no longer match the CPU to float32
// precision). float64 uses cublasDgemm.
//
// Backward: dX = dY · W, dW = dYᵀ · X (kAddTo through beta = 1), dB = column sums of dY by
// a reduction kernel. Each runs only when its request is not kNull.
#include <cuda_runtime.h>

#include <utility>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "FullyConnected";

// (rows, num_input) of the data, as fully_connected.cc's DataMatrix.
std::pair<int64_t, int64_t> DataMatrix(const FCParams& p, const Shape& d) {
  int64_t k = p.flatten ? d.ProdRange(1, d.ndim()) : d[d.ndim() - 1];
  return {k == 0 ? 0 : d.Size() / k, k};
}

template <typename T>
absl::Status Gemm(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                  const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                  int64_t ldc) {
  return cu::Gemm<T>(h, kOp, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// o[i, j] += b[j] over an (m, n) row-major matrix.
template <typename T>
__global__ void AddBiasKernel(T* o, const T* b, int64_t m, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, m * n) { o[i] += b[i % n]; }
}

template <typename T>
absl::Status ForwardT(const OpContext& ctx, const FCParams& p, absl::Span<const TensorView> in,
                      OpReq req, const TensorView& out) {
  if (req == OpReq::kNull) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int device = ctx.ctx.device_id;
  auto [m, k] = DataMatrix(p, in[0].shape);
  const int64_t n = p.num_hidden;
  T* o = out.as<T>();
  const bool add = req == OpReq::kAddTo;
  if (m == 0) return absl::OkStatus();
  if (k > 0) {
    MXGRID_ASSIGN_OR_RETURN(cublasHandle_t h, gpu::Cublas(device));
    // outᵀ (n x m) = W (as k x n)ᵀ · Xᵀ (as k x m).
    MXGRID_RETURN_IF_ERROR(Gemm<T>(h, true, false, n, m, k, in[1].as<T>(), k, in[0].as<T>(), k,
                                   add ? T(1) : T(0), o, n));
  } else if (!add) {
    cu::FillKernel<T><<<gpu::Blocks(m * n), gpu::kThreads, 0, stream>>>(o, m * n, T(0));
  }
  if (!p.no_bias) {
    AddBiasKernel<T><<<gpu::Blocks(m * n), gpu::kThreads, 0, stream>>>(o, in[2].as<T>(), m, n);
  }
  return gpu::LaunchStatus(device, kOp);
}

template <typename T>
absl::Status BackwardT(const OpContext& ctx, const FCParams& p, const BackwardArgs& a) {
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int device = ctx.ctx.device_id;
  auto [m, k] = DataMatrix(p, a.inputs[0].shape);
  const int64_t n = p.num_hidden;
  const T* og = a.out_grads[0].as<T>();
  auto beta = [](OpReq r) { return r == OpReq::kAddTo ? T(1) : T(0); };
  const bool need_gemm =
      (a.reqs[0] != OpReq::kNull && m * k > 0) || (a.reqs[1] != OpReq::kNull && m > 0 && k > 0);
  cublasHandle_t h = nullptr;
  if (need_gemm) {
    MXGRID_ASSIGN_OR_RETURN(h, gpu::Cublas(device));
  }
  if (a.reqs[0] != OpReq::kNull && m * k > 0) {
    // dXᵀ (k x m) = W (as k x n) · dYᵀ (as n x m).
    MXGRID_RETURN_IF_ERROR(Gemm<T>(h, false, false, k, m, n, a.inputs[1].as<T>(), k, og, n,
                                   beta(a.reqs[0]), a.in_grads[0].as<T>(), k));
  }
  if (a.reqs[1] != OpReq::kNull && n * k > 0) {
    T* gw = a.in_grads[1].as<T>();
    if (m > 0) {
      // dWᵀ (k x n) = Xᵀ (as k x m) · dY (as (n x m)ᵀ).
      MXGRID_RETURN_IF_ERROR(Gemm<T>(h, false, true, k, n, m, a.inputs[0].as<T>(), k, og, n,
                                     beta(a.reqs[1]), gw, k));
    } else if (a.reqs[1] != OpReq::kAddTo) {
      cu::FillKernel<T><<<gpu::Blocks(n * k), gpu::kThreads, 0, stream>>>(gw, n * k, T(0));
    }
  }
  if (!p.no_bias && a.reqs[2] != OpReq::kNull && n > 0) {
    const dim3 block(32, 8);
    const unsigned grid = static_cast<unsigned>((n + 31) / 32);
    cu::ColumnSumKernel<T><<<grid, block, 0, stream>>>(og, m, n, a.reqs[2] == OpReq::kAddTo,
                                                   a.in_grads[2].as<T>());
  }
  return gpu::LaunchStatus(device, kOp);
}

}  // namespace

absl::Status RegisterFullyConnectedCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) {
    const auto& p = ParamsAs<FCParams>(params);
    return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
      return ForwardT<typename decltype(tag)::type>(ctx, p, in, reqs[0], out[0]);
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
    const auto& p = ParamsAs<FCParams>(params);
    return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
      return BackwardT<typename decltype(tag)::type>(ctx, p, a);
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
