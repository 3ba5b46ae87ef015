// InstanceNorm, L2Normalization, LRN and UpSampling (nearest) on the GPU (float32/float64),
// as instance_l2_norm.cc, lrn.cc and upsampling.cc compute them.
//
// InstanceNorm / L2Normalization: the CPU's NormView groups; one block per group reduces its
// mean and variance (or sum of squares) in double, kept in the thread's workspace; then the
// output elementwise and the hidden outputs per group. Backward: one block per group for dx,
// one block per channel for InstanceNorm's gamma/beta gradients (sums over n and the group).
// LRN: one thread per element sums its channel window (double); backward keeps norm and
// dy x norm^(-beta-1) of every element in the workspace, then sums the window again.
// UpSampling: one launch per input. concat writes each input's channel block; sum adds the
// inputs in order in a workspace buffer, then stores it; backward gathers each input
// element's scale x scale block of the head gradient (in the CPU's row-major order).
#include <cuda_runtime.h>

#include <cstdint>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr int kRowThreads = 256;

unsigned RowBlocks(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : rows > 65535 ? 65535 : rows);
}

// ---------------------------------------------------------------------------------------
// InstanceNorm and L2Normalization.

// NormView on the device; channels: InstanceNorm's C (a group's channel is g % channels),
// 1 for L2Normalization.
struct NGeo {
  int64_t outer = 1, length = 1, stride = 1, channels = 1;
  bool l2 = false;
  __device__ __forceinline__ int64_t groups() const { return outer * stride; }
  __device__ __forceinline__ int64_t At(int64_t g, int64_t j) const {
    return ((g / stride) * length + j) * stride + g % stride;
  }
  // The group of element k.
  __device__ __forceinline__ int64_t GroupOf(int64_t k) const {
    return (k / (length * stride)) * stride + k % stride;
  }
};

NGeo NormGeometry(const NormParams& p, const NormView& v, const Shape& s) {
  NGeo g;
  g.outer = v.outer;
  g.length = v.length;
  g.stride = v.stride;
  g.channels = p.l2 ? 1 : s[1];
  g.l2 = p.l2;
  return g;
}

// mean[g] and var[g] (L2: 0 and the sum of squares); one block per group.
template <typename T>
__global__ void NormStatsKernel(const T* x, NGeo g, double* mean, double* var) {
  __shared__ double scratch[32];
  for (int64_t grp = blockIdx.x; grp < g.groups(); grp += gridDim.x) {
    double m = 0;
    if (!g.l2) {
      double s = 0;
      for (int64_t j = threadIdx.x; j < g.length; j += blockDim.x) s += x[g.At(grp, j)];
      m = cu::BlockAllReduce(s, cu::SumOp(), 0.0, scratch) / static_cast<double>(g.length);
    }
    double q = 0;
    for (int64_t j = threadIdx.x; j < g.length; j += blockDim.x) {
      const double d = x[g.At(grp, j)] - m;
      q += d * d;
    }
    q = cu::BlockAllReduce(q, cu::SumOp(), 0.0, scratch);
    if (threadIdx.x == 0) {
      mean[grp] = m;
      var[grp] = g.l2 ? q : q / static_cast<double>(g.length);
    }
  }
}

template <typename T>
__global__ void NormOutputKernel(const T* x, const T* gamma, const T* beta, NGeo g, double eps,
                                 const double* mean, const double* var, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.groups() * g.length) {
    const int64_t grp = g.GroupOf(k);
    const double sd = sqrt(var[grp] + eps);
    const double scale = g.l2 ? 1.0 : static_cast<double>(gamma[grp % g.channels]);
    const double shift = g.l2 ? 0.0 : static_cast<double>(beta[grp % g.channels]);
    cu::Put(add, y, k, static_cast<T>((x[k] - mean[grp]) / sd * scale + shift));
  }
}

// L2: norm = sd; InstanceNorm: mean (which 0) or var (which 1).
template <typename T>
__global__ void NormMomentKernel(const double* mean, const double* var, int64_t groups,
                                 double eps, int which, bool l2, bool add, T* dst) {
  MXGRID_CUDA_KERNEL_LOOP(grp, groups) {
    const double v = l2 ? sqrt(var[grp] + eps) : which == 0 ? mean[grp] : var[grp];
    cu::Put(add, dst, grp, static_cast<T>(v));
  }
}

// dx of every group; one block per group.
template <typename T>
__global__ void NormDataGradKernel(const T* x, const T* gamma, const T* dy, NGeo g, double eps,
                                   const double* mean, const double* var, bool add, T* dx) {
  __shared__ double scratch[32];
  for (int64_t grp = blockIdx.x; grp < g.groups(); grp += gridDim.x) {
    const double sd = sqrt(var[grp] + eps);
    const double scale = g.l2 ? 1.0 : static_cast<double>(gamma[grp % g.channels]);
    double m1 = 0, m2 = 0;
    for (int64_t j = threadIdx.x; j < g.length; j += blockDim.x) {
      const int64_t k = g.At(grp, j);
      const double xhat = (x[k] - mean[grp]) / sd;
      const double dxhat = dy[k] * scale;
      m1 += dxhat;
      m2 += dxhat * xhat;
    }
    m1 = cu::BlockAllReduce(m1, cu::SumOp(), 0.0, scratch);
    m2 = cu::BlockAllReduce(m2, cu::SumOp(), 0.0, scratch);
    // L2: y = x / sd with sd^2 = sum x^2 + eps, so dx = (dy - y * sum(dy y)) / sd.
    const double n = g.l2 ? 1.0 : static_cast<double>(g.length);
    if (g.l2) m1 = 0;
    for (int64_t j = threadIdx.x; j < g.length; j += blockDim.x) {
      const int64_t k = g.At(grp, j);
      const double xhat = (x[k] - mean[grp]) / sd;
      const double dxhat = dy[k] * scale;
      cu::Put(add, dx, k, static_cast<T>((dxhat - m1 / n - xhat * m2 / n) / sd));
    }
  }
}

// InstanceNorm's dgamma[c] = sum dy xhat and dbeta[c] = sum dy over the groups n * C + c;
// one block per channel. Reqs: 0 kNull, 1 write, 2 add.
template <typename T>
__global__ void NormParamGradKernel(const T* x, const T* dy, NGeo g, double eps,
                                    const double* mean, const double* var, int gamma_req,
                                    T* dgamma, int beta_req, T* dbeta) {
  __shared__ double scratch[32];
  const int64_t batch = g.groups() / g.channels;
  for (int64_t c = blockIdx.x; c < g.channels; c += gridDim.x) {
    double sg = 0, sb = 0;
    for (int64_t q = threadIdx.x; q < batch * g.length; q += blockDim.x) {
      const int64_t grp = (q / g.length) * g.channels + c;
      const int64_t k = g.At(grp, q % g.length);
      const double xhat = (x[k] - mean[grp]) / sqrt(var[grp] + eps);
      sg += dy[k] * xhat;
      sb += dy[k];
    }
    sg = cu::BlockAllReduce(sg, cu::SumOp(), 0.0, scratch);
    sb = cu::BlockAllReduce(sb, cu::SumOp(), 0.0, scratch);
    if (threadIdx.x == 0) {
      if (gamma_req != 0) cu::Put(gamma_req == 2, dgamma, c, static_cast<T>(sg));
      if (beta_req != 0) cu::Put(beta_req == 2, dbeta, c, static_cast<T>(sb));
    }
  }
}

// 0: kNull, 1: write, 2: add.
int ReqCode(OpReq r) { return r == OpReq::kNull ? 0 : r == OpReq::kAddTo ? 2 : 1; }

// The workspace's mean and var arrays (groups doubles each), filled for x.
template <typename T>
absl::StatusOr<double*> NormStats(const OpContext& ctx, const NGeo& g, const T* x) {
  const int64_t groups = g.outer * g.stride;
  MXGRID_ASSIGN_OR_RETURN(
      void* ws, gpu::ThreadWorkspace(ctx.ctx.device_id, 2 * sizeof(double) * (groups + 1)));
  double* mean = static_cast<double*>(ws);
  if (groups > 0) {
    NormStatsKernel<T><<<RowBlocks(groups), kRowThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        x, g, mean, mean + groups);
  }
  return mean;
}

absl::Status NormForward(const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<NormParams>(params);
  const char* op = NormName(p);
  MXGRID_ASSIGN_OR_RETURN(const NormView v, NormViewOf(p, in[0].shape));
  const NGeo g = NormGeometry(p, v, in[0].shape);
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(op, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t groups = g.outer * g.stride, n = groups * g.length;
    MXGRID_ASSIGN_OR_RETURN(double* mean, NormStats<T>(ctx, g, in[0].as<T>()));
    const double* var = mean + groups;
    const T* gamma = p.l2 ? nullptr : in[1].as<T>();
    const T* beta = p.l2 ? nullptr : in[2].as<T>();
    if (reqs[0] != OpReq::kNull && n > 0) {
      NormOutputKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
          in[0].as<T>(), gamma, beta, g, p.eps, mean, var, reqs[0] == OpReq::kAddTo,
          out[0].as<T>());
    }
    for (int k = 1; k < (p.l2 ? 2 : 3); ++k) {
      if (reqs[k] == OpReq::kNull || groups == 0) continue;
      NormMomentKernel<T><<<gpu::Blocks(groups), gpu::kThreads, 0, stream>>>(
          mean, var, groups, p.eps, k - 1, p.l2, reqs[k] == OpReq::kAddTo, out[k].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status NormBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<NormParams>(params);
  const char* op = NormName(p);
  MXGRID_ASSIGN_OR_RETURN(const NormView v, NormViewOf(p, a.inputs[0].shape));
  const NGeo g = NormGeometry(p, v, a.inputs[0].shape);
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(op, a.inputs[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t groups = g.outer * g.stride;
    const T* x = a.inputs[0].as<T>();
    const T* dy = a.out_grads[0].as<T>();
    const T* gamma = p.l2 ? nullptr : a.inputs[1].as<T>();
    MXGRID_ASSIGN_OR_RETURN(double* mean, NormStats<T>(ctx, g, x));
    const double* var = mean + groups;
    if (a.reqs[0] != OpReq::kNull && groups > 0) {
      NormDataGradKernel<T><<<RowBlocks(groups), kRowThreads, 0, stream>>>(
          x, gamma, dy, g, p.eps, mean, var, a.reqs[0] == OpReq::kAddTo, a.in_grads[0].as<T>());
    }
    if (!p.l2) {
      const int greq = ReqCode(a.reqs[1]), breq = ReqCode(a.reqs[2]);
      if ((greq != 0 || breq != 0) && g.channels > 0) {
        NormParamGradKernel<T><<<RowBlocks(g.channels), kRowThreads, 0, stream>>>(
            x, dy, g, p.eps, mean, var, greq, a.in_grads[1].as<T>(), breq,
            a.in_grads[2].as<T>());
      }
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// ---------------------------------------------------------------------------------------
// LRN.

constexpr char kLrn[] = "LRN";

struct LrnGeo {
  int64_t n = 0, c = 0, hw = 0, half = 0;
  double knorm = 2, salpha = 0, beta = 0.75;
};

// lrn.cc's norm of element k: knorm + alpha / nsize * sum of x^2 over the channel window.
template <typename T>
__device__ __forceinline__ double LrnNorm(const T* x, const LrnGeo& g, int64_t k) {
  const int64_t i = k % g.hw, ch = (k / g.hw) % g.c, n = k / (g.hw * g.c);
  const int64_t lo = ch - g.half < 0 ? 0 : ch - g.half;
  const int64_t hi = ch + g.half > g.c - 1 ? g.c - 1 : ch + g.half;
  double sum = 0;
  for (int64_t kk = lo; kk <= hi; ++kk) {
    const double v = x[(n * g.c + kk) * g.hw + i];
    sum += v * v;
  }
  return g.knorm + g.salpha * sum;
}

template <typename T>
__global__ void LrnForwardKernel(const T* x, LrnGeo g, int out_req, T* y, int norm_req,
                                 T* norm_out) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.n * g.c * g.hw) {
    const double norm = LrnNorm(x, g, k);
    if (out_req != 0) cu::Put(out_req == 2, y, k, static_cast<T>(x[k] * pow(norm, -g.beta)));
    if (norm_req != 0) cu::Put(norm_req == 2, norm_out, k, static_cast<T>(norm));
  }
}

// norm[k] and t[k] = dy x norm^(-beta-1) of every element.
template <typename T>
__global__ void LrnPrepareKernel(const T* x, const T* dy, LrnGeo g, double* norm, double* t) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.n * g.c * g.hw) {
    norm[k] = LrnNorm(x, g, k);
    t[k] = dy[k] * x[k] * pow(norm[k], -g.beta - 1);
  }
}

template <typename T>
__global__ void LrnBackwardKernel(const T* x, const T* dy, LrnGeo g, const double* norm,
                                  const double* t, bool add, T* dx) {
  MXGRID_CUDA_KERNEL_LOOP(j, g.n * g.c * g.hw) {
    const int64_t i = j % g.hw, ch = (j / g.hw) % g.c, n = j / (g.hw * g.c);
    const int64_t lo = ch - g.half < 0 ? 0 : ch - g.half;
    const int64_t hi = ch + g.half > g.c - 1 ? g.c - 1 : ch + g.half;
    double sum = 0;
    for (int64_t kk = lo; kk <= hi; ++kk) sum += t[(n * g.c + kk) * g.hw + i];
    const double grad = dy[j] * pow(norm[j], -g.beta) - 2 * g.beta * g.salpha * x[j] * sum;
    cu::Put(add, dx, j, static_cast<T>(grad));
  }
}

LrnGeo LrnGeometry(const LRNParams& p, const Shape& s) {
  LrnGeo g;
  g.n = s[0];
  g.c = s[1];
  g.hw = s[2] * s[3];
  g.half = p.nsize / 2;
  g.knorm = p.knorm;
  g.salpha = p.alpha / static_cast<double>(p.nsize);
  g.beta = p.beta;
  return g;
}

absl::Status CheckLrnShape(const Shape& s) {
  if (s.ndim() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(kLrn, ": data must be 4-D (N, C, H, W), got ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::Status LrnForward(const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<LRNParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckLrnShape(in[0].shape));
  const LrnGeo g = LrnGeometry(p, in[0].shape);
  return DispatchFloat(kLrn, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = in[0].size();
    if (n == 0 || (reqs[0] == OpReq::kNull && reqs[1] == OpReq::kNull)) {
      return absl::OkStatus();
    }
    LrnForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        in[0].as<T>(), g, ReqCode(reqs[0]), out[0].as<T>(), ReqCode(reqs[1]), out[1].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kLrn);
  });
}

absl::Status LrnBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<LRNParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  MXGRID_RETURN_IF_ERROR(CheckLrnShape(a.inputs[0].shape));
  const LrnGeo g = LrnGeometry(p, a.inputs[0].shape);
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(kLrn, a.inputs[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = a.inputs[0].size();
    if (n == 0) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(void* ws,
                            gpu::ThreadWorkspace(ctx.ctx.device_id, 2 * sizeof(double) * n));
    double* norm = static_cast<double*>(ws);
    double* t = norm + n;
    const T* x = a.inputs[0].as<T>();
    const T* dy = a.out_grads[0].as<T>();
    LrnPrepareKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(x, dy, g, norm, t);
    LrnBackwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
        x, dy, g, norm, t, a.reqs[0] == OpReq::kAddTo, a.in_grads[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kLrn);
  });
}

// ---------------------------------------------------------------------------------------
// UpSampling (nearest).

constexpr char kUp[] = "UpSampling";

// One input (n, c, h, w) and the output (n, oc, oh, ow); the input's channels are the
// output's c_base.. (sum: c_base 0).
struct UpGeo {
  int64_t n = 0, c = 0, h = 1, w = 1, oc = 0, oh = 0, ow = 0, c_base = 0;
  __device__ __forceinline__ int64_t sy() const { return oh / h; }
  __device__ __forceinline__ int64_t sx() const { return ow / w; }
};

UpGeo UpGeometry(const Shape& s, const Shape& o, int64_t c_base) {
  return UpGeo{s[0], s[1], s[2], s[3], o[1], o[2], o[3], c_base};
}

// concat: each output element of the input's channel block (T(0) + its source).
template <typename T>
__global__ void UpConcatKernel(const T* x, UpGeo g, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.n * g.c * g.oh * g.ow) {
    const int64_t xx = k % g.ow, yy = (k / g.ow) % g.oh;
    const int64_t ch = (k / (g.ow * g.oh)) % g.c, nn = k / (g.ow * g.oh * g.c);
    const T v = x[((nn * g.c + ch) * g.h + yy / g.sy()) * g.w + xx / g.sx()];
    T acc = T(0);
    acc += v;
    cu::Put(add, y, ((nn * g.oc + g.c_base + ch) * g.oh + yy) * g.ow + xx, acc);
  }
}

// sum: acc[k] = (first ? 0 : acc[k]) + the input's source of k.
template <typename T>
__global__ void UpSumKernel(const T* x, UpGeo g, bool first, T* acc) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.n * g.oc * g.oh * g.ow) {
    const int64_t xx = k % g.ow, yy = (k / g.ow) % g.oh;
    const int64_t ch = (k / (g.ow * g.oh)) % g.oc, nn = k / (g.ow * g.oh * g.oc);
    const T v = x[((nn * g.c + ch) * g.h + yy / g.sy()) * g.w + xx / g.sx()];
    T a = first ? T(0) : acc[k];
    a += v;
    acc[k] = a;
  }
}

template <typename T>
__global__ void StoreKernel(const T* src, int64_t n, bool add, T* dst) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { cu::Put(add, dst, k, src[k]); }
}

// dx of one input: the sum of its sy x sx block of dy (rows, then columns).
template <typename T>
__global__ void UpBackwardKernel(const T* dy, UpGeo g, bool add, T* dx) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.n * g.c * g.h * g.w) {
    const int64_t xx = k % g.w, yy = (k / g.w) % g.h;
    const int64_t ch = (k / (g.w * g.h)) % g.c, nn = k / (g.w * g.h * g.c);
    const int64_t sy = g.sy(), sx = g.sx();
    T acc = T(0);
    for (int64_t y = yy * sy; y < (yy + 1) * sy; ++y) {
      const int64_t row = ((nn * g.oc + g.c_base + ch) * g.oh + y) * g.ow;
      for (int64_t x = xx * sx; x < (xx + 1) * sx; ++x) acc += dy[row + x];
    }
    cu::Put(add, dx, k, acc);
  }
}

absl::Status UpForward(const OpContext& ctx, const OpParams& params,
                       absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                       absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<UpParams>(params);
  if (p.bilinear) return absl::InvalidArgumentError("UpSampling: bilinear is not supported");
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const bool add = reqs[0] == OpReq::kAddTo;
  return DispatchFloat(kUp, out[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = out[0].size();
    if (n == 0) return absl::OkStatus();
    if (!p.sum) {
      int64_t c_base = 0;
      for (const TensorView& x : in) {
        const UpGeo g = UpGeometry(x.shape, out[0].shape, c_base);
        const int64_t m = g.n * g.c * g.oh * g.ow;
        if (m > 0) {
          UpConcatKernel<T><<<gpu::Blocks(m), gpu::kThreads, 0, stream>>>(x.as<T>(), g, add,
                                                                           out[0].as<T>());
        }
        c_base += x.shape[1];
      }
      return gpu::LaunchStatus(ctx.ctx.device_id, kUp);
    }
    MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(ctx.ctx.device_id, sizeof(T) * n));
    T* acc = static_cast<T*>(ws);
    for (size_t i = 0; i < in.size(); ++i) {
      const UpGeo g = UpGeometry(in[i].shape, out[0].shape, 0);
      UpSumKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(in[i].as<T>(), g, i == 0,
                                                                    acc);
    }
    StoreKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(acc, n, add, out[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kUp);
  });
}

absl::Status UpBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<UpParams>(params);
  if (p.bilinear) return absl::InvalidArgumentError("UpSampling: bilinear is not supported");
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(kUp, a.out_grads[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    int64_t c_base = 0;
    for (size_t i = 0; i < a.in_grads.size(); ++i) {
      const TensorView& dx = a.in_grads[i];
      const UpGeo g = UpGeometry(dx.shape, a.out_grads[0].shape, p.sum ? 0 : c_base);
      c_base += dx.shape[1];
      if (a.reqs[i] == OpReq::kNull || dx.size() == 0) continue;
      UpBackwardKernel<T><<<gpu::Blocks(dx.size()), gpu::kThreads, 0, stream>>>(
          a.out_grads[0].as<T>(), g, a.reqs[i] == OpReq::kAddTo, dx.as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, kUp);
  });
}

}  // namespace

absl::Status RegisterNormUpSamplingCuda(Registry* registry) {
  for (const char* name : {"InstanceNorm", "L2Normalization"}) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
    d->gpu_forward = NormForward;
    d->gpu_backward = NormBackward;
    d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  }
  MXGRID_ASSIGN_OR_RETURN(OpDef * lrn, registry->FindMutable(kLrn));
  lrn->gpu_forward = LrnForward;
  lrn->gpu_backward = LrnBackward;
  lrn->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  MXGRID_ASSIGN_OR_RETURN(OpDef * up, registry->FindMutable(kUp));
  up->gpu_forward = UpForward;
  up->gpu_backward = UpBackward;
  up->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
