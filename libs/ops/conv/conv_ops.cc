#include "libs/ops/conv/conv_ops.h"

#include "libs/base/status_macros.h"
#include "libs/ops/conv/conv_internal.h"

namespace mxgrid::ops {

absl::Status RegisterConvOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterConvolution(registry));
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterDeconvolution(registry));
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterPooling(registry));
  MXGRID_RETURN_IF_ERROR(conv_internal::RegisterBatchNorm(registry));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
