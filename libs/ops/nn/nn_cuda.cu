// Registers the nn family's CUDA kernels (see ../cuda_kernels.h).
#include "libs/ops/cuda_kernels.h"

namespace mxgrid::ops {

absl::Status RegisterNNCudaKernels(Registry* registry) {
  (void)registry;
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
