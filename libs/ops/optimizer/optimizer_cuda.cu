// Registers the optimizer family's CUDA kernels (see ../cuda_kernels.h): every *_update op
// of the spec lists gets a GPU forward that checks the call as the CPU forward does
// (CheckUpdateCall) and runs its kernel (sgd_ops.cu, adaptive_ops.cu, lamb_ops.cu) on
// float16, float32 or float64 weights; the multi_*sgd*_update ops get theirs from
// multi_sgd_ops.cu.
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "libs/base/status_macros.h"
#include "libs/ops/cuda_kernels.h"
#include "libs/ops/optimizer/optimizer_cuda_util.h"
#include "libs/ops/optimizer/optimizer_ops_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops {

absl::Status RegisterOptimizerCudaKernels(Registry* registry) {
  std::map<std::string, optimizer::GpuUpdateKernel> kernels;
  optimizer::AddSgdGpuKernels(&kernels);
  optimizer::AddAdaptiveGpuKernels(&kernels);
  optimizer::AddLambGpuKernels(&kernels);
  for (auto* specs : {optimizer::SgdOpSpecs, optimizer::AdaptiveOpSpecs,
                      optimizer::LambOpSpecs}) {
    for (optimizer::UpdateOpSpec& s : specs()) {
      auto it = kernels.find(s.name);
      if (it == kernels.end()) continue;
      MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(s.name));
      auto spec = std::make_shared<const optimizer::UpdateOpSpec>(std::move(s));
      d->gpu_forward = [spec, kernel = it->second](
                           const OpContext& ctx, const OpParams& params,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) -> absl::Status {
        MXGRID_RETURN_IF_ERROR(optimizer::CheckUpdateCall(*spec, in, reqs[0], out[0]));
        return kernel(ctx, ParamsAs<optimizer::UpdateParams>(params), in, reqs[0], out[0]);
      };
      d->gpu_dtypes = {DType::kFloat16, DType::kFloat32, DType::kFloat64};
    }
  }
  return optimizer::RegisterMultiSgdCuda(registry);
}

}  // namespace mxgrid::ops
