// The shape-op half of TensorCases (test-only, internal to libs/ops/tensor).
#ifndef MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_INTERNAL_H_
#define MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_INTERNAL_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops::tensor_cases_internal {

// Flatten, Reshape, expand_dims, squeeze, transpose.
void MatrixCases(std::vector<testing::OpCase>* cases);
// Concat, SliceChannel, slice_axis.
void ConcatSliceCases(std::vector<testing::OpCase>* cases);
// dot, batch_dot.
void DotCases(std::vector<testing::OpCase>* cases);
// one_hot, Embedding, where.
void IndexCases(std::vector<testing::OpCase>* cases);

}  // namespace mxgrid::ops::tensor_cases_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_INTERNAL_H_
