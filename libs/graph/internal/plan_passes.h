// The passes MakePlan runs after shape and type inference (private to libs/graph).
#ifndef MXGRID_LIBS_GRAPH_INTERNAL_PLAN_PASSES_H_
#define MXGRID_LIBS_GRAPH_INTERNAL_PLAN_PASSES_H_

#include <vector>

#include "libs/graph/plan.h"
#include "libs/ops/op.h"

namespace mxgrid::graph::internal {

// Appends the gradient steps for the arguments whose request (list_arguments order) is not
// kNull, and fills plan->arg_grad_entries / head_grad_entries (gradient.cc).
void BuildGradient(Plan* plan, const std::vector<ops::OpReq>& arg_reqs);

// Assigns every non-external entry a block, sharing blocks between entries whose lifetimes
// do not overlap when share_memory (memory_plan.cc).
void PlanMemory(Plan* plan, bool share_memory);

}  // namespace mxgrid::graph::internal

#endif  // MXGRID_LIBS_GRAPH_INTERNAL_PLAN_PASSES_H_
