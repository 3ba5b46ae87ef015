// BatchNorm's CUDA kernels, with the CPU kernels' semantics (batch_norm.cc): training
// (is_train and !use_global_stats) normalizes with the batch mean and biased variance and
// updates the moving stats in place (m = m * momentum + batch * (1 - momentum), the biased
// variance too); otherwise the moving stats are used. The hidden outputs are the mean and
// the inverse std 1 / sqrt(var + eps), as on the CPU (cuDNN's running variance is unbiased,
// hence kernels of our own). fix_gamma treats gamma as 1 and gives it a zero gradient.
//
// Each pass is one block per channel reducing in double (statistics, gradient sums; the
// per-channel coefficients go to the thread's workspace), then one elementwise kernel over
// the data (the output, or the data gradient).
#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/conv/bn_params.h"
#include "libs/ops/conv/conv_cuda.cuh"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {
namespace {

constexpr char kOp[] = "BatchNorm";
constexpr int kBlock = 256;  // threads of the per-channel blocks (a multiple of 32)

// Arithmetic of the elementwise kernels: float for float32, double for float64.
template <typename T> struct Acc { using type = T; };

__device__ int64_t ChannelIndex(const BNGeom& g, int64_t ch, int64_t j) {
  return ((j / g.inner) * g.c + ch) * g.inner + j % g.inner;
}

// The sum of `v` over the block, returned to every thread. `shared` holds kBlock / 32 + 1.
__device__ double BlockSum(double v, double* shared) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // earlier readers of `shared` are done
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double t = lane < kBlock / 32 ? shared[lane] : 0.0;
    for (int off = 16; off > 0; off /= 2) t += __shfl_down_sync(0xffffffffu, t, off);
    if (lane == 0) shared[kBlock / 32] = t;
  }
  __syncthreads();
  return shared[kBlock / 32];
}

// Writes `v` to *out as `req` says (0 kNull, 1 kWriteTo, 2 kWriteInplace, 3 kAddTo).
template <typename T>
__device__ void Put(int req, double v, T* out) {
  if (req == static_cast<int>(OpReq::kNull)) return;
  *out = req == static_cast<int>(OpReq::kAddTo) ? static_cast<T>(*out + v) : static_cast<T>(v);
}

// Batch mean and biased variance of channel blockIdx.x (two passes), or the moving ones.
template <typename T>
__device__ void ChannelStats(const BNGeom& g, const T* x, const T* mm, const T* mv, bool batch,
                             double* shared, double* mean, double* var) {
  const int64_t ch = blockIdx.x;
  if (!batch) {
    *mean = static_cast<double>(mm[ch]);
    *var = static_cast<double>(mv[ch]);
    return;
  }
  const int64_t count = g.outer * g.inner;
  double s = 0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) s += x[ChannelIndex(g, ch, j)];
  const double m = BlockSum(s, shared) / static_cast<double>(count);
  double q = 0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const double d = static_cast<double>(x[ChannelIndex(g, ch, j)]) - m;
    q += d * d;
  }
  *mean = m;
  *var = BlockSum(q, shared) / static_cast<double>(count);
}

struct FwdArgs {
  double eps, momentum;
  bool batch, fix_gamma;
  int mean_req, invstd_req;
};

// Per channel: the statistics, the hidden outputs, the moving-stats update, and
// coef[3 ch ..] = (mean, gamma * invstd, beta) for the elementwise pass.
template <typename T>
__global__ void BNForwardStatsKernel(BNGeom g, FwdArgs a, const T* x, const T* gamma,
                                     const T* beta, T* mm, T* mv, T* mean_out, T* invstd_out,
                                     double* coef) {
  __shared__ double shared[kBlock / 32 + 1];
  double m, v;
  ChannelStats(g, x, mm, mv, a.batch, shared, &m, &v);
  if (threadIdx.x != 0) return;
  const int64_t ch = blockIdx.x;
  const double inv = 1.0 / sqrt(v + a.eps);
  const double gm = a.fix_gamma ? 1.0 : static_cast<double>(gamma[ch]);
  coef[3 * ch] = m;
  coef[3 * ch + 1] = gm * inv;
  coef[3 * ch + 2] = static_cast<double>(beta[ch]);
  Put(a.mean_req, static_cast<double>(static_cast<T>(m)), mean_out + ch);
  Put(a.invstd_req, static_cast<double>(static_cast<T>(inv)), invstd_out + ch);
  if (a.batch) {
    mm[ch] = static_cast<T>(static_cast<double>(mm[ch]) * a.momentum + m * (1 - a.momentum));
    mv[ch] = static_cast<T>(static_cast<double>(mv[ch]) * a.momentum + v * (1 - a.momentum));
  }
}

// y = (x - mean) * scale + beta per element, written as `req` says.
template <typename T>
__global__ void BNForwardKernel(BNGeom g, const double* coef, const T* x, int req, T* y,
                                int64_t n) {
  using A = typename Acc<T>::type;
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t ch = (i / g.inner) % g.c;
    const A v = (static_cast<A>(x[i]) - static_cast<A>(coef[3 * ch])) *
                    static_cast<A>(coef[3 * ch + 1]) +
                static_cast<A>(coef[3 * ch + 2]);
    y[i] = req == static_cast<int>(OpReq::kAddTo) ? static_cast<T>(y[i] + v) : static_cast<T>(v);
  }
}

struct BwdArgs {
  double eps;
  bool batch, fix_gamma;
  int dgamma_req, dbeta_req;
};

// Per channel: the statistics the forward used, sum(dy) and sum(dy * xhat), the gamma and
// beta gradients, and coef[4 ch ..] = (mean, gamma * invstd, sum(dy) / n,
// invstd * sum(dy * xhat) / n) for dx = gamma * invstd * (dy - sum(dy) / n -
// xhat * sum(dy * xhat) / n) (training; dx = gamma * invstd * dy with the moving stats).
template <typename T>
__global__ void BNBackwardStatsKernel(BNGeom g, BwdArgs a, const T* x, const T* dy,
                                      const T* gamma, const T* mm, const T* mv, T* dgamma,
                                      T* dbeta, double* coef) {
  __shared__ double shared[kBlock / 32 + 1];
  double m, v;
  ChannelStats(g, x, mm, mv, a.batch, shared, &m, &v);
  const int64_t ch = blockIdx.x;
  const int64_t count = g.outer * g.inner;
  double s_dy = 0, s_dyxm = 0;
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
    const int64_t k = ChannelIndex(g, ch, j);
    const double d = static_cast<double>(dy[k]);
    s_dy += d;
    s_dyxm += d * (static_cast<double>(x[k]) - m);
  }
  s_dy = BlockSum(s_dy, shared);
  s_dyxm = BlockSum(s_dyxm, shared);
  if (threadIdx.x != 0) return;
  const double inv = 1.0 / sqrt(v + a.eps);
  const double gm = a.fix_gamma ? 1.0 : static_cast<double>(gamma[ch]);
  const double s_dy_xhat = s_dyxm * inv;
  const double n = static_cast<double>(count);
  Put(a.dgamma_req, a.fix_gamma ? 0.0 : static_cast<double>(static_cast<T>(s_dy_xhat)),
      dgamma + ch);
  Put(a.dbeta_req, static_cast<double>(static_cast<T>(s_dy)), dbeta + ch);
  coef[4 * ch] = m;
  coef[4 * ch + 1] = gm * inv;
  coef[4 * ch + 2] = a.batch ? s_dy / n : 0.0;
  coef[4 * ch + 3] = a.batch ? inv * s_dy_xhat / n : 0.0;
}

template <typename T>
__global__ void BNBackwardKernel(BNGeom g, const double* coef, const T* x, const T* dy, int req,
                                 T* dx, int64_t n) {
  using A = typename Acc<T>::type;
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t ch = (i / g.inner) % g.c;
    const double* k = coef + 4 * ch;
    const A centered = static_cast<A>(dy[i]) - static_cast<A>(k[2]) -
                       (static_cast<A>(x[i]) - static_cast<A>(k[0])) * static_cast<A>(k[3]);
    const A v = static_cast<A>(k[1]) * centered;
    dx[i] = req == static_cast<int>(OpReq::kAddTo) ? static_cast<T>(dx[i] + v)
                                                   : static_cast<T>(v);
  }
}

template <typename T>
absl::Status ForwardT(const OpContext& ctx, const BNParams& p, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const BNGeom g = BNGeomOf(p, in[0].shape);
  if (g.c == 0) return absl::OkStatus();
  const int device = ctx.ctx.device_id;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, 3 * g.c * sizeof(double)));
  double* coef = static_cast<double*>(ws);
  const FwdArgs a{p.eps, p.momentum, ctx.is_train && !p.use_global_stats, p.fix_gamma,
                  static_cast<int>(reqs[1]), static_cast<int>(reqs[2])};
  BNForwardStatsKernel<T><<<static_cast<unsigned>(g.c), kBlock, 0, stream>>>(
      g, a, in[0].as<T>(), in[1].as<T>(), in[2].as<T>(), in[3].as<T>(), in[4].as<T>(),
      out[1].as<T>(), out[2].as<T>(), coef);
  if (reqs[0] != OpReq::kNull) {
    const int64_t n = in[0].size();
    BNForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
        g, coef, in[0].as<T>(), static_cast<int>(reqs[0]), out[0].as<T>(), n);
  }
  return gpu::LaunchStatus(device, kOp);
}

template <typename T>
absl::Status BackwardT(const OpContext& ctx, const BNParams& p, const BackwardArgs& a) {
  const bool want_x = a.reqs[0] != OpReq::kNull;
  if (!want_x && a.reqs[1] == OpReq::kNull && a.reqs[2] == OpReq::kNull) {
    return absl::OkStatus();
  }
  const BNGeom g = BNGeomOf(p, a.inputs[0].shape);
  if (g.c == 0) return absl::OkStatus();
  const int device = ctx.ctx.device_id;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, 4 * g.c * sizeof(double)));
  double* coef = static_cast<double*>(ws);
  const BwdArgs args{p.eps, ctx.is_train && !p.use_global_stats, p.fix_gamma,
                     static_cast<int>(a.reqs[1]), static_cast<int>(a.reqs[2])};
  BNBackwardStatsKernel<T><<<static_cast<unsigned>(g.c), kBlock, 0, stream>>>(
      g, args, a.inputs[0].as<T>(), a.out_grads[0].as<T>(), a.inputs[1].as<T>(),
      a.inputs[3].as<T>(), a.inputs[4].as<T>(), a.in_grads[1].as<T>(), a.in_grads[2].as<T>(),
      coef);
  if (want_x) {
    const int64_t n = a.inputs[0].size();
    BNBackwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
        g, coef, a.inputs[0].as<T>(), a.out_grads[0].as<T>(), static_cast<int>(a.reqs[0]),
        a.in_grads[0].as<T>(), n);
  }
  return gpu::LaunchStatus(device, kOp);
}

template <typename Fn>
absl::Status Dispatch(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(float{});
    case DType::kFloat64:
      return fn(double{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": no CUDA kernel for ", DTypeName(dtype), " arrays"));
  }
}

}  // namespace

absl::Status RegisterBatchNormCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<BNParams>(params);
    return Dispatch(in[0].dtype, [&](auto tag) {
      return ForwardT<decltype(tag)>(ctx, p, in, reqs, out);
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<BNParams>(params);
    return Dispatch(a.inputs[0].dtype,
                    [&](auto tag) { return BackwardT<decltype(tag)>(ctx, p, a); });
  };
  // float16 data has float32 parameters (InferBNType): such calls run on host copies.
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
