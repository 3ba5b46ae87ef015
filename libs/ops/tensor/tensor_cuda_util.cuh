// Device helpers shared by the tensor family's CUDA kernels (nvcc only, internal to
// libs/ops/tensor): OpReq-aware stores, float/double dispatch, index reads as the CPU's
// IndexAt, strided index maps for broadcasting and permutations (dims collapsed before
// launch), strided views (gather and scatter through one), a generic copy-with-request,
// and the axis reduction used by sum/mean/max/..., argmax and every broadcast backward.
//
// Every launch goes on the call's stream (OpContext::stream); nothing here synchronizes.
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_TENSOR_TENSOR_CUDA_UTIL_CUH_
#define MXGRID_LIBS_OPS_TENSOR_TENSOR_CUDA_UTIL_CUH_

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/cuda_dispatch.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_cuda {

inline constexpr int kMaxDims = Shape::kMaxNdim;
inline constexpr int kAddTo = static_cast<int>(OpReq::kAddTo);

inline int Req(OpReq r) { return static_cast<int>(r); }

// dst[i] = v, or dst[i] += v for kAddTo. Callers skip kNull before launching.
template <typename T>
__device__ __forceinline__ void Put(int req, T* dst, int64_t i, T v) {
  if (req == kAddTo) {
    dst[i] += v;
  } else {
    dst[i] = v;
  }
}

// Calls fn(T{}) for float32, float64 and the integer dtypes (copies, permutations, fills).
template <typename Fn>
absl::Status DispatchNumeric(absl::string_view op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    case DType::kInt8: return fn(int8_t{});
    case DType::kUint8: return fn(uint8_t{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", DTypeName(dtype), " has no CUDA kernel"));
  }
}

inline const std::vector<DType>& NumericDtypes() {
  static const std::vector<DType> kNumeric = {DType::kFloat32, DType::kFloat64, DType::kInt32,
                                              DType::kInt64,   DType::kInt8,    DType::kUint8};
  return kNumeric;
}

// The dtypes of index-taking kernels (one_hot, Embedding, take, where, gather_nd): float32,
// float64, int32 and int64, those with a native atomicAdd for their backward.
inline const std::vector<DType>& IndexDtypes() {
  static const std::vector<DType> kIndex = {DType::kFloat32, DType::kFloat64, DType::kInt32,
                                            DType::kInt64};
  return kIndex;
}

// atomicAdd for the dtypes of IndexDtypes() (int64 through its unsigned form).
__device__ inline void AtomicAdd(float* p, float v) { atomicAdd(p, v); }
__device__ inline void AtomicAdd(double* p, double v) { atomicAdd(p, v); }
__device__ inline void AtomicAdd(int32_t* p, int32_t v) { atomicAdd(p, v); }
__device__ inline void AtomicAdd(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// Calls fn(T{}) for the dtypes of IndexDtypes(); InvalidArgument for others.
template <typename Fn>
absl::Status DispatchIndex(absl::string_view op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", DTypeName(dtype), " has no CUDA kernel"));
  }
}

// gather_op.cc's IndexAt on the device: element i of an index array as int64, truncated
// toward zero, saturating, NaN 0.
template <typename I>
__device__ __forceinline__ int64_t IndexAt(const I* idx, int64_t i) {
  const double v = static_cast<double>(idx[i]);
  if (!(v == v)) return 0;
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return static_cast<int64_t>(v);
}

// Maps a flat C-order index over `dims` to an element offset through `strides`.
struct Index {
  int ndim = 0;
  int64_t dims[kMaxDims];
  int64_t strides[kMaxDims];
};

__device__ __forceinline__ int64_t Offset(const Index& ix, int64_t k) {
  int64_t off = 0;
  for (int d = ix.ndim - 1; d > 0; --d) {
    const int64_t q = k / ix.dims[d];
    off += (k - q * ix.dims[d]) * ix.strides[d];
    k = q;
  }
  return ix.ndim > 0 ? off + k * ix.strides[0] : off;
}

// C-order strides of `s`.
inline std::vector<int64_t> Strides(const Shape& s) {
  std::vector<int64_t> st(s.ndim(), 1);
  for (int i = s.ndim() - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

// An index over `dims` whose operands advance by the given strides (one list per operand),
// with dims of length 1 dropped and adjacent dims merged where every operand allows it.
// Returns one Index per operand, sharing dims.
inline std::vector<Index> Collapse(const std::vector<int64_t>& dims,
                                   const std::vector<std::vector<int64_t>>& strides) {
  std::vector<int64_t> d;
  std::vector<std::vector<int64_t>> s(strides.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 1) continue;
    bool merge = !d.empty();
    for (size_t k = 0; merge && k < strides.size(); ++k) {
      merge = s[k].back() == strides[k][i] * dims[i];
    }
    if (merge) {
      d.back() *= dims[i];
      for (size_t k = 0; k < strides.size(); ++k) s[k].back() = strides[k][i];
    } else {
      d.push_back(dims[i]);
      for (size_t k = 0; k < strides.size(); ++k) s[k].push_back(strides[k][i]);
    }
  }
  std::vector<Index> out(strides.size());
  for (size_t k = 0; k < strides.size(); ++k) {
    out[k].ndim = static_cast<int>(d.size());
    for (size_t i = 0; i < d.size(); ++i) {
      out[k].dims[i] = d[i];
      out[k].strides[i] = s[k][i];
    }
  }
  return out;
}

// Strides of `in` read at the coordinates of `out` under right-aligned broadcasting (0 on
// the axes `in` is broadcast along). REQUIRES: in's dims are 1 or out's.
inline std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  const int nd = out.ndim(), off = nd - in.ndim();
  std::vector<int64_t> st(nd, 0);
  int64_t s = 1;
  for (int i = nd - 1; i >= off; --i) {
    st[i] = in[i - off] == 1 ? 0 : s;
    s *= in[i - off];
  }
  return st;
}

inline std::vector<int64_t> Dims(const Shape& s) {
  return std::vector<int64_t>(s.dims().begin(), s.dims().end());
}

// y (req) x over n elements; a no-op when in place. Any dtype (bytes copied for writes).
absl::Status CopyWithReq(const OpContext& ctx, const char* op, const TensorView& x, OpReq req,
                         const TensorView& y);

// dst[o, d_off + j, i] (req) src[o, s_off + j, i] for o < outer, j < n, i < inner (the
// blocks of Concat, SliceChannel, slice_axis). `zero`: first clear dst (kWriteTo of part).
absl::Status CopyBlock(const OpContext& ctx, const char* op, const TensorView& src,
                       int64_t s_len, int64_t s_off, const TensorView& dst, int64_t d_len,
                       int64_t d_off, int64_t outer, int64_t n, int64_t inner, OpReq req,
                       bool zero = false);

// Zeros `t` for kWriteTo/kWriteInplace (any dtype); kNull and kAddTo leave it.
absl::Status ZeroWithReq(const OpContext& ctx, const char* op, const TensorView& t, OpReq req);

// A strided view of an array: element k (C order over `dims`) is at
// base + sum_i c_i * strides[i] (strides may be negative or 0).
struct View {
  std::vector<int64_t> dims, strides;
  int64_t base = 0;
};

// The region [begin:end:step] (ranges from slice_util.h's ComputeSliceRanges) of an array
// shaped `s`.
View RangesView(const std::vector<int64_t>& begin, const std::vector<int64_t>& step,
                const Shape& out, const Shape& s);

// dst (req) the view of src; or, `scatter`, the view of dst (req) src. Numeric dtypes.
// REQUIRES for a scatter: distinct positions (dst is written only at them).
absl::Status RunView(const OpContext& ctx, const char* op, const View& v, const TensorView& src,
                     OpReq req, const TensorView& dst, bool scatter);

// Writes `value` (converted to y's dtype) into y, or adds it for kAddTo. float32/float64.
absl::Status FillWithReq(const OpContext& ctx, const char* op, double value, OpReq req,
                         const TensorView& y);

// y (req) sum of x over the axes where `kept` (x's shape with reduced dims 1) is 1, times
// `scale`. REQUIRES: kept.ndim() == x.shape.ndim(); y has kept.Size() elements.
absl::Status SumTo(const OpContext& ctx, const char* op, const TensorView& x,
                   const Shape& kept, double scale, OpReq req, const TensorView& y);

// The geometry of a reduction of `in` to its keepdims shape `kept`: output elements (kept
// axes) and reduced elements, each an Index into `in`.
struct ReduceGeom {
  Index out;          // over the kept axes, strides into `in`
  Index red;          // over the reduced axes, strides into `in`
  int64_t num_out = 1;
  int64_t num_red = 1;
  bool inner_reduced = false;  // the innermost axis with stride 1 is reduced
};
ReduceGeom MakeReduceGeom(const Shape& in, const Shape& kept);

}  // namespace mxgrid::ops::tensor_cuda

#endif  // MXGRID_LIBS_OPS_TENSOR_TENSOR_CUDA_UTIL_CUH_
