// CUDA kernel of Cast [cast]: every element converted from the input's dtype to the
// output's (float16, bfloat16, float32, float64, uint8, int8, int32, int64), as the CPU's
// Convert: through double, integers truncating toward zero and saturating (NaN is 0),
// half precision rounding from float to nearest even. The backward converts the gradient
// back the same way.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <limits>
#include <type_traits>

#include "libs/base/status_macros.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

template <typename T>
__device__ __forceinline__ double ToD(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return static_cast<double>(__half2float(v));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return static_cast<double>(__bfloat162float(v));
  } else {
    return static_cast<double>(v);
  }
}

template <typename T>
__device__ __forceinline__ T FromD(double v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_integral_v<T>) {
    if (!(v == v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::min())) {
      return std::numeric_limits<T>::min();
    }
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
      return std::numeric_limits<T>::max();
    }
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

template <typename I, typename O>
__global__ void ConvertKernel(const I* x, O* y, int64_t n, int req) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const O v = FromD<O>(ToD(x[i]));
    if (req != kAddTo) {
      y[i] = v;
    } else if constexpr (std::is_arithmetic_v<O>) {
      y[i] = static_cast<O>(y[i] + v);
    } else {  // half precision: summed in float, rounded once
      y[i] = FromD<O>(ToD(y[i]) + ToD(v));
    }
  }
}

template <typename Fn>
absl::Status Visit(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kFloat16: return fn(__half{});
    case DType::kBFloat16: return fn(__nv_bfloat16{});
    case DType::kUint8: return fn(uint8_t{});
    case DType::kInt8: return fn(int8_t{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("Cast: dtype ", DTypeName(dtype), " has no CUDA kernel"));
  }
}

absl::Status Convert(const OpContext& ctx, const TensorView& src, OpReq req,
                     const TensorView& dst) {
  const int64_t n = dst.size();
  if (req == OpReq::kNull || n == 0) return absl::OkStatus();
  return Visit(src.dtype, [&](auto in_tag) {
    using I = decltype(in_tag);
    return Visit(dst.dtype, [&](auto out_tag) {
      using O = decltype(out_tag);
      ConvertKernel<I, O><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          static_cast<const I*>(src.data), static_cast<O*>(dst.data), n, Req(req));
      return gpu::LaunchStatus(ctx.ctx.device_id, "Cast");
    });
  });
}

}  // namespace

absl::Status RegisterCastCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("Cast"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return Convert(ctx, in[0], reqs[0], out[0]);
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams&, const BackwardArgs& a) {
    return Convert(ctx, a.out_grads[0], a.reqs[0], a.in_grads[0]);
  };
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                   DType::kUint8,   DType::kInt8,    DType::kInt32,   DType::kInt64};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::tensor_cuda
