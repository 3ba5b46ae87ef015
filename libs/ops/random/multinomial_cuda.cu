// _sample_multinomial on the GPU (multinomial.cc): one thread per draw scans its row's
// running sum (in double, in category order, as the CPU's upper_bound over the cdf) for the
// first category whose cumulative probability exceeds a uniform on [0, 1) (the last one when
// the row sums below it); with get_prob the log-probability of the draw goes to the second
// output. The backward, one thread per data element, sums out_grad[1] / p over the row's
// draws of that category in the CPU's order. Negative (or NaN) probabilities are found on
// the device and reported with the CPU's message.
#include <cuda_runtime.h>

#include <cstdint>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_cuda.cuh"
#include "libs/ops/random/random_params.h"

namespace mxgrid::ops::random {
namespace {

constexpr char kOp[] = "_sample_multinomial";

// flag = min flat index of a probability that is not >= 0.
template <typename D>
__global__ void CheckProbKernel(const D* data, int64_t n, unsigned long long* flag) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    if (!(static_cast<double>(data[i]) >= 0)) {
      atomicMin(flag, static_cast<unsigned long long>(i));
    }
  }
}

// Draw i of row i / per: index (into `index` when non-null) and log-probability (into
// `logp` when non-null).
template <typename D, typename O>
__global__ void DrawKernel(const D* data, int64_t k, int64_t per, uint64_t seed, int64_t n,
                           O* index, D* logp) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const D* row = data + (i / per) * k;
    cu::Philox s;
    cu::Init(seed, i, &s);
    const double u = cu::Uniform01(&s);
    double acc = 0;
    int64_t hit = k - 1;  // rows summing below u: the last category
    for (int64_t c = 0; c < k; ++c) {
      acc += static_cast<double>(row[c]);
      if (acc > u) {
        hit = c;
        break;
      }
    }
    if (index != nullptr) index[i] = static_cast<O>(hit);
    if (logp != nullptr) logp[i] = static_cast<D>(log(static_cast<double>(row[hit])));
  }
}

// grad[e] (=, +=) sum over the draws i of e's row that hit e's category of
// head[i] / data[e]; head null: 0.
template <typename D, typename S>
__global__ void GradKernel(const D* data, const S* samples, const D* head, int64_t k,
                           int64_t per, int64_t n, bool add, D* grad) {
  MXGRID_CUDA_KERNEL_LOOP(e, n) {
    double acc = 0;
    if (head != nullptr) {
      const int64_t r = e / k, c = e - r * k;
      for (int64_t s = 0; s < per; ++s) {
        const int64_t i = r * per + s;
        if (static_cast<int64_t>(static_cast<double>(samples[i])) == c) {
          acc += static_cast<double>(head[i]) / static_cast<double>(data[e]);
        }
      }
    }
    const double old = add ? static_cast<double>(grad[e]) : 0.0;
    grad[e] = static_cast<D>(old + acc);
  }
}

// Calls fn(T{}) for the index dtypes the kernel writes (float32, float64, int32, uint8).
template <typename Fn>
absl::Status DispatchIndex(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kUint8: return fn(uint8_t{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": dtype ", DTypeName(dtype), " has no CUDA kernel"));
  }
}

absl::Status CheckProbabilities(const OpContext& ctx, const TensorView& data, int64_t k) {
  const int64_t n = data.size();
  if (n == 0) return absl::OkStatus();
  const int device = ctx.ctx.device_id;
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, sizeof(unsigned long long)));
  auto* flag = static_cast<unsigned long long*>(ws);
  MXGRID_RETURN_IF_ERROR(gpu::Fill(device, ctx.stream, flag, 1, 8, ~uint64_t{0}));
  MXGRID_RETURN_IF_ERROR(DispatchRealCuda(kOp, data.dtype, [&](auto tag) {
    using D = decltype(tag);
    CheckProbKernel<D><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        data.as<D>(), n, flag);
    return gpu::LaunchStatus(device, kOp);
  }));
  MXGRID_ASSIGN_OR_RETURN(const uint64_t bad, ReadFirstBad(ctx, flag));
  if (bad == ~uint64_t{0}) return absl::OkStatus();
  const int64_t at = static_cast<int64_t>(bad);
  MXGRID_ASSIGN_OR_RETURN(const double prob, ReadDeviceDouble(ctx, data, at));
  return absl::InvalidArgumentError(absl::StrCat(
      kOp, ": probabilities must be non-negative, got ", prob, " in row ", at / k));
}

absl::Status Forward(const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<MultinomialParams>(params);
  MXGRID_ASSIGN_OR_RETURN(const uint64_t seed, CallSeed(ctx, kOp));
  const TensorView& data = in[0];
  const int64_t k = data.shape[data.shape.ndim() - 1];
  const int64_t rows = data.size() / k;
  const int64_t per = rows == 0 ? 0 : out[0].size() / rows;
  MXGRID_RETURN_IF_ERROR(CheckProbabilities(ctx, data, k));
  const int64_t n = rows * per;
  const bool want_index = reqs[0] != OpReq::kNull;
  const bool want_prob = p.get_prob && reqs[1] != OpReq::kNull;
  if (n == 0 || (!want_index && !want_prob)) return absl::OkStatus();
  return DispatchRealCuda(kOp, data.dtype, [&](auto dtag) {
    using D = decltype(dtag);
    return DispatchIndex(out[0].dtype, [&](auto otag) {
      using O = decltype(otag);
      DrawKernel<D, O><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          data.as<D>(), k, per, seed, n, want_index ? out[0].as<O>() : nullptr,
          want_prob ? out[1].as<D>() : nullptr);
      return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
    });
  });
}

absl::Status Backward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<MultinomialParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& grad = a.in_grads[0];
  const int64_t n = grad.size();
  if (n == 0) return absl::OkStatus();
  const bool use = p.get_prob && a.out_grads.size() > 1 && a.out_grads[1].data != nullptr;
  const TensorView& samples = a.outputs[0];
  const int64_t k = grad.shape[grad.shape.ndim() - 1];
  const int64_t rows = n / k;
  const int64_t per = rows == 0 ? 0 : samples.size() / rows;
  return DispatchRealCuda(kOp, grad.dtype, [&](auto dtag) {
    using D = decltype(dtag);
    return DispatchIndex(samples.dtype, [&](auto stag) {
      using S = decltype(stag);
      GradKernel<D, S><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          a.inputs[0].as<D>(), samples.as<S>(), use ? a.out_grads[1].as<D>() : nullptr, k,
          per, n, a.reqs[0] == OpReq::kAddTo, grad.as<D>());
      return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
    });
  });
}

}  // namespace

absl::Status RegisterMultinomialCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = Forward;
  d->gpu_backward = Backward;
  // The data (and log-probability) dtypes and the index dtypes the kernels write.
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kUint8};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::random
