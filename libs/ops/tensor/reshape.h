// MXNet's Reshape shape codes (internal to libs/ops/tensor): 0 copies a dim, -1 infers one,
// -2 copies the rest, -3 merges two dims, -4 splits one into the next two values; with
// `reverse` the codes are matched right to left.
#ifndef MXGRID_LIBS_OPS_TENSOR_RESHAPE_H_
#define MXGRID_LIBS_OPS_TENSOR_RESHAPE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct ReshapeParams : OpParams {
  std::vector<int64_t> shape;
  bool reverse = false;
};

// Parses shape and reverse (target_shape/keep_highest, deprecated, only when empty/false).
absl::Status ParseReshape(const AttrMap& attrs, ReshapeParams* p);

// The output shape for input `in`; InvalidArgument for a bad code or a size mismatch.
absl::StatusOr<Shape> InferReshape(const ReshapeParams& p, const Shape& in);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_RESHAPE_H_
