// IndexedGraph: a Symbol flattened for the passes — nodes numbered in nnvm's DFS post-order
// (the ids MXNet's JSON uses) and outputs numbered as entries through node_row_ptr.
//
// Thread-safety: immutable after construction; keeps the symbol's nodes alive.
#ifndef MXGRID_LIBS_GRAPH_INDEXED_GRAPH_H_
#define MXGRID_LIBS_GRAPH_INDEXED_GRAPH_H_

#include <string>
#include <vector>

#include "libs/graph/node.h"
#include "libs/graph/symbol.h"

namespace mxgrid::graph {

class IndexedGraph {
 public:
  struct NodeInfo {
    const Node* node;
    std::vector<int> inputs;  // entry ids, in the node's input order
  };

  explicit IndexedGraph(const Symbol& symbol);

  const Symbol& symbol() const { return symbol_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const NodeInfo& node(int id) const { return nodes_[id]; }
  // Entry id of output `index` of node `id` (hidden outputs included).
  int entry(int id, int index) const { return row_ptr_[id] + index; }
  int num_entries() const { return row_ptr_.back(); }
  // The node producing entry `e`.
  int entry_node(int e) const { return entry_node_[e]; }

  // Entry ids of the symbol's outputs (list_outputs order).
  const std::vector<int>& outputs() const { return outputs_; }
  // Variable node ids in list_arguments / list_auxiliary_states order.
  const std::vector<int>& arg_nodes() const { return arg_nodes_; }
  const std::vector<int>& aux_nodes() const { return aux_nodes_; }

  // "node 'fc1' (FullyConnected)" or "variable 'data'", for error messages.
  std::string Describe(int id) const;

 private:
  Symbol symbol_;
  std::vector<NodeInfo> nodes_;
  std::vector<int> row_ptr_;
  std::vector<int> entry_node_;
  std::vector<int> outputs_;
  std::vector<int> arg_nodes_;
  std::vector<int> aux_nodes_;
};

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_INDEXED_GRAPH_H_
