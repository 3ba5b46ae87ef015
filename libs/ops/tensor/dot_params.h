// Parsed parameters of dot and batch_dot and their matrix dimensions, shared by the CPU
// (dot.cc, where DotDims is defined) and CUDA kernels (internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_DOT_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_DOT_PARAMS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct DotParams : OpParams {
  bool transpose_a = false, transpose_b = false;
};

// A (batched) product C(M, N) = op(A)(M, K) op(B)(K, N), `batch` times.
struct DotShape {
  int64_t batch = 1, m = 0, k = 0, n = 0;
};

// The dims of dot (batched: batch_dot) of lhs `l` and rhs `r`; InvalidArgument (naming
// `op`) when the contracted lengths differ or the ranks do not fit.
absl::StatusOr<DotShape> DotDims(const char* op, const DotParams& p, const Shape& l,
                                 const Shape& r, bool batched);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_DOT_PARAMS_H_
