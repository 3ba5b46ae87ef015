#include "libs/ops/cuda_kernels.h"

#include "libs/base/status_macros.h"

namespace mxgrid::ops {

absl::Status RegisterCudaKernels(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(RegisterTensorCudaKernels(registry));
  MXGRID_RETURN_IF_ERROR(RegisterNNCudaKernels(registry));
  MXGRID_RETURN_IF_ERROR(RegisterConvCudaKernels(registry));
  MXGRID_RETURN_IF_ERROR(RegisterOptimizerCudaKernels(registry));
  MXGRID_RETURN_IF_ERROR(RegisterRandomCudaKernels(registry));
  MXGRID_RETURN_IF_ERROR(RegisterLinalgCudaKernels(registry));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
