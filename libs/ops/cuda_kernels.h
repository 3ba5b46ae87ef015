// The CUDA kernels of the built-in operator families (--config=cuda builds only): each
// family's Register*CudaKernels attaches OpDef::gpu_forward / gpu_backward (and gpu_dtypes)
// to the definitions its CPU registration made. Operators without one run their CPU kernels
// on host copies on a GPU context (gpu_fallback.h).
#ifndef MXGRID_LIBS_OPS_CUDA_KERNELS_H_
#define MXGRID_LIBS_OPS_CUDA_KERNELS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

// Every family's kernels. Called by GlobalRegistry() after the CPU registrations.
absl::Status RegisterCudaKernels(Registry* registry);

// Per family (each in its package, beside the CPU kernels, e.g. libs/ops/nn/*.cu).
absl::Status RegisterTensorCudaKernels(Registry* registry);     // libs/ops/tensor
absl::Status RegisterNNCudaKernels(Registry* registry);         // libs/ops/nn
absl::Status RegisterConvCudaKernels(Registry* registry);       // libs/ops/conv
absl::Status RegisterOptimizerCudaKernels(Registry* registry);  // libs/ops/optimizer
absl::Status RegisterRandomCudaKernels(Registry* registry);     // libs/ops/random
absl::Status RegisterLinalgCudaKernels(Registry* registry);     // libs/ops/linalg

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_CUDA_KERNELS_H_
