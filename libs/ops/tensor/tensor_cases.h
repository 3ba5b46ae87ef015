// Consistency-suite cases for every tensor op (test-only): each with an independent
// plain-loop reference and finite-difference gradient checks through the op checker.
#ifndef MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_H_
#define MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {

std::vector<testing::OpCase> TensorCases();

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_TENSOR_TENSOR_CASES_H_
