// Registers the nn family's CUDA kernels (see ../cuda_kernels.h); each op file's .cu holds
// its kernels and registration (nn_cuda_util.h lists them).
#include "libs/base/status_macros.h"
#include "libs/ops/cuda_kernels.h"
#include "libs/ops/nn/nn_cuda_util.h"

namespace mxgrid::ops {

absl::Status RegisterNNCudaKernels(Registry* registry) {
  for (absl::Status (*reg)(Registry*) :
       {nn::RegisterFullyConnectedCuda, nn::RegisterActivationCuda, nn::RegisterSoftmaxCuda,
        nn::RegisterSoftmaxOutputCuda, nn::RegisterRegressionCuda, nn::RegisterDropoutCuda,
        nn::RegisterMakeLossCuda, nn::RegisterLayerNormCuda, nn::RegisterPadSequenceCuda,
        nn::RegisterNormUpSamplingCuda, nn::RegisterRnnCuda}) {
    MXGRID_RETURN_IF_ERROR(reg(registry));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
