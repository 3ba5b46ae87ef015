// CUDA kernels of dot and batch_dot (transpose_a, transpose_b) on cuBLAS: full-precision
// sgemm for float32 (the handle's default math mode, no TF32) and dgemm for float64, forward
// and backward (the same four products as dot.cc). Row-major C = op(A) op(B) runs as the
// column-major C^T = op(B)^T op(A)^T, B and A swapped.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <string>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/dot_params.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

using tensor_internal::DotParams;
using tensor_internal::DotShape;

// One operand of a batched product: its data and the elements between batches.
template <typename T>
struct Operand {
  const T* data;
  int64_t stride;
};

cublasStatus_t GemmCall(cublasHandle_t h, cublasOperation_t oa, cublasOperation_t ob, int m,
                        int n, int k, const float* alpha, const float* a, int lda, int64_t sa,
                        const float* b, int ldb, int64_t sb, const float* beta, float* c,
                        int ldc, int64_t sc, int batch) {
  if (batch == 1) return cublasSgemm(h, oa, ob, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return cublasSgemmStridedBatched(h, oa, ob, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c,
                                   ldc, sc, batch);
}

cublasStatus_t GemmCall(cublasHandle_t h, cublasOperation_t oa, cublasOperation_t ob, int m,
                        int n, int k, const double* alpha, const double* a, int lda, int64_t sa,
                        const double* b, int ldb, int64_t sb, const double* beta, double* c,
                        int ldc, int64_t sc, int batch) {
  if (batch == 1) return cublasDgemm(h, oa, ob, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return cublasDgemmStridedBatched(h, oa, ob, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c,
                                   ldc, sc, batch);
}

// For each batch: C(M, N) (=|+=) op(A) op(B), row-major; A stored (M, K) or, with ta,
// (K, M); B stored (K, N) or, with tb, (N, K).
template <typename T>
absl::Status Gemm(const OpContext& ctx, const char* op, bool ta, bool tb, int64_t m, int64_t n,
                  int64_t k, Operand<T> a, Operand<T> b, T* c, int64_t sc, int64_t batch,
                  OpReq req) {
  if (req == OpReq::kNull || m == 0 || n == 0 || batch == 0) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const T alpha = T(1), beta = req == OpReq::kAddTo ? T(1) : T(0);
  if (k == 0) {
    if (req == OpReq::kAddTo) return absl::OkStatus();
    // The batches of C are contiguous in every caller (sc == m * n).
    const cudaError_t e = cudaMemsetAsync(c, 0, batch * m * n * sizeof(T), stream);
    if (e != cudaSuccess) {
      return absl::InternalError(absl::StrCat(op, ": cudaMemsetAsync failed: ",
                                              cudaGetErrorString(e)));
    }
    return absl::OkStatus();
  }
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || batch > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": matrix dims (", m, ", ", n, ", ", k, ") exceed cuBLAS's int range"));
  }
  MXGRID_ASSIGN_OR_RETURN(cublasHandle_t h, gpu::Cublas(ctx.ctx.device_id));
  MXGRID_RETURN_IF_ERROR(gpu::CublasStatus(cublasSetStream(h, stream), op));
  const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n);
  return gpu::CublasStatus(
      GemmCall(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
               static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b.data,
               ldb, b.stride, a.data, lda, a.stride, &beta, c, static_cast<int>(n), sc,
               static_cast<int>(batch)),
      op);
}

absl::Status SetDot(Registry* registry, const char* name, bool batched) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, batched](const OpContext& ctx, const OpParams& params,
                                 absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                                 absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<DotParams>(params);
    MXGRID_ASSIGN_OR_RETURN(DotShape dm, tensor_internal::DotDims(op.c_str(), p, in[0].shape,
                                                                  in[1].shape, batched));
    return DispatchRealCuda(op, in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      const int64_t m = dm.m, n = dm.n, k = dm.k;
      return Gemm<T>(ctx, op.c_str(), p.transpose_a, p.transpose_b, m, n, k,
                     {in[0].as<T>(), m * k}, {in[1].as<T>(), k * n}, out[0].as<T>(), m * n,
                     dm.batch, reqs[0]);
    });
  };
  d->gpu_backward = [op, batched](const OpContext& ctx, const OpParams& params,
                                  const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<DotParams>(params);
    const bool ta = p.transpose_a, tb = p.transpose_b;
    MXGRID_ASSIGN_OR_RETURN(DotShape dm, tensor_internal::DotDims(
                                             op.c_str(), p, a.inputs[0].shape,
                                             a.inputs[1].shape, batched));
    return DispatchRealCuda(op, a.out_grads[0].dtype, [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      const int64_t m = dm.m, n = dm.n, k = dm.k;
      const Operand<T> lhs{a.inputs[0].as<T>(), m * k}, rhs{a.inputs[1].as<T>(), k * n};
      const Operand<T> dc{a.out_grads[0].as<T>(), m * n};
      const char* o = op.c_str();
      if (a.reqs[0] != OpReq::kNull) {
        T* dl = a.in_grads[0].as<T>();
        if (!ta) {  // dA = dC op(B)^T
          MXGRID_RETURN_IF_ERROR(Gemm<T>(ctx, o, false, !tb, m, k, n, dc, rhs, dl, m * k,
                                         dm.batch, a.reqs[0]));
        } else {  // dA^T = op(B) dC^T
          MXGRID_RETURN_IF_ERROR(Gemm<T>(ctx, o, tb, true, k, m, n, rhs, dc, dl, m * k,
                                         dm.batch, a.reqs[0]));
        }
      }
      if (a.reqs[1] != OpReq::kNull) {
        T* dr = a.in_grads[1].as<T>();
        if (!tb) {  // dB = op(A)^T dC
          MXGRID_RETURN_IF_ERROR(Gemm<T>(ctx, o, !ta, false, k, n, m, lhs, dc, dr, k * n,
                                         dm.batch, a.reqs[1]));
        } else {  // dB^T = dC^T op(A)
          MXGRID_RETURN_IF_ERROR(Gemm<T>(ctx, o, true, ta, n, k, m, dc, lhs, dr, k * n,
                                         dm.batch, a.reqs[1]));
        }
      }
      return absl::OkStatus();
    });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterDotCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetDot(registry, "dot", /*batched=*/false));
  return SetDot(registry, "batch_dot", /*batched=*/true);
}

}  // namespace mxgrid::ops::tensor_cuda
