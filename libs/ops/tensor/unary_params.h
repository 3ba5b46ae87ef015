// Parsed parameters of clip and Cast, shared by the CPU (unary.cc) and CUDA kernels
// (internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_UNARY_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_UNARY_PARAMS_H_

#include <optional>

#include "libs/base/dtype.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct ClipParams : OpParams {
  double a_min = 0, a_max = 0;
};

struct CastParams : OpParams {
  std::optional<DType> dtype;
};

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_UNARY_PARAMS_H_
