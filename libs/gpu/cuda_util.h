// Helpers for CUDA kernel files (.cu, compiled by nvcc in --config=cuda builds only).
//
//   absl::Status ReluForward(const ops::OpContext& ctx, ...) {
//     cudaStream_t stream = gpu::StreamOf(ctx.stream);
//     ReluKernel<<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(x, y, n);
//     return gpu::LaunchStatus(ctx.ctx.device_id, "Activation");
//   }
//
// Kernels launch asynchronously on the call's stream; the caller synchronizes.
#ifndef MXGRID_LIBS_GPU_CUDA_UTIL_H_
#define MXGRID_LIBS_GPU_CUDA_UTIL_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "libs/gpu/gpu.h"

namespace mxgrid::gpu {

// Threads per block of the elementwise kernels.
inline constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `n` elements (at least 1; capped so that very large
// arrays loop instead of launching millions of blocks).
inline unsigned Blocks(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65536)));
}

inline cudaStream_t StreamOf(void* stream) { return static_cast<cudaStream_t>(stream); }

// The launch error of the kernels just launched, as a Status naming `what`.
inline absl::Status LaunchStatus(int device, const char* what) {
  return LastLaunchError(device, what);
}

inline absl::Status CublasStatus(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS error ",
                                          cublasGetStatusString(status)));
}

inline absl::Status CudnnStatus(cudnnStatus_t status, const char* what) {
  if (status == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  if (status == CUDNN_STATUS_ALLOC_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": cuDNN could not allocate memory"));
  }
  return absl::InternalError(absl::StrCat(what, ": cuDNN error ", cudnnGetErrorString(status)));
}

// The calling thread's handles on `device` (bound to its stream).
inline absl::StatusOr<cublasHandle_t> Cublas(int device) {
  absl::StatusOr<void*> h = ThreadCublas(device);
  if (!h.ok()) return h.status();
  return static_cast<cublasHandle_t>(*h);
}
inline absl::StatusOr<cudnnHandle_t> Cudnn(int device) {
  absl::StatusOr<void*> h = ThreadCudnn(device);
  if (!h.ok()) return h.status();
  return static_cast<cudnnHandle_t>(*h);
}

// A grid-stride loop over [0, n) inside a kernel: MXGRID_CUDA_KERNEL_LOOP(i, n) { ... }
#define MXGRID_CUDA_KERNEL_LOOP(i, n)                                                   \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace mxgrid::gpu

#endif  // MXGRID_LIBS_GPU_CUDA_UTIL_H_
