// The conv family's CUDA registrations, one per .cu file; RegisterConvCudaKernels
// (conv_cuda.cu) calls them. Each attaches gpu_forward / gpu_backward / gpu_dtypes to the
// OpDef its CPU registration made.
#ifndef MXGRID_LIBS_OPS_CONV_CONV_CUDA_CUH_
#define MXGRID_LIBS_OPS_CONV_CONV_CUDA_CUH_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::conv_internal {

absl::Status RegisterConvolutionCuda(Registry* registry);    // convolution.cu
absl::Status RegisterDeconvolutionCuda(Registry* registry);  // deconvolution.cu
absl::Status RegisterPoolingCuda(Registry* registry);        // pooling.cu
absl::Status RegisterBatchNormCuda(Registry* registry);      // batch_norm.cu

}  // namespace mxgrid::ops::conv_internal

#endif  // MXGRID_LIBS_OPS_CONV_CONV_CUDA_CUH_
