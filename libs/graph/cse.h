// Common expression elimination (MXNet's MXNET_ELIMINATE_COMMON_EXPR pass): nodes that apply
// the same operator with the same attributes to the same inputs compute the same values, so
// one of them can serve all their consumers.
//
//   MXGRID_ASSIGN_OR_RETURN(Symbol merged, EliminateCommonExpr(net, ops::GlobalRegistry()));
//   // (a + b) + (a + b): _plus2(_plus0, _plus0); _plus1 is gone
//
// A node takes part only when its result depends on nothing but its inputs and attributes:
// never a variable, an operator without inputs, one that draws random numbers
// (OpDef::random: Dropout, samplers) or one that writes an input (auxiliary states, e.g.
// BatchNorm's moving statistics). Of equal nodes the first in DFS post-order stays, keeping
// its name; since its inputs are the same, list_arguments() order does not change. When
// anything merged, every head that repeats an earlier one reads through a new "_copy" node
// named "<node>_<k>_copy" (k counting from 0 per entry), so distinct outputs stay distinct
// arrays, as MXNet does. When nothing merges the symbol is returned as it is.
//
// Thread-safety: a pure function.
#ifndef MXGRID_LIBS_GRAPH_CSE_H_
#define MXGRID_LIBS_GRAPH_CSE_H_

#include "absl/status/statusor.h"
#include "libs/graph/symbol.h"
#include "libs/ops/registry.h"

namespace mxgrid::graph {

// A copy of `symbol` with common expressions merged (nodes of `symbol` are not changed).
// NotFound when a copy is needed and `registry` has no "_copy" operator.
absl::StatusOr<Symbol> EliminateCommonExpr(const Symbol& symbol, const ops::Registry& registry);

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_CSE_H_
