// Operator consistency cases for the optimizer family (test-only): every *_update op with an
// independent plain-loop reference of its output (the new weight, or LAMB's g).
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_CASES_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_CASES_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {

std::vector<testing::OpCase> OptimizerCases();

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_CASES_H_
