// GlobalRegistry(): every built-in operator family, registered by explicit calls.
#include "libs/ops/builtin.h"

#include "libs/base/check.h"
#include "libs/ops/conv/conv_ops.h"
#if MXGRID_CUDA
#include "libs/ops/cuda_kernels.h"
#endif
#include "libs/ops/linalg/linalg_ops.h"
#include "libs/ops/nn/nn_ops.h"
#include "libs/ops/optimizer/optimizer_ops.h"
#include "libs/ops/random/random_ops.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

// Aborts on a registration error: that is a bug in an op family (e.g. a name registered
// twice), never bad input.
void MustRegister(const absl::Status& status) {
  MXGRID_CHECK(status.ok()) << "operator registration failed: " << status;
}

}  // namespace

const Registry& GlobalRegistry() {
  static Registry registry;
  static const bool registered = [] {
    MustRegister(RegisterTensorOps(&registry));
    MustRegister(RegisterNNOps(&registry));
    MustRegister(RegisterConvOps(&registry));
    MustRegister(RegisterOptimizerOps(&registry));
    MustRegister(RegisterRandomOps(&registry));
    MustRegister(RegisterLinalgOps(&registry));
#if MXGRID_CUDA
    MustRegister(RegisterCudaKernels(&registry));
#endif
    return true;
  }();
  static_cast<void>(registered);
  return registry;
}

}  // namespace mxgrid::ops
