// MXNet's strided-slice geometry (internal to libs/ops/tensor), shared by `slice` and the
// slice-assign family (_slice_assign, _slice_assign_scalar): the begin/end/step parameters
// (ints or None per axis, Python slicing) and, for a data shape, each axis's first index,
// step and length, as MXNet 1.9.1's GetIndexRange and SetSliceOpOutputDimSize compute them.
//
//   SliceParams p;
//   MXGRID_RETURN_IF_ERROR(ReadSliceParams("slice", attrs, &p, &rest));
//   MXGRID_ASSIGN_OR_RETURN(SliceRanges r, ComputeSliceRanges("slice", p, data_shape));
//   ForEachSliced(r, data_shape, [&](int64_t k, int64_t offset) { y[k] = x[offset]; });
//
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_TENSOR_SLICE_UTIL_H_
#define MXGRID_LIBS_OPS_TENSOR_SLICE_UTIL_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/ops/op.h"
#include "libs/ops/tensor/common.h"

namespace mxgrid::ops::tensor_internal {

using OptTuple = std::vector<std::optional<int64_t>>;

struct SliceParams : OpParams {
  OptTuple begin, end, step;
};

// _slice_assign_scalar's: the region and the value written there (slice_assign.cc).
struct SliceAssignScalarParams : SliceParams {
  double scalar = 0.0;
};

// Reads begin (required), end (required) and step (optional) into *p, checking that the
// lengths agree and no step is 0; *rest receives the other attributes, for the caller's
// own parameters. InvalidArgument, prefixed with `op`, for anything malformed.
absl::Status ReadSliceParams(const char* op, const AttrMap& attrs, SliceParams* p,
                             AttrMap* rest);

// Per-axis first index, step and output length for data of a given shape.
struct SliceRanges {
  std::vector<int64_t> begin, step;
  Shape out;
};

// InvalidArgument for a scalar (0-d) shape or more begin entries than axes.
absl::StatusOr<SliceRanges> ComputeSliceRanges(const char* op, const SliceParams& p,
                                               const Shape& s);

// Calls visit(k, offset) for each element k (C order) of the sliced region with its flat
// offset in the data of shape `in`.
template <typename Visit>
void ForEachSliced(const SliceRanges& r, const Shape& in, Visit visit) {
  const int nd = in.ndim();
  const std::vector<int64_t> st = Strides(in);
  std::vector<int64_t> stride(nd);
  int64_t cur = 0;
  for (int i = 0; i < nd; ++i) {
    stride[i] = st[i] * r.step[i];
    cur += st[i] * r.begin[i];
  }
  std::vector<int64_t> coord(nd, 0);
  for (int64_t k = 0, n = r.out.Size(); k < n; ++k) {
    visit(k, cur);
    for (int i = nd - 1; i >= 0; --i) {  // odometer increment
      cur += stride[i];
      if (++coord[i] < r.out[i]) break;
      cur -= stride[i] * r.out[i];
      coord[i] = 0;
    }
  }
}

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_SLICE_UTIL_H_
