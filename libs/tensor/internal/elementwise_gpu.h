// CUDA kernels behind NDArray arithmetic on GPU arrays (--config=cuda builds only; private to
// libs/tensor). Launched asynchronously on `stream`; the caller synchronizes.
#ifndef MXGRID_LIBS_TENSOR_INTERNAL_ELEMENTWISE_GPU_H_
#define MXGRID_LIBS_TENSOR_INTERNAL_ELEMENTWISE_GPU_H_

#include <cstdint>

#include "absl/status/status.h"
#include "libs/base/dtype.h"

namespace mxgrid::tensor::internal {

// `op` is a BinaryOp (ndarray.h) as an int: 0 add, 1 sub, 2 mul, 3 div.
absl::Status BinaryKernelGpu(int device, void* stream, int op, DType dtype, const void* lhs,
                             const void* rhs, void* out, int64_t n);
absl::Status ScalarKernelGpu(int device, void* stream, int op, DType dtype, const void* lhs,
                             double scalar, bool scalar_on_left, void* out, int64_t n);

}  // namespace mxgrid::tensor::internal

#endif  // MXGRID_LIBS_TENSOR_INTERNAL_ELEMENTWISE_GPU_H_
