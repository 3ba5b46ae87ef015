// The softmax kernels of softmax.cu and softmax_output.cu (nvcc only): data as
// (outer, n, inner), the softmax over n. inner == 1: one block per row with block
// reductions; otherwise one thread per (outer, inner) column, coalesced across inner.
// The arithmetic is softmax.cc's: v = (sign x - max) / t; y = exp(v) / sum (log: v - log
// sum); backward gx = y (g - Σ g y) / t (log: (g - exp(y) Σ g) / t). Every element is read
// by the thread that writes it, after the row's reductions: y may alias x, gx may alias g.
#ifndef MXGRID_LIBS_OPS_NN_SOFTMAX_CUDA_H_
#define MXGRID_LIBS_OPS_NN_SOFTMAX_CUDA_H_

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "libs/ops/nn/nn_cuda_util.h"

namespace mxgrid::ops::nn::cu {

struct SoftmaxGeometry {
  int64_t outer = 1, n = 1, inner = 1;
};

// The arithmetic's parameters: temperature t, sign -1 for softmin, log for log_softmax.
template <typename T>
struct SoftmaxArith {
  T t = T(1);
  T sign = T(1);
  bool log = false;
};

template <typename T>
__global__ void SoftmaxRowForward(const T* x, int64_t rows, int64_t n, SoftmaxArith<T> a,
                                  bool add, T* y) {
  __shared__ T scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    T mx = static_cast<T>(-INFINITY);
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) mx = Max(mx, a.sign * xr[k]);
    mx = BlockAllReduce(mx, MaxOp(), static_cast<T>(-INFINITY), scratch);
    T sum = T(0);
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) sum += Exp((a.sign * xr[k] - mx) / a.t);
    sum = BlockAllReduce(sum, SumOp(), T(0), scratch);
    const T log_sum = Log(sum);
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      const T v = (a.sign * xr[k] - mx) / a.t;
      Put(add, yr, k, a.log ? v - log_sum : Exp(v) / sum);
    }
  }
}

template <typename T>
__global__ void SoftmaxColumnForward(const T* x, SoftmaxGeometry g, SoftmaxArith<T> a, bool add,
                                     T* y) {
  MXGRID_CUDA_KERNEL_LOOP(c, g.outer * g.inner) {
    const int64_t base = (c / g.inner) * g.n * g.inner + c % g.inner;
    T mx = a.sign * x[base];
    for (int64_t k = 0; k < g.n; ++k) mx = Max(mx, a.sign * x[base + k * g.inner]);
    T sum = T(0);
    for (int64_t k = 0; k < g.n; ++k) sum += Exp((a.sign * x[base + k * g.inner] - mx) / a.t);
    const T log_sum = Log(sum);
    for (int64_t k = 0; k < g.n; ++k) {
      const int64_t j = base + k * g.inner;
      const T v = (a.sign * x[j] - mx) / a.t;
      Put(add, y, j, a.log ? v - log_sum : Exp(v) / sum);
    }
  }
}

// t here is the backward's divisor (softmin: -temperature).
template <typename T>
__global__ void SoftmaxRowBackward(const T* y, const T* g, int64_t rows, int64_t n, T t,
                                   bool log, bool add, T* gx) {
  __shared__ T scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* yr = y + r * n;
    const T* gr = g + r * n;
    T dot = T(0);
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) dot += log ? gr[k] : gr[k] * yr[k];
    dot = BlockAllReduce(dot, SumOp(), T(0), scratch);
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
      const T v = log ? gr[k] - Exp(yr[k]) * dot : yr[k] * (gr[k] - dot);
      Put(add, gx + r * n, k, v / t);
    }
  }
}

template <typename T>
__global__ void SoftmaxColumnBackward(const T* y, const T* g, SoftmaxGeometry geo, T t, bool log,
                                      bool add, T* gx) {
  MXGRID_CUDA_KERNEL_LOOP(c, geo.outer * geo.inner) {
    const int64_t base = (c / geo.inner) * geo.n * geo.inner + c % geo.inner;
    T dot = T(0);
    for (int64_t k = 0; k < geo.n; ++k) {
      const int64_t j = base + k * geo.inner;
      dot += log ? g[j] : g[j] * y[j];
    }
    for (int64_t k = 0; k < geo.n; ++k) {
      const int64_t j = base + k * geo.inner;
      const T v = log ? g[j] - Exp(y[j]) * dot : y[j] * (g[j] - dot);
      Put(add, gx, j, v / t);
    }
  }
}

// Threads per block of the row kernels for rows of n: whole warps, at most 512.
inline int RowThreads(int64_t n) {
  const int64_t warps = (n + 31) / 32;
  return static_cast<int>(32 * (warps < 1 ? 1 : warps > 16 ? 16 : warps));
}
inline unsigned RowBlocks(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : rows > 65535 ? 65535 : rows);
}

template <typename T>
void LaunchSoftmaxForward(cudaStream_t stream, const SoftmaxGeometry& g, SoftmaxArith<T> a,
                          const T* x, bool add, T* y) {
  if (g.outer * g.n * g.inner == 0) return;
  if (g.inner == 1) {
    SoftmaxRowForward<T><<<RowBlocks(g.outer), RowThreads(g.n), 0, stream>>>(x, g.outer, g.n, a,
                                                                             add, y);
  } else {
    SoftmaxColumnForward<T><<<gpu::Blocks(g.outer * g.inner), gpu::kThreads, 0, stream>>>(
        x, g, a, add, y);
  }
}

template <typename T>
void LaunchSoftmaxBackward(cudaStream_t stream, const SoftmaxGeometry& g, T t, bool log,
                           const T* y, const T* grad, bool add, T* gx) {
  if (g.outer * g.n * g.inner == 0) return;
  if (g.inner == 1) {
    SoftmaxRowBackward<T><<<RowBlocks(g.outer), RowThreads(g.n), 0, stream>>>(
        y, grad, g.outer, g.n, t, log, add, gx);
  } else {
    SoftmaxColumnBackward<T><<<gpu::Blocks(g.outer * g.inner), gpu::kThreads, 0, stream>>>(
        y, grad, g, t, log, add, gx);
  }
}

}  // namespace mxgrid::ops::nn::cu

#endif  // MXGRID_LIBS_OPS_NN_SOFTMAX_CUDA_H_
