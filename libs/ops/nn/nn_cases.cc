#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops {

std::vector<testing::OpCase> NNCases() {
  std::vector<testing::OpCase> all;
  for (auto* family : {nn_cases_internal::FullyConnectedCases, nn_cases_internal::ActivationCases,
                       nn_cases_internal::SoftmaxCases, nn_cases_internal::SoftmaxOutputCases,
                       nn_cases_internal::RegressionCases, nn_cases_internal::DropoutCases,
                       nn_cases_internal::NormLossCases, nn_cases_internal::SequenceCases,
                       nn_cases_internal::PadCases}) {
    std::vector<testing::OpCase> cases = family();
    all.insert(all.end(), cases.begin(), cases.end());
  }
  std::vector<testing::OpCase> rnn = nn_cases_internal::RnnCases();
  all.insert(all.end(), rnn.begin(), rnn.end());
  return all;
}

}  // namespace mxgrid::ops
