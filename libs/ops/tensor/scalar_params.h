// Parsed parameters of the *_scalar ops, shared by the CPU (elemwise_scalar.cc) and CUDA
// kernels (internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_SCALAR_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_SCALAR_PARAMS_H_

#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct ScalarParams : OpParams {
  double scalar = 1.0;
  bool is_int = true;  // only recorded
};

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_SCALAR_PARAMS_H_
