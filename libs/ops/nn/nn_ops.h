// The nn operator family: FullyConnected, Activation, LeakyReLU, SoftmaxOutput [Softmax],
// softmax, log_softmax, SoftmaxActivation, Linear/Logistic/MAERegressionOutput, Dropout.
//
//   Registry registry;
//   MXGRID_RETURN_IF_ERROR(RegisterNNOps(&registry));
//
// CPU kernels for float32 and float64, with MXNet 1.9.1's shape rules and gradients.
#ifndef MXGRID_LIBS_OPS_NN_NN_OPS_H_
#define MXGRID_LIBS_OPS_NN_NN_OPS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

// Adds every nn operator; AlreadyExists when one of their names is taken.
absl::Status RegisterNNOps(Registry* registry);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_NN_NN_OPS_H_
