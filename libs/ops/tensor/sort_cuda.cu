// CUDA kernels of topk, sort and argsort (sort.cc): forward, and backward of topk and sort.
// Data in every numeric dtype; the indices output in uint8, int32, int64, float32 or float64
// (float16 indices run on the CPU kernels: not in gpu_dtypes).
//
// Order as the CPU kernels': every element gets an unsigned key with its value's order
// (float32 exactly sort.cc's OrderedKey: -0 as +0, NaN by its bits, so +NaN after +inf and
// -NaN before -inf; float64 likewise on its 64 bits; integers offset to unsigned), all its
// bits flipped for descending. Two stable LSD radix sorts (CUB's DeviceRadixSort) order
// all rows at once: by key, then by row, so that each row ends sorted by key with ties in
// index order, as the CPU's stable sort. The first k of each row are the selection.
// Backward sorts the input again (the same selection as the forward's) instead of reading
// the forward's indices output: the CPU reads that output, so only a caller passing
// outputs that are not the forward's sees a difference. Scratch comes from the thread's
// workspace (gpu::ThreadWorkspace).
#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/params.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/sort_params.h"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

using tensor_internal::SortGeom;
using tensor_internal::SortGeometry;
using tensor_internal::SortKind;
using tensor_internal::SortName;
using tensor_internal::SortParams;
using tensor_internal::SortRet;

// Order-preserving unsigned keys (see the file comment).
__device__ __forceinline__ uint64_t OrderKey(float f) {
  uint32_t u = __float_as_uint(f);
  if (f == 0.f) u = 0;
  return (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
}
__device__ __forceinline__ uint64_t OrderKey(double f) {
  uint64_t u = static_cast<uint64_t>(__double_as_longlong(f));
  if (f == 0.0) u = 0;
  return (u & 0x8000000000000000ull) != 0 ? ~u : u | 0x8000000000000000ull;
}
__device__ __forceinline__ uint64_t OrderKey(int8_t v) {
  return static_cast<uint32_t>(static_cast<int32_t>(v)) ^ 0x80000000u;
}
__device__ __forceinline__ uint64_t OrderKey(int32_t v) {
  return static_cast<uint32_t>(v) ^ 0x80000000u;
}
__device__ __forceinline__ uint64_t OrderKey(uint8_t v) { return v; }
__device__ __forceinline__ uint64_t OrderKey(int64_t v) {
  return static_cast<uint64_t>(v) ^ 0x8000000000000000ull;
}

// The key bits of T: 64 for float64 and int64, 32 for the others.
template <typename T>
constexpr int KeyBits() {
  return sizeof(T) == 8 ? 64 : 32;
}

// Rows laid out (outer, inner, n): element p is row s = p / n, position j = p % n.
struct Rows {
  int64_t n = 0, inner = 1, k = 0;
  int64_t num = 0;  // outer * inner * n
};

template <typename T>
__global__ void KeysKernel(const T* x, uint64_t* keys, int64_t* pos, Rows r, uint64_t flip) {
  MXGRID_CUDA_KERNEL_LOOP(p, r.num) {
    const int64_t s = p / r.n, j = p - s * r.n, o = s / r.inner, i = s - o * r.inner;
    keys[p] = OrderKey(x[(o * r.n + j) * r.inner + i]) ^ flip;
    pos[p] = p;
  }
}

__global__ void RowKeysKernel(const int64_t* pos, uint64_t* keys, Rows r) {
  MXGRID_CUDA_KERNEL_LOOP(p, r.num) { keys[p] = static_cast<uint64_t>(pos[p] / r.n); }
}

// Selection entry e (laid out as the outputs, (outer, k, inner)): its output-side row and
// rank, and the flat input offset it selects from `sorted` (positions p, rows sorted).
__device__ __forceinline__ int64_t Source(const int64_t* sorted, const Rows& r, int64_t e,
                                          int64_t* j_out) {
  const int64_t i = e % r.inner, q = e / r.inner, rank = q % r.k, o = q / r.k;
  const int64_t s = o * r.inner + i;
  const int64_t j = sorted[s * r.n + rank] - s * r.n;
  *j_out = j;
  return (o * r.n + j) * r.inner + i;
}

template <typename T>
__global__ void ValuesKernel(const T* x, const int64_t* sorted, T* y, int64_t m, Rows r,
                             int req) {
  MXGRID_CUDA_KERNEL_LOOP(e, m) {
    int64_t j;
    Put(req, y, e, x[Source(sorted, r, e, &j)]);
  }
}

// FromDouble on the device: integers truncate and saturate.
template <typename I>
__device__ __forceinline__ I IndexValue(int64_t j) {
  if constexpr (std::is_integral_v<I>) {
    if (j >= static_cast<int64_t>(std::numeric_limits<I>::max())) {
      return std::numeric_limits<I>::max();
    }
  }
  return static_cast<I>(static_cast<double>(j));
}

template <typename I>
__global__ void IndicesKernel(const int64_t* sorted, I* y, int64_t m, Rows r, int req) {
  MXGRID_CUDA_KERNEL_LOOP(e, m) {
    int64_t j;
    Source(sorted, r, e, &j);
    Put(req, y, e, IndexValue<I>(j));
  }
}

// The selected positions of `y` (req) 1; the caller zeroed y first for kWriteTo.
template <typename T>
__global__ void MaskKernel(const int64_t* sorted, T* y, int64_t m, Rows r, int req) {
  MXGRID_CUDA_KERNEL_LOOP(e, m) {
    int64_t j;
    Put(req, y, Source(sorted, r, e, &j), T(1));
  }
}

// dx at each selected source (req) dy; the sources are distinct. The caller zeroed dx
// first for kWriteTo.
template <typename T>
__global__ void GradKernel(const T* dy, const int64_t* sorted, T* dx, int64_t m, Rows r,
                           int req) {
  MXGRID_CUDA_KERNEL_LOOP(e, m) {
    int64_t j;
    Put(req, dx, Source(sorted, r, e, &j), dy[e]);
  }
}

int BitsFor(uint64_t v) {
  int b = 1;
  while (b < 64 && (v >> b) != 0) ++b;
  return b;
}

// Sorts every row of x (shape `s`) and returns the sorted positions (device memory in the
// thread's workspace, valid until its next use), laid out as Rows' p.
template <typename T>
absl::StatusOr<const int64_t*> SortRows(const OpContext& ctx, const char* op,
                                        const SortParams& p, const Rows& r, const T* x) {
  const int device = ctx.ctx.device_id;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  const int64_t rows = r.num / r.n;
  const int key_bits = KeyBits<T>();
  const int row_bits = BitsFor(static_cast<uint64_t>(rows - 1));
  size_t temp1 = 0, temp2 = 0;
  const uint64_t* knull = nullptr;
  const int64_t* pnull = nullptr;
  auto query = [&](size_t* bytes, int bits) {
    return cub::DeviceRadixSort::SortPairs(nullptr, *bytes, knull,
                                           static_cast<uint64_t*>(nullptr), pnull,
                                           static_cast<int64_t*>(nullptr), r.num, 0, bits,
                                           stream);
  };
  if (query(&temp1, key_bits) != cudaSuccess ||
      (rows > 1 && query(&temp2, row_bits) != cudaSuccess)) {
    return absl::InternalError(absl::StrCat(op, ": cub::DeviceRadixSort size query failed"));
  }
  const size_t temp = (std::max(temp1, temp2) + 255) / 256 * 256;
  const size_t arr = static_cast<size_t>(r.num) * 8;
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, temp + 4 * arr));
  char* base = static_cast<char*>(ws);
  void* tmp = base;
  uint64_t* keys_a = reinterpret_cast<uint64_t*>(base + temp);
  uint64_t* keys_b = reinterpret_cast<uint64_t*>(base + temp + arr);
  int64_t* pos_a = reinterpret_cast<int64_t*>(base + temp + 2 * arr);
  int64_t* pos_b = reinterpret_cast<int64_t*>(base + temp + 3 * arr);
  const uint64_t flip =
      p.is_ascend ? 0 : (key_bits == 64 ? ~uint64_t{0} : uint64_t{0xffffffffu});
  KeysKernel<T><<<gpu::Blocks(r.num), gpu::kThreads, 0, stream>>>(x, keys_a, pos_a, r, flip);
  MXGRID_RETURN_IF_ERROR(gpu::LaunchStatus(device, op));
  size_t bytes = temp;
  if (cub::DeviceRadixSort::SortPairs(tmp, bytes, keys_a, keys_b, pos_a, pos_b, r.num, 0,
                                      key_bits, stream) != cudaSuccess) {
    return absl::InternalError(absl::StrCat(op, ": cub::DeviceRadixSort failed"));
  }
  if (rows == 1) return pos_b;
  RowKeysKernel<<<gpu::Blocks(r.num), gpu::kThreads, 0, stream>>>(pos_b, keys_a, r);
  MXGRID_RETURN_IF_ERROR(gpu::LaunchStatus(device, op));
  bytes = temp;
  if (cub::DeviceRadixSort::SortPairs(tmp, bytes, keys_a, keys_b, pos_b, pos_a, r.num, 0,
                                      row_bits, stream) != cudaSuccess) {
    return absl::InternalError(absl::StrCat(op, ": cub::DeviceRadixSort failed"));
  }
  return pos_a;
}

Rows MakeRows(const SortGeometry& g) {
  Rows r;
  r.n = g.n;
  r.inner = g.inner;
  r.k = g.k;
  r.num = g.outer * g.inner * g.n;
  return r;
}

absl::Status WriteIndices(const OpContext& ctx, const char* op, const int64_t* sorted,
                          const Rows& r, int64_t m, OpReq req, const TensorView& t) {
  if (req == OpReq::kNull) return absl::OkStatus();
  return DispatchNumeric(op, t.dtype, [&](auto itag) {
    using I = decltype(itag);
    IndicesKernel<I><<<gpu::Blocks(m), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        sorted, t.as<I>(), m, r, Req(req));
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status SortForward(const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<SortParams>(params);
  const char* op = SortName(p.kind);
  MXGRID_ASSIGN_OR_RETURN(SortGeometry g, SortGeom(op, p, in[0].shape));
  const bool any = std::any_of(reqs.begin(), reqs.end(),
                               [](OpReq q) { return q != OpReq::kNull; });
  if (!any) return absl::OkStatus();
  if (p.ret == SortRet::kMask) MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, op, out[0], reqs[0]));
  const Rows r = MakeRows(g);
  const int64_t m = g.outer * g.k * g.inner;
  if (r.num == 0 || m == 0) return absl::OkStatus();
  return DispatchNumeric(op, in[0].dtype, [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    MXGRID_ASSIGN_OR_RETURN(const int64_t* sorted, SortRows<T>(ctx, op, p, r, in[0].as<T>()));
    cudaStream_t stream = gpu::StreamOf(ctx.stream);
    if (p.ret == SortRet::kMask) {
      if (reqs[0] == OpReq::kNull) return absl::OkStatus();
      MaskKernel<T><<<gpu::Blocks(m), gpu::kThreads, 0, stream>>>(sorted, out[0].as<T>(), m, r,
                                                                  Req(reqs[0]));
      return gpu::LaunchStatus(ctx.ctx.device_id, op);
    }
    const int idx_out = p.ret == SortRet::kIndices ? 0 : 1;
    if (p.ret != SortRet::kIndices && reqs[0] != OpReq::kNull) {
      ValuesKernel<T><<<gpu::Blocks(m), gpu::kThreads, 0, stream>>>(
          in[0].as<T>(), sorted, out[0].as<T>(), m, r, Req(reqs[0]));
      MXGRID_RETURN_IF_ERROR(gpu::LaunchStatus(ctx.ctx.device_id, op));
    }
    return WriteIndices(ctx, op, sorted, r, m, reqs[idx_out], out[idx_out]);
  });
}

// Indices and masks have a zero gradient; values send theirs back to their sources.
absl::Status SortBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<SortParams>(params);
  const char* op = SortName(p.kind);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& dx = a.in_grads[0];
  MXGRID_ASSIGN_OR_RETURN(SortGeometry g, SortGeom(op, p, dx.shape));
  MXGRID_RETURN_IF_ERROR(ZeroWithReq(ctx, op, dx, a.reqs[0]));
  if (p.ret != SortRet::kValue && p.ret != SortRet::kBoth) return absl::OkStatus();
  const Rows r = MakeRows(g);
  const int64_t m = g.outer * g.k * g.inner;
  if (r.num == 0 || m == 0) return absl::OkStatus();
  if (a.inputs.empty() || a.inputs[0].data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": backward needs the forward's data input"));
  }
  return DispatchNumeric(op, dx.dtype, [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    MXGRID_ASSIGN_OR_RETURN(const int64_t* sorted,
                            SortRows<T>(ctx, op, p, r, a.inputs[0].as<T>()));
    GradKernel<T><<<gpu::Blocks(m), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.out_grads[0].as<T>(), sorted, dx.as<T>(), m, r, Req(a.reqs[0]));
    return gpu::LaunchStatus(ctx.ctx.device_id, op);
  });
}

absl::Status SetSort(Registry* registry, const char* name, bool backward) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
  d->gpu_forward = SortForward;
  if (backward) d->gpu_backward = SortBackward;
  d->gpu_dtypes = NumericDtypes();
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterSortCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetSort(registry, "topk", true));
  MXGRID_RETURN_IF_ERROR(SetSort(registry, "sort", true));
  return SetSort(registry, "argsort", false);
}

}  // namespace mxgrid::ops::tensor_cuda
