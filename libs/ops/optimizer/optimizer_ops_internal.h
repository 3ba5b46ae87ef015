// The optimizer family's per-file spec lists (private to libs/ops/optimizer).
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_OPS_INTERNAL_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_OPS_INTERNAL_H_

#include <vector>

#include "absl/types/span.h"
#include "libs/ops/optimizer/update_op.h"

namespace mxgrid::ops::optimizer {

using Span = absl::Span<const TensorView>;

std::vector<UpdateOpSpec> SgdOpSpecs();       // sgd_ops.cc
std::vector<UpdateOpSpec> AdaptiveOpSpecs();  // adaptive_ops.cc
std::vector<UpdateOpSpec> LambOpSpecs();      // lamb_ops.cc
std::vector<OpDef> MultiSgdOps();             // multi_sgd_ops.cc

}  // namespace mxgrid::ops::optimizer

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_OPTIMIZER_OPS_INTERNAL_H_
