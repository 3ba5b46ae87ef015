#include <cuda_fp16.h>

#include "absl/strings/str_cat.h"
#include "libs/gpu/cuda_util.h"
#include "libs/tensor/internal/elementwise_gpu.h"

namespace mxgrid::tensor::internal {
namespace {

// Arithmetic type of a storage type (half computes in float, as on the CPU).
template <typename T> struct Compute { using type = T; };
template <> struct Compute<__half> { using type = float; };

template <typename T> __device__ typename Compute<T>::type Load(T v) { return v; }
template <> __device__ float Load<__half>(__half v) { return __half2float(v); }
template <typename T> __device__ T Store(typename Compute<T>::type v) { return static_cast<T>(v); }
template <> __device__ __half Store<__half>(float v) { return __float2half(v); }

template <typename C>
__device__ C Apply(int op, C a, C b) {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    default:
      if constexpr (std::is_integral_v<C>) return b == 0 ? C(0) : C(a / b);
      else return a / b;
  }
}

template <typename T>
__global__ void BinaryKernel(int op, const T* a, const T* b, T* c, int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { c[i] = Store<T>(Apply(op, Load(a[i]), Load(b[i]))); }
}

template <typename T>
__global__ void ScalarKernel(int op, const T* a, typename Compute<T>::type s, bool left, T* c,
                             int64_t n) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    c[i] = Store<T>(left ? Apply(op, s, Load(a[i])) : Apply(op, Load(a[i]), s));
  }
}

template <typename Fn>
absl::Status Dispatch(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: fn(float{}); break;
    case DType::kFloat64: fn(double{}); break;
    case DType::kFloat16: fn(__half{}); break;
    case DType::kInt32: fn(int32_t{}); break;
    case DType::kInt64: fn(int64_t{}); break;
    case DType::kInt8: fn(int8_t{}); break;
    case DType::kUint8: fn(uint8_t{}); break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("arithmetic on ", DTypeName(dtype), " arrays is not supported on GPU"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BinaryKernelGpu(int device, void* stream, int op, DType dtype, const void* lhs,
                             const void* rhs, void* out, int64_t n) {
  if (n == 0) return absl::OkStatus();
  absl::Status s = Dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    BinaryKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(stream)>>>(
        op, static_cast<const T*>(lhs), static_cast<const T*>(rhs), static_cast<T*>(out), n);
  });
  if (!s.ok()) return s;
  return gpu::LaunchStatus(device, "elementwise arithmetic");
}

absl::Status ScalarKernelGpu(int device, void* stream, int op, DType dtype, const void* lhs,
                             double scalar, bool scalar_on_left, void* out, int64_t n) {
  if (n == 0) return absl::OkStatus();
  absl::Status s = Dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename Compute<T>::type;
    ScalarKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(stream)>>>(
        op, static_cast<const T*>(lhs), static_cast<C>(scalar), scalar_on_left,
        static_cast<T*>(out), n);
  });
  if (!s.ok()) return s;
  return gpu::LaunchStatus(device, "scalar arithmetic");
}

}  // namespace mxgrid::tensor::internal
