// Elementwise binary kernels on CPU (private to libs/tensor).
//
// Integer arithmetic wraps on overflow (as two's complement hardware does) instead of being
// undefined; INT_MIN / -1 wraps too; division by zero is reported, never executed.
// float16/bfloat16 compute in float.
#ifndef MXGRID_LIBS_TENSOR_INTERNAL_ELEMENTWISE_H_
#define MXGRID_LIBS_TENSOR_INTERNAL_ELEMENTWISE_H_

#include <cstdint>
#include <type_traits>

#include "absl/status/status.h"
#include "libs/base/dtype.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor::internal {

// out[i] = lhs[i] op rhs[i]. Buffers may alias exactly (in place), not partially.
absl::Status BinaryKernel(BinaryOp op, DType dtype, const void* lhs, const void* rhs,
                          void* out, int64_t n);
// out[i] = lhs[i] op scalar (or scalar op lhs[i] when scalar_on_left). The scalar is first
// converted to dtype, as MXNet does.
absl::Status ScalarKernel(BinaryOp op, DType dtype, const void* lhs, double scalar,
                          bool scalar_on_left, void* out, int64_t n);

}  // namespace mxgrid::tensor::internal

#endif  // MXGRID_LIBS_TENSOR_INTERNAL_ELEMENTWISE_H_
