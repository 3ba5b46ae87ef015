// Operator consistency cases for the random family (test-only): every registered random op
// through the harness (libs/ops/testing/op_checker.h). Draws are random, so most cases have
// no reference (random_ops_test and random_stats_test check values and statistics); the
// harness still checks inference, float32 against float64 with the same draws, and the
// backward contract — with the gradient of _sample_multinomial's log-probabilities checked
// against finite differences.
#ifndef MXGRID_LIBS_OPS_RANDOM_RANDOM_CASES_H_
#define MXGRID_LIBS_OPS_RANDOM_RANDOM_CASES_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {

std::vector<testing::OpCase> RandomCases();

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_RANDOM_RANDOM_CASES_H_
