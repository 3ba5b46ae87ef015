// Parsed parameters of the reductions (sum, mean, max, ...; argmax, argmin) and the axis
// logic the CPU and CUDA kernels share (internal to libs/ops/tensor; defined in reduce.cc).
#ifndef MXGRID_LIBS_OPS_TENSOR_REDUCE_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_REDUCE_PARAMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct ReduceParams : OpParams {
  std::optional<std::vector<int64_t>> axis;  // nullopt: all
  bool keepdims = false;
  bool exclude = false;
};

struct ArgmaxParams : OpParams {
  std::optional<int64_t> axis;  // nullopt: all elements (flat index)
  bool keepdims = false;
};

// Which axes of `in` are reduced; InvalidArgument (naming `op`) for a bad or repeated axis.
absl::StatusOr<std::vector<bool>> ReduceMask(const std::string& op, const ReduceParams& p,
                                             const Shape& in);

// The keepdims shape of the reduction of `in` (reduced dims are 1).
absl::StatusOr<Shape> KeptShape(const std::string& op, const ReduceParams& p, const Shape& in);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_REDUCE_PARAMS_H_
