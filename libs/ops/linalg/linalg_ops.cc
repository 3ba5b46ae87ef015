#include "libs/ops/linalg/linalg_ops.h"

#include "libs/base/status_macros.h"

namespace mxgrid::ops {

absl::Status RegisterLinalgOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(RegisterLinalgGemmOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterLinalgTriangularOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterLinalgFactorOps(registry));
  return RegisterLinalgDiagOps(registry);
}

}  // namespace mxgrid::ops
