// Operator consistency cases for the nn family (test-only): every registered nn op with
// several shapes, an independent plain-loop reference, and gradient checks.
#ifndef MXGRID_LIBS_OPS_NN_NN_CASES_H_
#define MXGRID_LIBS_OPS_NN_NN_CASES_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {

std::vector<testing::OpCase> NNCases();

namespace nn_cases_internal {
// Per-family case lists, one .cc each.
std::vector<testing::OpCase> FullyConnectedCases();
std::vector<testing::OpCase> ActivationCases();
std::vector<testing::OpCase> SoftmaxCases();
std::vector<testing::OpCase> SoftmaxOutputCases();
std::vector<testing::OpCase> RegressionCases();
std::vector<testing::OpCase> DropoutCases();
// LayerNorm, InstanceNorm, L2Normalization, LRN, MakeLoss, smooth_l1.
std::vector<testing::OpCase> NormLossCases();
// SequenceMask, SequenceLast, SequenceReverse.
std::vector<testing::OpCase> SequenceCases();
// Pad, UpSampling (nearest).
std::vector<testing::OpCase> PadCases();
// RNN (every mode, stacked, bidirectional, state outputs).
std::vector<testing::OpCase> RnnCases();
}  // namespace nn_cases_internal

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_NN_NN_CASES_H_
