// transpose's parsed parameters and permutation, shared by the CPU (matrix.cc, where
// TransposeAxes is defined) and CUDA kernels (internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_MATRIX_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_MATRIX_PARAMS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct TransposeParams : OpParams {
  std::vector<int64_t> axes;  // empty: reversed
};

// The permutation (output dim i is input dim axes[i]) for an nd-d input; InvalidArgument for
// a wrong count, an out-of-range or a repeated axis.
absl::StatusOr<std::vector<int>> TransposeAxes(const TransposeParams& p, int nd);

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_MATRIX_PARAMS_H_
