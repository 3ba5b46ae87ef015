// Pad, SequenceMask, SequenceLast and SequenceReverse on the GPU (float32/float64), as
// pad.cc and sequence_ops.cc compute them. Each forward output element copies one data
// element (or is the constant / mask value): one thread per output element. Backward gathers
// instead of scattering: one thread per data element sums the head gradients of the output
// elements that copied it, in the CPU's (ascending output) order, so the sums round alike.
// Pad's data is viewed as (N * C, D, H, W) with D = 1 for 4-D data.
//
// SequenceLast and SequenceReverse with sequence_length must refuse a length outside
// [1, max_len] / [0, max_len] as the CPU does: the (batch,) lengths are read back to the host
// for that check (one small synchronizing copy per call). SequenceMask takes any length and
// reads them on the device only.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

// ---------------------------------------------------------------------------------------
// Pad.

constexpr char kPad[] = "Pad";

enum PadMode : int { kConstant = 0, kEdge = 1, kReflect = 2 };

// Spatial axes d (0: depth, 1: height, 2: width) of the (N * C, D, H, W) view.
struct PadGeo {
  int64_t nc = 1;
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t before[3] = {0, 0, 0};
  int mode = kConstant;
};

PadGeo PadGeometry(const PadParams& p, const Shape& s) {
  PadGeo g;
  g.nc = s[0] * s[1];
  g.mode = p.mode == "edge" ? kEdge : p.mode == "reflect" ? kReflect : kConstant;
  const int first = 5 - s.ndim();  // 4-D data: no depth axis
  for (int a = 2; a < s.ndim(); ++a) {
    const int d = a - 2 + first;
    g.in[d] = s[a];
    g.before[d] = p.pad[2 * a];
    g.out[d] = s[a] + p.pad[2 * a] + p.pad[2 * a + 1];
  }
  return g;
}

// pad.cc's SourceIndex: the data coordinate of padded position j (-1: the constant).
__device__ __forceinline__ int64_t PadSource(int mode, int64_t j, int64_t before, int64_t n) {
  const int64_t i = j - before;
  if (i >= 0 && i < n) return i;
  if (mode == kConstant) return -1;
  if (mode == kEdge) return i < 0 ? 0 : n - 1;
  return i < 0 ? -i : 2 * (n - 1) - i;  // reflect (pads < n)
}

// The padded positions along one axis whose source is i, as up to 3 ascending ranges
// [lo[r], hi[r]] (before the data, the data itself, after it); returns how many.
__device__ __forceinline__ int PadTargets(int mode, int64_t i, int64_t before, int64_t n,
                                          int64_t out, int64_t* lo, int64_t* hi) {
  const int64_t after = out - before - n;
  int r = 0;
  if (mode == kEdge && i == 0 && before > 0) {
    lo[r] = 0;
    hi[r++] = before - 1;
  }
  if (mode == kReflect && i >= 1 && i <= before) {
    lo[r] = hi[r] = before - i;
    ++r;
  }
  lo[r] = hi[r] = before + i;
  ++r;
  if (mode == kEdge && i == n - 1 && after > 0) {
    lo[r] = before + n;
    hi[r++] = out - 1;
  }
  if (mode == kReflect && i <= n - 2 && i >= n - 1 - after) {
    lo[r] = hi[r] = before + 2 * (n - 1) - i;
    ++r;
  }
  return r;
}

template <typename T>
__global__ void PadForwardKernel(const T* x, PadGeo g, T value, bool add, T* y) {
  const int64_t n = g.nc * g.out[0] * g.out[1] * g.out[2];
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const int64_t w = k % g.out[2], h = (k / g.out[2]) % g.out[1];
    const int64_t d = (k / (g.out[2] * g.out[1])) % g.out[0];
    const int64_t c = k / (g.out[2] * g.out[1] * g.out[0]);
    const int64_t sd = PadSource(g.mode, d, g.before[0], g.in[0]);
    const int64_t sh = PadSource(g.mode, h, g.before[1], g.in[1]);
    const int64_t sw = PadSource(g.mode, w, g.before[2], g.in[2]);
    const T v = sd < 0 || sh < 0 || sw < 0 ? value
                                           : x[((c * g.in[0] + sd) * g.in[1] + sh) * g.in[2] + sw];
    cu::Put(add, y, k, v);
  }
}

template <typename T>
__global__ void PadBackwardKernel(const T* dy, PadGeo g, bool add, T* dx) {
  const int64_t n = g.nc * g.in[0] * g.in[1] * g.in[2];
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const int64_t w = k % g.in[2], h = (k / g.in[2]) % g.in[1];
    const int64_t d = (k / (g.in[2] * g.in[1])) % g.in[0];
    const int64_t c = k / (g.in[2] * g.in[1] * g.in[0]);
    int64_t lo[3][3], hi[3][3];
    const int nd = PadTargets(g.mode, d, g.before[0], g.in[0], g.out[0], lo[0], hi[0]);
    const int nh = PadTargets(g.mode, h, g.before[1], g.in[1], g.out[1], lo[1], hi[1]);
    const int nw = PadTargets(g.mode, w, g.before[2], g.in[2], g.out[2], lo[2], hi[2]);
    T acc = T(0);
    for (int rd = 0; rd < nd; ++rd) {
      for (int64_t jd = lo[0][rd]; jd <= hi[0][rd]; ++jd) {
        for (int rh = 0; rh < nh; ++rh) {
          for (int64_t jh = lo[1][rh]; jh <= hi[1][rh]; ++jh) {
            const int64_t row = ((c * g.out[0] + jd) * g.out[1] + jh) * g.out[2];
            for (int rw = 0; rw < nw; ++rw) {
              for (int64_t jw = lo[2][rw]; jw <= hi[2][rw]; ++jw) acc += dy[row + jw];
            }
          }
        }
      }
    }
    cu::Put(add, dx, k, acc);
  }
}

absl::Status PadForward(const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<PadParams>(params);
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  MXGRID_RETURN_IF_ERROR(CheckPad(p, in[0].shape));
  const PadGeo g = PadGeometry(p, in[0].shape);
  return DispatchFloat(kPad, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = out[0].size();
    if (n == 0) return absl::OkStatus();
    PadForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        in[0].as<T>(), g, static_cast<T>(p.value), reqs[0] == OpReq::kAddTo, out[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kPad);
  });
}

absl::Status PadBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<PadParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& dx = a.in_grads[0];
  MXGRID_RETURN_IF_ERROR(CheckPad(p, dx.shape));
  const PadGeo g = PadGeometry(p, dx.shape);
  return DispatchFloat(kPad, dx.dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = dx.size();
    if (n == 0) return absl::OkStatus();
    PadBackwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.out_grads[0].as<T>(), g, a.reqs[0] == OpReq::kAddTo, dx.as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kPad);
  });
}

// ---------------------------------------------------------------------------------------
// SequenceMask, SequenceLast, SequenceReverse.

// data (max_len, batch, rest) for axis 0, (batch, max_len, rest) for axis 1; len: each
// sequence's length (null: every sequence is max_len).
struct SeqGeo {
  int64_t t_len = 0, batch = 0, rest = 1;
  int axis = 0;
  const int64_t* len = nullptr;

  __device__ __forceinline__ int64_t Offset(int64_t t, int64_t b, int64_t r) const {
    return (axis == 0 ? t * batch + b : b * t_len + t) * rest + r;
  }
  // (t, b, r) of data element k.
  __device__ __forceinline__ void Split(int64_t k, int64_t* t, int64_t* b, int64_t* r) const {
    *r = k % rest;
    const int64_t q = k / rest;
    if (axis == 0) {
      *b = q % batch;
      *t = q / batch;
    } else {
      *t = q % t_len;
      *b = q / t_len;
    }
  }
  __device__ __forceinline__ int64_t Length(int64_t b) const {
    return len == nullptr ? t_len : len[b];
  }
};

// sequence_ops.cc's reading of a length: truncated toward zero, saturating, NaN 0.
template <typename L>
__global__ void LengthsKernel(const L* lengths, int64_t batch, int64_t* len) {
  MXGRID_CUDA_KERNEL_LOOP(b, batch) {
    const double v = static_cast<double>(lengths[b]);
    len[b] = v != v ? 0 : v > 9e18 ? INT64_MAX : v < -9e18 ? INT64_MIN : static_cast<int64_t>(v);
  }
}

template <typename T>
__global__ void SeqForwardKernel(const T* x, SeqGeo g, SeqKind kind, T value, bool add, T* y) {
  if (kind == SeqKind::kLast) {
    MXGRID_CUDA_KERNEL_LOOP(k, g.batch * g.rest) {
      const int64_t b = k / g.rest, r = k % g.rest;
      cu::Put(add, y, k, x[g.Offset(g.Length(b) - 1, b, r)]);
    }
    return;
  }
  MXGRID_CUDA_KERNEL_LOOP(k, g.t_len * g.batch * g.rest) {
    int64_t t, b, r;
    g.Split(k, &t, &b, &r);
    const int64_t len = g.Length(b);
    T v;
    if (kind == SeqKind::kMask) {
      v = t >= len ? value : x[k];
    } else {
      v = t < len ? x[g.Offset(len - 1 - t, b, r)] : x[k];
    }
    cu::Put(add, y, k, v);
  }
}

// dx of every data element: the head gradient of the one output element that copied it,
// if any (the CPU's 0 + dy).
template <typename T>
__global__ void SeqBackwardKernel(const T* dy, SeqGeo g, SeqKind kind, bool add, T* dx) {
  MXGRID_CUDA_KERNEL_LOOP(k, g.t_len * g.batch * g.rest) {
    int64_t t, b, r;
    g.Split(k, &t, &b, &r);
    const int64_t len = g.Length(b);
    T acc = T(0);
    if (kind == SeqKind::kMask) {
      if (t < len) acc += dy[k];
    } else if (kind == SeqKind::kLast) {
      if (t == len - 1) acc += dy[b * g.rest + r];
    } else {
      acc += t < len ? dy[g.Offset(len - 1 - t, b, r)] : dy[k];
    }
    cu::Put(add, dx, k, acc);
  }
}

// The geometry of data shaped `s`, with the lengths (when `lengths` is given) converted into
// the thread's workspace and, for SequenceLast/SequenceReverse, checked as sequence_ops.cc's
// Map checks them (InvalidArgument naming the first bad one).
absl::StatusOr<SeqGeo> SeqGeometry(const OpContext& ctx, const SeqParams& p, const Shape& s,
                                   const TensorView* lengths) {
  const char* op = SeqName(p.kind);
  SeqGeo g;
  g.axis = static_cast<int>(p.axis);
  g.t_len = s[g.axis];
  g.batch = s[g.axis == 0 ? 1 : 0];
  g.rest = s.ProdRange(2, s.ndim());
  std::vector<int64_t> host(static_cast<size_t>(g.batch), g.t_len);
  if (lengths != nullptr && g.batch > 0) {
    MXGRID_ASSIGN_OR_RETURN(
        void* ws, gpu::ThreadWorkspace(ctx.ctx.device_id, sizeof(int64_t) * g.batch));
    int64_t* len = static_cast<int64_t*>(ws);
    MXGRID_RETURN_IF_ERROR(DispatchFloat(op, lengths->dtype, [&](auto tag) -> absl::Status {
      using L = typename decltype(tag)::type;
      LengthsKernel<L><<<gpu::Blocks(g.batch), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          lengths->as<L>(), g.batch, len);
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    }));
    g.len = len;
    if (p.kind != SeqKind::kMask) {
      MXGRID_RETURN_IF_ERROR(gpu::CopyDeviceToHost(ctx.ctx.device_id, ctx.stream, host.data(),
                                                   len, sizeof(int64_t) * g.batch));
    }
  }
  for (int64_t b = 0; b < g.batch && p.kind != SeqKind::kMask; ++b) {
    const int64_t lo = p.kind == SeqKind::kLast ? 1 : 0;
    if (host[b] < lo || host[b] > g.t_len) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": sequence_length[", b, "] = ",
                                                     host[b], " is outside [", lo, ", ",
                                                     g.t_len, "]"));
    }
  }
  return g;
}

absl::Status SeqForward(const OpContext& ctx, const OpParams& params,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<SeqParams>(params);
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const char* op = SeqName(p.kind);
  MXGRID_ASSIGN_OR_RETURN(const SeqGeo g,
                          SeqGeometry(ctx, p, in[0].shape, p.use_length ? &in[1] : nullptr));
  return DispatchFloat(op, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = out[0].size();
    if (n == 0) return absl::OkStatus();
    SeqForwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        in[0].as<T>(), g, p.kind, static_cast<T>(p.value), reqs[0] == OpReq::kAddTo,
        out[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status SeqBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<SeqParams>(params);
  const char* op = SeqName(p.kind);
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  if (p.use_length && (a.reqs[1] == OpReq::kWriteTo || a.reqs[1] == OpReq::kWriteInplace)) {
    MXGRID_RETURN_IF_ERROR(cu::ZeroAsync(ctx.ctx.device_id, stream, a.in_grads[1].data,
                                         a.in_grads[1].size() * DTypeSize(a.in_grads[1].dtype),
                                         op));
  }
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& dx = a.in_grads[0];
  MXGRID_ASSIGN_OR_RETURN(const SeqGeo g,
                          SeqGeometry(ctx, p, dx.shape, p.use_length ? &a.inputs[1] : nullptr));
  return DispatchFloat(op, dx.dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    const int64_t n = dx.size();
    if (n == 0) return absl::OkStatus();
    SeqBackwardKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
        a.out_grads[0].as<T>(), g, p.kind, a.reqs[0] == OpReq::kAddTo, dx.as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

}  // namespace

absl::Status RegisterPadSequenceCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * pad, registry->FindMutable(kPad));
  pad->gpu_forward = PadForward;
  pad->gpu_backward = PadBackward;
  pad->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  for (SeqKind k : {SeqKind::kMask, SeqKind::kLast, SeqKind::kReverse}) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(SeqName(k)));
    d->gpu_forward = SeqForward;
    d->gpu_backward = SeqBackward;
    d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
