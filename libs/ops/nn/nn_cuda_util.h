// Device helpers of the nn family's CUDA kernels (included by libs/ops/nn/*.cu only; nvcc
// compiles it): precision-overloaded math, OpReq stores, warp/block reductions, column sums,
// the cuBLAS GEMM (FP32 unless TF32 is allowed), and the per-file registration functions
// RegisterNNCudaKernels (nn_cuda.cu) calls.
//
// Kernel conventions: float32 and float64 (T) computed in T unless a CPU kernel computes in
// double (then the GPU one does too); a store gets `add` = (req == kAddTo) and is never
// reached for kNull. Every launch is on the call's stream (OpContext::stream).
#ifndef MXGRID_LIBS_OPS_NN_NN_CUDA_UTIL_H_
#define MXGRID_LIBS_OPS_NN_NN_CUDA_UTIL_H_

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/op.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::nn {

// Registration of each .cu file's kernels (called by RegisterNNCudaKernels).
absl::Status RegisterFullyConnectedCuda(Registry* registry);  // fully_connected.cu
absl::Status RegisterActivationCuda(Registry* registry);      // activation.cu
absl::Status RegisterSoftmaxCuda(Registry* registry);         // softmax.cu
absl::Status RegisterSoftmaxOutputCuda(Registry* registry);   // softmax_output.cu
absl::Status RegisterRegressionCuda(Registry* registry);      // regression_output.cu
absl::Status RegisterDropoutCuda(Registry* registry);         // dropout.cu
absl::Status RegisterMakeLossCuda(Registry* registry);        // make_loss.cu
absl::Status RegisterLayerNormCuda(Registry* registry);       // layer_norm.cu
absl::Status RegisterPadSequenceCuda(Registry* registry);     // pad_sequence.cu
absl::Status RegisterNormUpSamplingCuda(Registry* registry);  // norm_upsampling.cu
absl::Status RegisterRnnCuda(Registry* registry);             // rnn.cu

// The types of OpDef::gpu_forward and OpDef::gpu_backward.
using GpuForwardFn = decltype(OpDef::gpu_forward);
using GpuBackwardFn = decltype(OpDef::gpu_backward);

namespace cu {

__device__ __forceinline__ float Exp(float x) { return expf(x); }
__device__ __forceinline__ double Exp(double x) { return exp(x); }
__device__ __forceinline__ float Log(float x) { return logf(x); }
__device__ __forceinline__ double Log(double x) { return log(x); }
__device__ __forceinline__ float Log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double Log1p(double x) { return log1p(x); }
__device__ __forceinline__ float Expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double Expm1(double x) { return expm1(x); }
__device__ __forceinline__ float Tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double Tanh(double x) { return tanh(x); }
__device__ __forceinline__ float Abs(float x) { return fabsf(x); }
__device__ __forceinline__ double Abs(double x) { return fabs(x); }
__device__ __forceinline__ float Sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double Sqrt(double x) { return sqrt(x); }

// std::max's rule (a < b ? b : a), as the CPU kernels use it.
template <typename T>
__device__ __forceinline__ T Max(T a, T b) {
  return a < b ? b : a;
}

// dst[i] = v, or dst[i] += v when `add`.
template <typename T>
__device__ __forceinline__ void Put(bool add, T* dst, int64_t i, T v) {
  dst[i] = add ? dst[i] + v : v;
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return Max(a, b);
  }
};

// Every lane of the warp gets op over the warp's 32 values.
template <typename T, typename Op>
__device__ __forceinline__ T WarpAllReduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Every thread of the block gets op over the block's values. REQUIRES: blockDim.x is a
// multiple of 32 (at most 1024); every thread of the block calls it; `scratch` is shared
// memory of 32 T (reusable at once: the function synchronizes before writing it).
template <typename T, typename Op>
__device__ __forceinline__ T BlockAllReduce(T v, Op op, T identity, T* scratch) {
  v = WarpAllReduce(v, op);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : identity;
  return WarpAllReduce(v, op);
}

// Fills n elements of T at dst with v (asynchronous on stream).
template <typename T>
__global__ void FillKernel(T* dst, int64_t n, T v) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { dst[i] = v; }
}

// gb[j] (=, += when add) sum over the m rows of og[:, j] (row-major (m, n)); launch with
// block (32, 8) and (n + 31) / 32 blocks, one column per x.
template <typename T>
__global__ void ColumnSumKernel(const T* og, int64_t m, int64_t n, bool add, T* gb) {
  __shared__ T part[8][33];
  const int64_t j = blockIdx.x * 32 + threadIdx.x;
  T s = T(0);
  if (j < n) {
    for (int64_t i = threadIdx.y; i < m; i += 8) s += og[i * n + j];
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < n) {
    T total = T(0);
    for (int y = 0; y < 8; ++y) total += part[y][threadIdx.x];
    Put(add, gb, j, total);
  }
}

// Sets `bytes` bytes at p to zero on `stream` (all-zero bits are 0.0 for every float type).
inline absl::Status ZeroAsync(int device, cudaStream_t stream, void* p, size_t bytes,
                              const char* what) {
  if (bytes == 0) return absl::OkStatus();
  const cudaError_t e = cudaMemsetAsync(p, 0, bytes, stream);
  if (e == cudaSuccess) return absl::OkStatus();
  absl::Status s = gpu::LaunchStatus(device, what);
  if (!s.ok()) return s;
  return absl::InternalError(absl::StrCat(what, ": cudaMemsetAsync: ", cudaGetErrorString(e)));
}

// True when MXGRID_GPU_ALLOW_TF32=1 was set when first asked (read once per process):
// float32 GEMMs may then use TF32 tensor cores (see fully_connected.cu).
inline bool AllowTf32() {
  static const bool allow = [] {
    const char* v = std::getenv("MXGRID_GPU_ALLOW_TF32");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return allow;
}

// Column-major C (m x n, ldc) = op(A) op(B) + beta C, alpha = 1, on h's stream: float64 by
// cublasDgemm, float32 by cublasGemmEx in full FP32 (TF32 only with AllowTf32()).
// InvalidArgument naming `what` when a size exceeds cuBLAS's int range.
template <typename T>
absl::Status Gemm(cublasHandle_t h, const char* what, bool ta, bool tb, int64_t m, int64_t n,
                  int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                  int64_t ldc) {
  for (int64_t v : {m, n, k, lda, ldb, ldc}) {
    if (v > INT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": a matrix dimension of ", v, " exceeds cuBLAS's int range"));
    }
  }
  const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T one = T(1);
  if constexpr (std::is_same_v<T, double>) {
    return gpu::CublasStatus(
        cublasDgemm(h, oa, ob, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                    &one, a, static_cast<int>(lda), b, static_cast<int>(ldb), &beta, c,
                    static_cast<int>(ldc)),
        what);
  } else {
    const cublasComputeType_t compute =
        AllowTf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    return gpu::CublasStatus(
        cublasGemmEx(h, oa, ob, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                     &one, a, CUDA_R_32F, static_cast<int>(lda), b, CUDA_R_32F,
                     static_cast<int>(ldb), &beta, c, CUDA_R_32F, static_cast<int>(ldc),
                     compute, CUBLAS_GEMM_DEFAULT),
        what);
  }
}

}  // namespace cu
}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_NN_CUDA_UTIL_H_
