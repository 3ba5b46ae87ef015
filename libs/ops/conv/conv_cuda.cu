// Registers the conv family's CUDA kernels (see ../cuda_kernels.h): Convolution and
// Deconvolution on cuDNN, Pooling and BatchNorm on kernels of their own.
#include "libs/base/status_macros.h"
#include "libs/ops/conv/conv_cuda.cuh"
#include "libs/ops/cuda_kernels.h"

namespace mxgrid::ops {

absl::Status RegisterConvCudaKernels(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterConvolutionCuda(registry));
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterDeconvolutionCuda(registry));
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterPoolingCuda(registry));
  return conv_internal::RegisterBatchNormCuda(registry);
}

}  // namespace mxgrid::ops
