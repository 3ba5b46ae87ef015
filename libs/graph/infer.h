// Shape and type inference over a graph (MXNet's InferShape / InferType passes).
//
//   MXGRID_ASSIGN_OR_RETURN(ShapeInference r, InferShape(net, {{"data", Shape{100, 100}}}));
//   r.arg_shapes;   // list_arguments order: (100, 100), (10, 100), (10,)
//
// Sweeps alternate forward and backward over the nodes, letting each operator fill what it
// can of its inputs and outputs, until no more becomes known. Variables start from the given
// shapes, else from their "__shape__" attribute (0 dims unknown, as MXNet's legacy mode).
// A conflict is InvalidArgument "Error in operator 'fc1' (FullyConnected): ..." with both
// shapes; an unknown name in `known` is InvalidArgument too.
//
// Thread-safety: pure functions.
#ifndef MXGRID_LIBS_GRAPH_INFER_H_
#define MXGRID_LIBS_GRAPH_INFER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/graph/indexed_graph.h"
#include "libs/graph/symbol.h"

namespace mxgrid::graph {

// Entry-level passes: `shapes` / `types` have one slot per entry of `g`, pre-filled with what
// is known; on return every slot that can be inferred is.
absl::Status InferEntryShapes(const IndexedGraph& g, std::vector<ops::InferShape>* shapes);
absl::Status InferEntryTypes(const IndexedGraph& g, std::vector<ops::InferType>* types);

// Initial slots from variables' attributes and `known` (by variable name).
absl::StatusOr<std::vector<ops::InferShape>> InitialShapes(
    const IndexedGraph& g, const std::map<std::string, ops::InferShape>& known);
absl::StatusOr<std::vector<ops::InferType>> InitialTypes(
    const IndexedGraph& g, const std::map<std::string, DType>& known);

// infer_shape / infer_shape_partial: slots in list_arguments / list_outputs /
// list_auxiliary_states order; unknown ones nullopt or with -1 dims. `complete` when every
// entry of the graph is fully known (infer_shape returns None otherwise).
struct ShapeInference {
  std::vector<ops::InferShape> arg_shapes;
  std::vector<ops::InferShape> out_shapes;
  std::vector<ops::InferShape> aux_shapes;
  bool complete = false;
};
absl::StatusOr<ShapeInference> InferShape(const Symbol& symbol,
                                          const std::map<std::string, ops::InferShape>& known);

struct TypeInference {
  std::vector<ops::InferType> arg_types;
  std::vector<ops::InferType> out_types;
  std::vector<ops::InferType> aux_types;
  bool complete = false;
};
absl::StatusOr<TypeInference> InferType(const Symbol& symbol,
                                        const std::map<std::string, DType>& known);

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_INFER_H_
