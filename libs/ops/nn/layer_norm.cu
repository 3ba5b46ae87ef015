// LayerNorm on the GPU, in double as layer_norm.cc computes it (rounded to T once): each
// (outer, inner) row's mean and std = sqrt(var + eps) by one block per row (two passes),
// kept in the thread's workspace; then the output, and the hidden mean/std outputs (the
// CPU kernel's layout: the data's shape with the axis at 1). Backward recomputes the
// moments, writes dx per row ((dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std) and the
// gamma/beta gradients as column sums over the rows.
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "LayerNorm";
constexpr int kRowThreads = 256;

struct Geo {
  int64_t outer = 1, c = 1, inner = 1;
  __device__ __forceinline__ int64_t rows() const { return outer * inner; }
  // Element (row r, channel ch).
  __device__ __forceinline__ int64_t At(int64_t r, int64_t ch) const {
    return ((r / inner) * c + ch) * inner + r % inner;
  }
};

absl::StatusOr<Geo> Geometry(const LayerNormParams& p, const Shape& s) {
  const int64_t a = p.axis < 0 ? p.axis + s.ndim() : p.axis;
  if (a < 0 || a >= s.ndim()) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": channel axis ", p.axis,
                                                   " is out of range for a ", s.ndim(),
                                                   "-d input"));
  }
  const int ax = static_cast<int>(a);
  return Geo{s.ProdRange(0, ax), s[ax], s.ProdRange(ax + 1, s.ndim())};
}

// mean[r], sd[r] of every row; one block per row.
template <typename T>
__global__ void StatsKernel(const T* x, Geo g, double eps, double* mean, double* sd) {
  __shared__ double scratch[32];
  for (int64_t r = blockIdx.x; r < g.rows(); r += gridDim.x) {
    double s = 0;
    for (int64_t ch = threadIdx.x; ch < g.c; ch += blockDim.x) s += x[g.At(r, ch)];
    const double m = cu::BlockAllReduce(s, cu::SumOp(), 0.0, scratch) / static_cast<double>(g.c);
    double v = 0;
    for (int64_t ch = threadIdx.x; ch < g.c; ch += blockDim.x) {
      const double d = x[g.At(r, ch)] - m;
      v += d * d;
    }
    v = cu::BlockAllReduce(v, cu::SumOp(), 0.0, scratch);
    if (threadIdx.x == 0) {
      mean[r] = m;
      sd[r] = sqrt(v / static_cast<double>(g.c) + eps);
    }
  }
}

template <typename T>
__global__ void OutputKernel(const T* x, const T* gamma, const T* beta, Geo g,
                             const double* mean, const double* sd, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.outer * g.c * g.inner) {
    const int64_t i = k % g.inner, ch = (k / g.inner) % g.c, o = k / (g.inner * g.c);
    const int64_t r = o * g.inner + i;
    const double v = (x[k] - mean[r]) / sd[r] * gamma[ch] + beta[ch];
    cu::Put(add, y, k, static_cast<T>(v));
  }
}

template <typename T>
__global__ void MomentsOutKernel(const double* src, int64_t n, bool add, T* dst) {
  MXGRID_CUDA_KERNEL_LOOP(r, n) { cu::Put(add, dst, r, static_cast<T>(src[r])); }
}

// dx of every row; one block per row.
template <typename T>
__global__ void DataGradKernel(const T* x, const T* gamma, const T* dy, Geo g,
                               const double* mean, const double* sd, bool add, T* dx) {
  __shared__ double scratch[32];
  for (int64_t r = blockIdx.x; r < g.rows(); r += gridDim.x) {
    double m1 = 0, m2 = 0;
    for (int64_t ch = threadIdx.x; ch < g.c; ch += blockDim.x) {
      const int64_t k = g.At(r, ch);
      const double xhat = (x[k] - mean[r]) / sd[r];
      const double dxhat = static_cast<double>(dy[k]) * gamma[ch];
      m1 += dxhat;
      m2 += dxhat * xhat;
    }
    m1 = cu::BlockAllReduce(m1, cu::SumOp(), 0.0, scratch) / static_cast<double>(g.c);
    m2 = cu::BlockAllReduce(m2, cu::SumOp(), 0.0, scratch) / static_cast<double>(g.c);
    for (int64_t ch = threadIdx.x; ch < g.c; ch += blockDim.x) {
      const int64_t k = g.At(r, ch);
      const double xhat = (x[k] - mean[r]) / sd[r];
      const double dxhat = static_cast<double>(dy[k]) * gamma[ch];
      cu::Put(add, dx, k, static_cast<T>((dxhat - m1 - xhat * m2) / sd[r]));
    }
  }
}

// dgamma[ch] = Σ_r dy xhat, dbeta[ch] = Σ_r dy; block (32, 8), one channel per x.
template <typename T>
__global__ void ParamGradKernel(const T* x, const T* dy, Geo g, const double* mean,
                                const double* sd, int gamma_req, T* dgamma, int beta_req,
                                T* dbeta) {
  __shared__ double part_g[8][33], part_b[8][33];
  const int64_t ch = blockIdx.x * 32 + threadIdx.x;
  double sg = 0, sb = 0;
  if (ch < g.c) {
    for (int64_t r = threadIdx.y; r < g.rows(); r += 8) {
      const int64_t k = g.At(r, ch);
      sg += dy[k] * ((x[k] - mean[r]) / sd[r]);
      sb += dy[k];
    }
  }
  part_g[threadIdx.y][threadIdx.x] = sg;
  part_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && ch < g.c) {
    double tg = 0, tb = 0;
    for (int y = 0; y < 8; ++y) {
      tg += part_g[y][threadIdx.x];
      tb += part_b[y][threadIdx.x];
    }
    if (gamma_req != 0) cu::Put(gamma_req == 2, dgamma, ch, static_cast<T>(tg));
    if (beta_req != 0) cu::Put(beta_req == 2, dbeta, ch, static_cast<T>(tb));
  }
}

unsigned RowBlocks(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : rows > 65535 ? 65535 : rows);
}

// 0: kNull, 1: write, 2: add.
int ReqCode(OpReq r) { return r == OpReq::kNull ? 0 : r == OpReq::kAddTo ? 2 : 1; }

// The workspace's two arrays of `rows` doubles (mean, sd), filled for x.
template <typename T>
absl::StatusOr<double*> Moments(const OpContext& ctx, const Geo& g, double eps, const T* x) {
  const int64_t rows = g.outer * g.inner;
  MXGRID_ASSIGN_OR_RETURN(
      void* ws, gpu::ThreadWorkspace(ctx.ctx.device_id, 2 * sizeof(double) * (rows + 1)));
  double* mean = static_cast<double*>(ws);
  if (rows > 0 && g.c > 0) {
    StatsKernel<T><<<RowBlocks(rows), kRowThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        x, g, eps, mean, mean + rows);
  }
  return mean;
}

absl::Status Forward(const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<LayerNormParams>(params);
  MXGRID_ASSIGN_OR_RETURN(const Geo g, Geometry(p, in[0].shape));
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t rows = g.outer * g.inner, n = in[0].size();
    MXGRID_ASSIGN_OR_RETURN(double* mean, Moments<T>(ctx, g, p.eps, in[0].as<T>()));
    const double* sd = mean + rows;
    if (reqs[0] != OpReq::kNull && n > 0) {
      OutputKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
          in[0].as<T>(), in[1].as<T>(), in[2].as<T>(), g, mean, sd,
          reqs[0] == OpReq::kAddTo, out[0].as<T>());
    }
    for (int k : {1, 2}) {
      if (reqs[k] == OpReq::kNull || rows == 0) continue;
      MomentsOutKernel<T><<<gpu::Blocks(rows), gpu::kThreads, 0, stream>>>(
          k == 1 ? mean : sd, rows, reqs[k] == OpReq::kAddTo, out[k].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  });
}

absl::Status Backward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<LayerNormParams>(params);
  MXGRID_ASSIGN_OR_RETURN(const Geo g, Geometry(p, a.inputs[0].shape));
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t rows = g.outer * g.inner;
    const T* x = a.inputs[0].as<T>();
    const T* dy = a.out_grads[0].as<T>();
    MXGRID_ASSIGN_OR_RETURN(double* mean, Moments<T>(ctx, g, p.eps, x));
    const double* sd = mean + rows;
    if (a.reqs[0] != OpReq::kNull && rows > 0 && g.c > 0) {
      DataGradKernel<T><<<RowBlocks(rows), kRowThreads, 0, stream>>>(
          x, a.inputs[1].as<T>(), dy, g, mean, sd, a.reqs[0] == OpReq::kAddTo,
          a.in_grads[0].as<T>());
    }
    const int greq = ReqCode(a.reqs[1]), breq = ReqCode(a.reqs[2]);
    if ((greq != 0 || breq != 0) && g.c > 0) {
      const unsigned grid = static_cast<unsigned>((g.c + 31) / 32);
      ParamGradKernel<T><<<grid, dim3(32, 8), 0, stream>>>(
          x, dy, g, mean, sd, greq, a.in_grads[1].as<T>(), breq, a.in_grads[2].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  });
}

}  // namespace

absl::Status RegisterLayerNormCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = Forward;
  d->gpu_backward = Backward;
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
