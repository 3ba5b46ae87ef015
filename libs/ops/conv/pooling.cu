// Pooling's CUDA kernels: max, avg and sum over NCDHW windows with exactly the CPU kernels'
// rules (pooling.cc), so every convention and padding is covered (cuDNN cannot express
// 'full' windows clipped at data + pad, nor MXNet's tie rule). Windows start at
// o * stride - pad and end at min(start + kernel, in + pad); avg divides by that extent
// (count_include_pad) or by its in-bounds part; max ignores padding (a window wholly in the
// padding gives the lowest value) and routes its gradient to the first maximum in row-major
// order.
//
// Forward: one thread per output. Backward: avg / sum gather per input element (each sums
// the windows that cover it, deterministic); max scatters each output's gradient to its
// argmax with atomicAdd (onto zeros for a write request).
#include <cfloat>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/conv/conv_cuda.cuh"
#include "libs/ops/conv/pool_params.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {
namespace {

constexpr char kOp[] = "Pooling";

enum PoolKind : int { kMax = 0, kAvg = 1, kSum = 2 };

template <typename T> __device__ T Lowest();
template <> __device__ float Lowest<float>() { return -FLT_MAX; }
template <> __device__ double Lowest<double>() { return -DBL_MAX; }

// One axis of a window: [lo, hi) in bounds, `cells` counted by the avg divisor.
struct Axis {
  int64_t lo, hi, cells;
};
__device__ Axis WindowAxis(int64_t o, int64_t s, int64_t pad, int64_t k, int64_t in,
                           bool include_pad) {
  const int64_t a = o * s - pad;
  const int64_t b = min(a + k, in + pad);
  const int64_t lo = max(a, int64_t{0}), hi = min(b, in);
  return {lo, hi, include_pad ? b - a : hi - lo};
}

// Output index -> (plane, oz, oy, ox) and its window.
struct Window {
  int64_t plane;
  Axis z, y, x;
};
__device__ Window WindowOf(const PoolGeom& g, bool include_pad, int64_t oi) {
  int64_t r = oi;
  const int64_t ox = r % g.ow;
  r /= g.ow;
  const int64_t oy = r % g.oh;
  r /= g.oh;
  const int64_t oz = r % g.od;
  Window win;
  win.plane = r / g.od;
  win.z = WindowAxis(oz, g.sd, g.pd, g.kd, g.d, include_pad);
  win.y = WindowAxis(oy, g.sh, g.ph, g.kh, g.h, include_pad);
  win.x = WindowAxis(ox, g.sw, g.pw, g.kw, g.w, include_pad);
  return win;
}

__device__ double Divisor(const Window& win) {
  return static_cast<double>(win.z.cells * win.y.cells * win.x.cells);
}

// Index (in x) of the first maximum of a window in row-major order; -1 for an empty window.
template <typename T>
__device__ int64_t ArgMax(const PoolGeom& g, const T* x, const Window& win) {
  const int64_t base = win.plane * (g.d * g.h * g.w);
  int64_t best = -1;
  T best_v = T(0);
  for (int64_t iz = win.z.lo; iz < win.z.hi; ++iz) {
    for (int64_t iy = win.y.lo; iy < win.y.hi; ++iy) {
      const int64_t row = base + (iz * g.h + iy) * g.w;
      for (int64_t ix = win.x.lo; ix < win.x.hi; ++ix) {
        const T v = x[row + ix];
        if (best < 0 || v > best_v) {
          best = row + ix;
          best_v = v;
        }
      }
    }
  }
  return best;
}

template <typename T>
__global__ void PoolForwardKernel(PoolGeom g, int kind, bool include_pad, const T* x, bool add,
                                  T* y, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(oi, n) {
    const Window win = WindowOf(g, include_pad, oi);
    const int64_t base = win.plane * (g.d * g.h * g.w);
    T acc = kind == kMax ? Lowest<T>() : T(0);
    for (int64_t iz = win.z.lo; iz < win.z.hi; ++iz) {
      for (int64_t iy = win.y.lo; iy < win.y.hi; ++iy) {
        const T* row = x + base + (iz * g.h + iy) * g.w;
        for (int64_t ix = win.x.lo; ix < win.x.hi; ++ix) {
          // std::max(acc, v) as the CPU kernel: v only when acc < v.
          acc = kind == kMax ? (acc < row[ix] ? row[ix] : acc) : acc + row[ix];
        }
      }
    }
    const T v = kind == kAvg ? static_cast<T>(static_cast<double>(acc) / Divisor(win)) : acc;
    y[oi] = add ? y[oi] + v : v;
  }
}

// dx[i] (+)= sum over the windows covering input element i of dy / divisor (avg, sum).
template <typename T>
__global__ void PoolAvgBackwardKernel(PoolGeom g, int kind, bool include_pad, const T* dy,
                                      bool add, T* dx, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    int64_t r = i;
    const int64_t ix = r % g.w;
    r /= g.w;
    const int64_t iy = r % g.h;
    r /= g.h;
    const int64_t iz = r % g.d;
    const int64_t plane = r / g.d;
    // Outputs o whose window [o * s - pad, o * s - pad + k) holds position t - pad.
    auto range = [](int64_t pos, int64_t s, int64_t pad, int64_t k, int64_t out,
                    int64_t* lo, int64_t* hi) {
      const int64_t t = pos + pad;
      *lo = t < k ? 0 : (t - k) / s + 1;
      *hi = min(t / s, out - 1);
    };
    int64_t z0, z1, y0, y1, x0, x1;
    range(iz, g.sd, g.pd, g.kd, g.od, &z0, &z1);
    range(iy, g.sh, g.ph, g.kh, g.oh, &y0, &y1);
    range(ix, g.sw, g.pw, g.kw, g.ow, &x0, &x1);
    double acc = 0;
    for (int64_t oz = z0; oz <= z1; ++oz) {
      for (int64_t oy = y0; oy <= y1; ++oy) {
        for (int64_t ox = x0; ox <= x1; ++ox) {
          const int64_t oi = ((plane * g.od + oz) * g.oh + oy) * g.ow + ox;
          double v = static_cast<double>(dy[oi]);
          if (kind == kAvg) v /= Divisor(WindowOf(g, include_pad, oi));
          acc += v;
        }
      }
    }
    dx[i] = add ? static_cast<T>(dx[i] + acc) : static_cast<T>(acc);
  }
}

// dx[argmax of window oi] += dy[oi] (dx zeroed first for a write request).
template <typename T>
__global__ void PoolMaxBackwardKernel(PoolGeom g, const T* x, const T* dy, T* dx, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(oi, n) {
    const int64_t best = ArgMax(g, x, WindowOf(g, false, oi));
    if (best >= 0) atomicAdd(dx + best, dy[oi]);
  }
}

int KindOf(const PoolParams& p) {
  return p.pool_type == "max" ? kMax : p.pool_type == "avg" ? kAvg : kSum;
}

template <typename T>
absl::Status ForwardT(const OpContext& ctx, const PoolParams& p, const TensorView& x,
                      OpReq req, const TensorView& y) {
  const PoolGeom g = PoolGeomOf(p, x.shape, y.shape);
  const int64_t n = y.size();
  PoolForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      g, KindOf(p), p.count_include_pad, x.as<T>(), req == OpReq::kAddTo, y.as<T>(), n);
  return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
}

template <typename T>
absl::Status BackwardT(const OpContext& ctx, const PoolParams& p, const BackwardArgs& a) {
  const TensorView& dx = a.in_grads[0];
  const TensorView& dy = a.out_grads[0];
  const PoolGeom g = PoolGeomOf(p, a.inputs[0].shape, dy.shape);
  const bool add = a.reqs[0] == OpReq::kAddTo;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int kind = KindOf(p);
  if (kind != kMax) {
    PoolAvgBackwardKernel<T><<<gpu::Blocks(dx.size()), gpu::kThreads, 0, stream>>>(
        g, kind, p.count_include_pad, dy.as<T>(), add, dx.as<T>(), dx.size());
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  }
  if (!add && dx.size() > 0) {
    MXGRID_RETURN_IF_ERROR(gpu::Fill(ctx.ctx.device_id, ctx.stream, dx.data, dx.size(),
                                     sizeof(T), 0));
  }
  PoolMaxBackwardKernel<T><<<gpu::Blocks(dy.size()), gpu::kThreads, 0, stream>>>(
      g, a.inputs[0].as<T>(), dy.as<T>(), dx.as<T>(), dy.size());
  return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
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

absl::Status RegisterPoolingCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = [](const OpContext& ctx, const OpParams& params,
                      absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<PoolParams>(params);
    return Dispatch(in[0].dtype, [&](auto tag) {
      return ForwardT<decltype(tag)>(ctx, p, in[0], reqs[0], out[0]);
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams& params,
                       const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<PoolParams>(params);
    return Dispatch(a.inputs[0].dtype,
                    [&](auto tag) { return BackwardT<decltype(tag)>(ctx, p, a); });
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::conv_internal
