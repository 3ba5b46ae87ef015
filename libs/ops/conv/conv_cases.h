// Consistency cases for the convolution family (test-only): each registered op with an
// independent plain-loop reference and finite-difference gradient checks.
#ifndef MXGRID_LIBS_OPS_CONV_CONV_CASES_H_
#define MXGRID_LIBS_OPS_CONV_CONV_CASES_H_

#include <vector>

#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops::testing {

std::vector<OpCase> ConvCases();

// The Deconvolution cases (deconv_cases.cc); included in ConvCases().
std::vector<OpCase> DeconvCases();

// The 3-D (NCDHW) Convolution, Deconvolution and Pooling cases (conv3d_cases.cc); included
// in ConvCases().
std::vector<OpCase> Conv3DCases();

}  // namespace mxgrid::ops::testing

#endif  // MXGRID_LIBS_OPS_CONV_CONV_CASES_H_
