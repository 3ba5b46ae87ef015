// Parsed parameters of the copying shape ops, shared by their CPU kernels (shape_ops.cc:
// tile, repeat, reverse, SwapAxis, broadcast_axis, stack; gather_nd_diag.cc: diag,
// slice_like; depth_space.cc: depth_to_space, space_to_depth; split_v2.cc: _split_v2,
// where Parts is defined) and their CUDA kernels (shape_cuda.cu). Internal to
// libs/ops/tensor. Thread-safety: plain structs and pure functions.
#ifndef MXGRID_LIBS_OPS_TENSOR_SHAPE_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_SHAPE_PARAMS_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/base/status_macros.h"
#include "libs/ops/op.h"
#include "libs/ops/tensor/common.h"

namespace mxgrid::ops::tensor_internal {

struct TileParams : OpParams {
  std::vector<int64_t> reps;
};

struct RepeatParams : OpParams {
  int64_t repeats = 0;
  std::optional<int64_t> axis;  // nullopt: repeat the flattened data
};

// reverse (axis) and broadcast_axis (axis, size).
struct AxesParams : OpParams {
  std::vector<int64_t> axis, size;
};

struct SwapParams : OpParams {
  int64_t dim1 = 0, dim2 = 0;
};

struct StackParams : OpParams {
  int64_t axis = 0, num_args = 0;
};

struct DiagParams : OpParams {
  int64_t k = 0, axis1 = 0, axis2 = 1;
};

struct SliceLikeParams : OpParams {
  std::vector<int64_t> axes;
};

// depth_to_space, space_to_depth.
struct BlockParams : OpParams {
  int64_t block_size = 1;
};

struct SplitV2Params : OpParams {
  std::vector<int64_t> indices;
  int64_t axis = 1;
  bool squeeze_axis = false;
  int64_t sections = 0;

  int64_t num_outputs() const {
    return sections > 0 ? sections : static_cast<int64_t>(indices.size());
  }
};

// The diagonal's length, start row and start column for an (n, m) plane and offset k.
inline void DiagGeometry(int64_t n, int64_t m, int64_t k, int64_t* len, int64_t* r0,
                         int64_t* c0) {
  *r0 = k < 0 ? -k : 0;
  *c0 = k > 0 ? k : 0;
  *len = std::max<int64_t>(0, std::min(n - *r0, m - *c0));
}

// The axes normalized against `nd` (reverse, broadcast_axis); InvalidArgument naming `op`
// for one out of range.
inline absl::StatusOr<std::vector<int>> Normalized(const char* op,
                                                   const std::vector<int64_t>& axes, int nd) {
  std::vector<int> out;
  for (int64_t a : axes) {
    MXGRID_ASSIGN_OR_RETURN(int v, NormalizeAxis(op, a, nd));
    out.push_back(v);
  }
  return out;
}

// [begin, end) of every _split_v2 part along an axis of length `len`; InvalidArgument for
// unsorted or out-of-range indices.
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> SplitV2Parts(const SplitV2Params& p,
                                                                      int64_t len);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_SHAPE_PARAMS_H_
