// Operator consistency cases for the linalg family (test-only): every _linalg_* operator
// through the harness (libs/ops/testing/op_checker.h), references computed with plain loops
// (products, Gauss-Jordan inverses, Laplace determinants) independent of dense.h.
// potrf's symmetric gradient and gelqf's values are checked in linalg_ops_test instead.
#ifndef MXGRID_LIBS_OPS_LINALG_LINALG_CASES_H_
#define MXGRID_LIBS_OPS_LINALG_LINALG_CASES_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {

std::vector<testing::OpCase> LinalgCases();

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_LINALG_LINALG_CASES_H_
