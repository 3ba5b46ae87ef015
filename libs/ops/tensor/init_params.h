// Parsed parameters of the creation ops (_zeros, _ones, _full, _arange, _linspace, _eye),
// shared by the CPU (init_ops.cc) and CUDA kernels (internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_INIT_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_INIT_PARAMS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "libs/base/dtype.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct InitParams : OpParams {
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;
  double value = 0;
  // _arange only.
  double start = 0, step = 1;
  std::optional<double> stop;
  int64_t repeat = 1;
  // _linspace only.
  int64_t num = 0;
  bool endpoint = true;
  // _eye only (cols is M, or N when M is 0).
  int64_t rows = 0, cols = 0, diag = 0;
};

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_INIT_PARAMS_H_
