#include "libs/ops/optimizer/optimizer_ops.h"

#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/optimizer/optimizer_ops_internal.h"

namespace mxgrid::ops {

absl::Status RegisterOptimizerOps(Registry* registry) {
  for (auto* specs : {optimizer::SgdOpSpecs, optimizer::AdaptiveOpSpecs,
                      optimizer::LambOpSpecs}) {
    for (optimizer::UpdateOpSpec& spec : specs()) {
      MXGRID_RETURN_IF_ERROR(registry->Register(optimizer::MakeUpdateOp(std::move(spec))));
    }
  }
  for (OpDef& def : optimizer::MultiSgdOps()) {
    MXGRID_RETURN_IF_ERROR(registry->Register(std::move(def)));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
