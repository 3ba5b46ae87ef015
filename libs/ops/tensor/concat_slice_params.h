// Parsed parameters of Concat, SliceChannel and slice_axis, shared by the CPU
// (concat_slice.cc, where SliceRange is defined) and CUDA kernels (internal to
// libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_CONCAT_SLICE_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_CONCAT_SLICE_PARAMS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct ConcatParams : OpParams {
  int64_t num_args = 1;
  int64_t dim = 1;
};

struct SplitParams : OpParams {
  int64_t num_outputs = 1;
  int64_t axis = 1;
  bool squeeze_axis = false;
};

struct SliceAxisParams : OpParams {
  int64_t axis = 0, begin = 0;
  std::optional<int64_t> end;  // nullopt: the axis' end
};

// slice_axis's normalized axis and [begin, end) on `s`; InvalidArgument for an empty or
// out-of-range slice.
absl::Status SliceRange(const SliceAxisParams& p, const Shape& s, int* ax, int64_t* b,
                        int64_t* e);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_CONCAT_SLICE_PARAMS_H_
