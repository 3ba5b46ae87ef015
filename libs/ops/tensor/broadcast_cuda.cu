// CUDA kernels of the broadcast binary ops (broadcast_add/sub/mul/div/mod/maximum/minimum/
// power/hypot and the comparisons), broadcast_to and broadcast_like. float32/float64.
//
// Forward reads each operand through its broadcast strides (dims collapsed first; equal
// shapes take the plain elementwise kernel). Backward reduces each wanted gradient over the
// axes its input was broadcast along (SumTo): add and sub straight from the head gradient,
// the others from per-element terms computed first into the thread's workspace.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/elemwise_cuda.cuh"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

template <typename T, typename F>
__global__ void BroadcastKernel(const T* a, const T* b, T* y, int64_t n, int req, Index ia,
                                Index ib, F f) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    Put(req, y, k, static_cast<T>(f(a[Offset(ia, k)], b[Offset(ib, k)])));
  }
}

// The per-element gradient terms over the output's shape: ta[k] = ga(a, b, dy[k]) (when ta
// is not null), tb[k] likewise.
template <typename T, typename GA, typename GB>
__global__ void TermsKernel(const T* a, const T* b, const T* dy, T* ta, T* tb, int64_t n,
                            Index ia, Index ib, GA ga, GB gb) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) {
    const T ak = a ? a[Offset(ia, k)] : T(0);
    const T bk = b ? b[Offset(ib, k)] : T(0);
    if (ta) ta[k] = static_cast<T>(ga(ak, bk, dy[k]));
    if (tb) tb[k] = static_cast<T>(gb(ak, bk, dy[k]));
  }
}

template <typename T>
__global__ void BroadcastCopyKernel(const T* x, T* y, int64_t n, int req, Index ix) {
  MXGRID_CUDA_KERNEL_LOOP(k, n) { Put(req, y, k, x[Offset(ix, k)]); }
}

// `in` with ones prepended to `nd` dims (right-aligned broadcasting's view of it).
Shape Padded(const Shape& in, int nd) {
  std::vector<int64_t> dims(nd - in.ndim(), 1);
  dims.insert(dims.end(), in.dims().begin(), in.dims().end());
  return Shape(dims);
}

// Forward of one broadcast op (also used by the same-shape case through ZipForward).
template <typename F>
absl::Status Forward(const OpContext& ctx, const char* op, F f, const TensorView& a,
                     const TensorView& b, OpReq req, const TensorView& y) {
  if (a.shape == y.shape && b.shape == y.shape) return ZipForward(ctx, op, f, a, b, req, y);
  const int64_t n = y.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  const std::vector<Index> ix = Collapse(
      Dims(y.shape), {BroadcastStrides(a.shape, y.shape), BroadcastStrides(b.shape, y.shape)});
  return DispatchRealCuda(op, y.dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.as<T>(), b.as<T>(), y.as<T>(), n, Req(req), ix[0], ix[1], f);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// Backward: `inputs` when the gradient functors read a and b; `scale_a` / `scale_b` are the
// factors of dy for the ops whose gradients are +-dy (add, sub), used when not `inputs`.
template <typename GA, typename GB>
absl::Status Backward(const OpContext& ctx, const char* op, GA ga, GB gb, bool inputs,
                      double scale_a, double scale_b, const BackwardArgs& args) {
  const TensorView& dy = args.out_grads[0];
  const Shape& os = dy.shape;
  if (args.in_grads[0].shape == os && args.in_grads[1].shape == os) {
    return ZipBackward(ctx, op, ga, gb, inputs, args);
  }
  const bool want[2] = {args.reqs[0] != OpReq::kNull, args.reqs[1] != OpReq::kNull};
  if ((!want[0] && !want[1]) || os.Size() == 0) {
    // An empty head gradient: wanted gradients are sums of nothing.
    for (int j = 0; j < 2; ++j) {
      if (want[j])
        MXGRID_RETURN_IF_ERROR(FillWithReq(ctx, op, 0.0, args.reqs[j], args.in_grads[j]));
    }
    return absl::OkStatus();
  }
  const bool aliased = args.in_grads[0].data == dy.data || args.in_grads[1].data == dy.data;
  if (!inputs && !aliased) {
    for (int j = 0; j < 2; ++j) {
      if (!want[j]) continue;
      const Shape kept = Padded(args.in_grads[j].shape, os.ndim());
      MXGRID_RETURN_IF_ERROR(SumTo(ctx, op, dy, kept, j == 0 ? scale_a : scale_b,
                                   args.reqs[j], args.in_grads[j]));
    }
    return absl::OkStatus();
  }
  const int64_t n = os.Size();
  const size_t elem = DTypeSize(dy.dtype);
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(ctx.ctx.device_id, 2 * n * elem));
  TensorView terms[2];
  for (int j = 0; j < 2; ++j) {
    terms[j].data = static_cast<char*>(ws) + j * n * elem;
    terms[j].shape = os;
    terms[j].dtype = dy.dtype;
    terms[j].ctx = dy.ctx;
  }
  const std::vector<Index> ix =
      Collapse(Dims(os), {BroadcastStrides(args.in_grads[0].shape, os),
                          BroadcastStrides(args.in_grads[1].shape, os)});
  MXGRID_RETURN_IF_ERROR(DispatchRealCuda(op, dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* a = inputs ? args.inputs[0].as<T>() : nullptr;
    const T* b = inputs ? args.inputs[1].as<T>() : nullptr;
    TermsKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a, b, dy.as<T>(), want[0] ? terms[0].as<T>() : nullptr,
        want[1] ? terms[1].as<T>() : nullptr, n, ix[0], ix[1], ga, gb);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  }));
  for (int j = 0; j < 2; ++j) {
    if (!want[j]) continue;
    const Shape kept = Padded(args.in_grads[j].shape, os.ndim());
    MXGRID_RETURN_IF_ERROR(SumTo(ctx, op, terms[j], kept, 1.0, args.reqs[j], args.in_grads[j]));
  }
  return absl::OkStatus();
}

template <typename F, typename GA, typename GB>
absl::Status Set(Registry* registry, const char* name, F f, GA ga, GB gb, double scale_a = 1,
                 double scale_b = 1) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op, f](const OpContext& ctx, const OpParams&,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
    return Forward(ctx, op.c_str(), f, in[0], in[1], reqs[0], out[0]);
  };
  if (d->backward) {
    const bool inputs = d->backward_deps.inputs;
    d->gpu_backward = [op, ga, gb, inputs, scale_a, scale_b](
                          const OpContext& ctx, const OpParams&, const BackwardArgs& a) {
      return Backward(ctx, op.c_str(), ga, gb, inputs, scale_a, scale_b, a);
    };
  }
  d->gpu_dtypes = RealDtypes();
  return absl::OkStatus();
}

absl::Status BroadcastCopy(const OpContext& ctx, const char* op, const TensorView& x,
                           OpReq req, const TensorView& y) {
  const int64_t n = y.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  const Index ix = Collapse(Dims(y.shape), {BroadcastStrides(x.shape, y.shape)})[0];
  return DispatchRealCuda(op, y.dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastCopyKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        x.as<T>(), y.as<T>(), n, Req(req), ix);
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

// broadcast_to, and broadcast_like (whose rhs gets a zero gradient).
absl::Status SetBroadcastTo(Registry* registry, const char* name, bool like) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  const std::string op = name;
  d->gpu_forward = [op](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                        absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return BroadcastCopy(ctx, op.c_str(), in[0], reqs[0], out[0]);
  };
  d->gpu_backward = [op, like](const OpContext& ctx, const OpParams&,
                               const BackwardArgs& a) -> absl::Status {
    const TensorView& dy = a.out_grads[0];
    if (a.reqs[0] != OpReq::kNull) {
      if (dy.size() == 0) {
        MXGRID_RETURN_IF_ERROR(FillWithReq(ctx, op.c_str(), 0.0, a.reqs[0], a.in_grads[0]));
      } else {
        MXGRID_RETURN_IF_ERROR(
            SumTo(ctx, op.c_str(), dy, a.in_grads[0].shape, 1.0, a.reqs[0], a.in_grads[0]));
      }
    }
    if (like && a.reqs[1] != OpReq::kNull && a.reqs[1] != OpReq::kAddTo) {
      return FillWithReq(ctx, op.c_str(), 0.0, a.reqs[1], a.in_grads[1]);
    }
    return absl::OkStatus();
  };
  d->gpu_dtypes = RealDtypes();
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterBroadcastCuda(Registry* r) {
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_add", AddF{}, GradDy{}, GradDy{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_sub", SubF{}, GradDy{}, GradNegDy{}, 1, -1));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_mul", MulF{}, MulGradA{}, MulGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_div", DivF{}, DivGradA{}, DivGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_mod", ModF{}, GradDy{}, ModGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_maximum", MaxF{}, MaxGradA{}, MaxGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_minimum", MinF{}, MinGradA{}, MinGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_hypot", HypotF{}, HypotGradA{}, HypotGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_power", PowF{}, PowGradA{}, PowGradB{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_equal", CmpF<0>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_not_equal", CmpF<1>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_greater", CmpF<2>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(
      Set(r, "broadcast_greater_equal", CmpF<3>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_lesser", CmpF<4>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(Set(r, "broadcast_lesser_equal", CmpF<5>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(SetBroadcastTo(r, "broadcast_to", /*like=*/false));
  return SetBroadcastTo(r, "broadcast_like", /*like=*/true);
}

}  // namespace mxgrid::ops::tensor_cuda
