#include "libs/gpu/internal/fill.h"

namespace mxgrid::gpu::internal {
namespace {

template <typename T>
__global__ void FillKernel(T* dst, int64_t count, T value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = value;
  }
}

template <typename T>
cudaError_t Launch(void* dst, int64_t count, uint64_t pattern, cudaStream_t stream) {
  T value;
  static_assert(sizeof(T) <= sizeof(pattern));
  memcpy(&value, &pattern, sizeof(T));
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((count + kThreads - 1) / kThreads, 65535);
  FillKernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(static_cast<T*>(dst),
                                                                        count, value);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchFill(void* dst, int64_t count, int element_bytes, uint64_t pattern,
                       void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (element_bytes) {
    case 1: return Launch<uint8_t>(dst, count, pattern, s);
    case 2: return Launch<uint16_t>(dst, count, pattern, s);
    case 4: return Launch<uint32_t>(dst, count, pattern, s);
    default: return Launch<uint64_t>(dst, count, pattern, s);
  }
}

}  // namespace mxgrid::gpu::internal
