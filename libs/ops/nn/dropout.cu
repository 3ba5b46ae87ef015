// Dropout on the GPU. The mask has dropout.cc's layout and values (the data's shape with the
// `axes` dims set to 1; 1/(1-p) for kept elements, 0 for dropped ones, all 1 outside
// training), so a backward on either device reads it the same way. The random draws differ
// from the CPU's: each mask element's uniform comes from a counter-based hash (splitmix64)
// of one 64-bit seed drawn from OpContext::rng per call and the element's index, so a seed
// gives the same mask on any GPU.
#include <cuda_runtime.h>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_cuda_util.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "Dropout";

// The data's dims and, per dim, the mask's stride (0 where the mask is broadcast).
struct Broadcast {
  int ndim = 0;
  int64_t dims[Shape::kMaxNdim];
  int64_t mask_strides[Shape::kMaxNdim];
};

Broadcast MakeBroadcast(const Shape& data, const Shape& mask) {
  Broadcast b;
  b.ndim = data.ndim();
  int64_t stride = 1;
  for (int d = data.ndim() - 1; d >= 0; --d) {
    b.dims[d] = data[d];
    b.mask_strides[d] = mask[d] == 1 ? 0 : stride;
    stride *= mask[d];
  }
  return b;
}

// The mask index of data element j (C order), as dropout.cc's MaskIndex.
__device__ __forceinline__ int64_t MaskIndex(const Broadcast& b, int64_t j) {
  int64_t m = 0;
  for (int d = b.ndim - 1; d >= 0; --d) {
    const int64_t pos = j % b.dims[d];
    j /= b.dims[d];
    m += pos * b.mask_strides[d];
  }
  return m;
}

__device__ __forceinline__ uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// mask[j] = uniform(seed, j) < keep ? T(1 / keep) : 0; all ones when !drop.
template <typename T>
__global__ void MaskKernel(bool drop, uint64_t seed, double keep, int64_t n, T* mask) {
  const T scale = static_cast<T>(1.0 / keep);
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    if (!drop) {
      mask[j] = T(1);
    } else {
      const uint64_t bits = SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(j)));
      const double u = static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
      mask[j] = u < keep ? scale : T(0);
    }
  }
}

// y[j] (=, +=) x[j] * mask[index(j)].
template <typename T>
__global__ void ApplyKernel(const T* x, const T* mask, Broadcast b, bool same, int64_t n,
                           bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    cu::Put(add, y, j, x[j] * mask[same ? j : MaskIndex(b, j)]);
  }
}

absl::Status Forward(const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<DropoutParams>(params);
  const TensorView& mask = out[1];
  const bool drop = (ctx.is_train || p.always) && p.p > 0;
  if (drop && ctx.rng == nullptr) {
    return absl::FailedPreconditionError("Dropout: OpContext::rng is null in training");
  }
  if (mask.data == nullptr && mask.size() > 0) {
    return absl::InvalidArgumentError("Dropout: the mask output has no memory");
  }
  const uint64_t seed = drop ? static_cast<uint64_t>((*ctx.rng)()) : 0;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (mask.size() > 0) {
      MaskKernel<T><<<gpu::Blocks(mask.size()), gpu::kThreads, 0, stream>>>(
          drop, seed, 1.0 - p.p, mask.size(), mask.as<T>());
    }
    if (reqs[0] != OpReq::kNull) {
      const int64_t n = in[0].size();
      ApplyKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
          in[0].as<T>(), mask.as<T>(), MakeBroadcast(in[0].shape, mask.shape),
          mask.shape == in[0].shape, n, reqs[0] == OpReq::kAddTo, out[0].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  });
}

absl::Status Backward(const OpContext& ctx, const OpParams&, const BackwardArgs& a) {
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& mask = a.outputs[1];
  return DispatchFloat(kOp, a.outputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t n = a.outputs[0].size();
    ApplyKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.out_grads[0].as<T>(), mask.as<T>(), MakeBroadcast(a.outputs[0].shape, mask.shape),
        mask.shape == a.outputs[0].shape, n, a.reqs[0] == OpReq::kAddTo,
        a.in_grads[0].as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, kOp);
  });
}

}  // namespace

absl::Status RegisterDropoutCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = Forward;
  d->gpu_backward = Backward;
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::nn
