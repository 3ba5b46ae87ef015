// Parsed parameters of one_hot, Embedding, take and pick, shared by the CPU (index.cc,
// take_pick.cc) and CUDA kernels (internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_INDEX_PARAMS_H_
#define MXGRID_LIBS_OPS_TENSOR_INDEX_PARAMS_H_

#include <cstdint>
#include <optional>

#include "libs/base/dtype.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::tensor_internal {

struct OneHotParams : OpParams {
  int64_t depth = 0;
  double on_value = 1, off_value = 0;
  std::optional<DType> dtype = DType::kFloat32;
};

struct EmbeddingParams : OpParams {
  int64_t input_dim = 0, output_dim = 0;
  std::optional<DType> dtype = DType::kFloat32;
  bool sparse_grad = false;  // recorded; the gradient is dense
};

// Out-of-range indices of take / pick: clipped, wrapped around, or an error.
enum class TakeMode { kClip, kWrap, kRaise };

struct TakeParams : OpParams {
  int64_t axis = 0;
  bool keepdims = false;  // pick only
  TakeMode mode = TakeMode::kClip;
};

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_INDEX_PARAMS_H_
