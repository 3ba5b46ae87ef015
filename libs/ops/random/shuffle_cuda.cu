// _shuffle on the GPU (shuffle.cc): a uniformly random permutation of the rows (first axis),
// made by sorting one random 64-bit Philox key per row (cub's radix sort, keys carrying the
// row indices), then a gather of whole rows in the widest word that divides a row. Any
// dtype (rows are copied as bytes). Scratch (keys, indices, cub's temporaries and, in place,
// a copy of the data) comes from the thread's workspace.
#include <cuda_runtime.h>

#include <cstdint>

#include <cub/device/device_radix_sort.cuh>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_cuda.cuh"

namespace mxgrid::ops::random {
namespace {

constexpr char kOp[] = "_shuffle";

__global__ void KeysKernel(uint64_t seed, int64_t rows, uint64_t* keys, int64_t* index) {
  MXGRID_CUDA_KERNEL_LOOP(i, rows) {
    cu::Philox s;
    cu::Init(seed, i, &s);
    keys[i] = cu::Bits64(&s);
    index[i] = i;
  }
}

// dst row r = src row perm[r], rows of `words` W's.
template <typename W>
__global__ void GatherRowsKernel(const W* src, const int64_t* perm, int64_t words, int64_t n,
                                 W* dst) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t r = i / words;
    dst[i] = src[perm[r] * words + (i - r * words)];
  }
}

size_t Align(size_t bytes) { return (bytes + 255) / 256 * 256; }

absl::Status Forward(const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  MXGRID_ASSIGN_OR_RETURN(const uint64_t seed, CallSeed(ctx, kOp));
  const TensorView& data = in[0];
  const int64_t rows = data.shape.ndim() == 0 ? 1 : data.shape[0];
  if (data.size() == 0) return absl::OkStatus();
  const size_t row_bytes = static_cast<size_t>(data.size() / rows) * DTypeSize(data.dtype);
  const size_t total = row_bytes * static_cast<size_t>(rows);
  const int device = ctx.ctx.device_id;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int num_items = static_cast<int>(rows);
  if (rows != num_items) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": more than 2^31 rows have no CUDA kernel"));
  }
  size_t temp_bytes = 0;
  if (cudaError_t e = cub::DeviceRadixSort::SortPairs(
          nullptr, temp_bytes, static_cast<const uint64_t*>(nullptr),
          static_cast<uint64_t*>(nullptr), static_cast<const int64_t*>(nullptr),
          static_cast<int64_t*>(nullptr), num_items, 0, 64, stream);
      e != cudaSuccess) {
    return absl::InternalError(absl::StrCat(kOp, ": cub sort sizing: ", cudaGetErrorString(e)));
  }
  const bool in_place = data.data == out[0].data;
  const size_t keys_bytes = Align(rows * sizeof(uint64_t));
  const size_t index_bytes = Align(rows * sizeof(int64_t));
  const size_t bytes = 2 * keys_bytes + 2 * index_bytes + Align(temp_bytes) +
                       (in_place ? Align(total) : 0);
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, bytes));
  char* at = static_cast<char*>(ws);
  auto* keys_in = reinterpret_cast<uint64_t*>(at);
  auto* keys_out = reinterpret_cast<uint64_t*>(at += keys_bytes);
  auto* index_in = reinterpret_cast<int64_t*>(at += keys_bytes);
  auto* index_out = reinterpret_cast<int64_t*>(at += index_bytes);
  void* temp = at += index_bytes;
  const void* src = data.data;
  if (in_place) {
    void* copy = at += Align(temp_bytes);
    if (cudaError_t e = cudaMemcpyAsync(copy, data.data, total, cudaMemcpyDeviceToDevice, stream);
        e != cudaSuccess) {
      return absl::InternalError(absl::StrCat(kOp, ": cudaMemcpyAsync: ", cudaGetErrorString(e)));
    }
    src = copy;
  }
  KeysKernel<<<gpu::Blocks(rows), gpu::kThreads, 0, stream>>>(seed, rows, keys_in, index_in);
  MXGRID_RETURN_IF_ERROR(gpu::LaunchStatus(device, kOp));
  if (cudaError_t e = cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out,
                                                       index_in, index_out, num_items, 0, 64,
                                                       stream);
      e != cudaSuccess) {
    return absl::InternalError(absl::StrCat(kOp, ": cub sort: ", cudaGetErrorString(e)));
  }
  auto gather = [&](auto word) {
    using W = decltype(word);
    const int64_t words = static_cast<int64_t>(row_bytes / sizeof(W));
    const int64_t n = words * rows;
    GatherRowsKernel<W><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
        static_cast<const W*>(src), index_out, words, n, static_cast<W*>(out[0].data));
    return gpu::LaunchStatus(device, kOp);
  };
  // The widest word that divides a row and both arrays' addresses (views may be offset).
  const uint64_t fit = row_bytes | reinterpret_cast<uintptr_t>(src) |
                       reinterpret_cast<uintptr_t>(out[0].data);
  if (fit % 8 == 0) return gather(uint64_t{});
  if (fit % 4 == 0) return gather(uint32_t{});
  if (fit % 2 == 0) return gather(uint16_t{});
  return gather(uint8_t{});
}

}  // namespace

absl::Status RegisterShuffleCuda(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kOp));
  d->gpu_forward = Forward;
  d->gpu_dtypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                   DType::kInt32,   DType::kInt64,   DType::kInt8,    DType::kUint8,
                   DType::kBool};
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::random
