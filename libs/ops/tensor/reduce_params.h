// Parsed parameters of the reductions (sum, mean, max, ...; argmax, argmin; norm;
// _square_sum) and the axis logic the CPU and CUDA kernels share (internal to
// libs/ops/tensor; defined in reduce.cc, NormShapes in norm.cc).
#ifndef MXGRID_LIBS_OPS_TENSOR_REDUCE_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_REDUCE_PARAMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
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

struct NormParams : OpParams {
  int64_t ord = 2;
  std::optional<std::vector<int64_t>> axis;  // nullopt: all
  std::optional<DType> out_dtype;            // nullopt: the input's
  bool keepdims = false;
};

struct SquareSumParams : OpParams {
  int64_t axis = 0;
  bool keepdims = false;
};

// norm's keepdims shape of `in` (reduced axes at 1) and its output shape; InvalidArgument
// for a bad or repeated axis.
absl::Status NormShapes(const NormParams& p, const Shape& in, Shape* kept, Shape* out);

// Which axes of `in` are reduced; InvalidArgument (naming `op`) for a bad or repeated axis.
absl::StatusOr<std::vector<bool>> ReduceMask(const std::string& op, const ReduceParams& p,
                                             const Shape& in);

// The keepdims shape of the reduction of `in` (reduced dims are 1).
absl::StatusOr<Shape> KeptShape(const std::string& op, const ReduceParams& p, const Shape& in);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_REDUCE_PARAMS_H_
