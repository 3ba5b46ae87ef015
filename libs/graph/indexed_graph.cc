#include "libs/graph/indexed_graph.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"

namespace mxgrid::graph {

IndexedGraph::IndexedGraph(const Symbol& symbol) : symbol_(symbol) {
  const std::vector<const Node*> order = symbol_.PostOrder();
  absl::flat_hash_map<const Node*, int> ids;
  ids.reserve(order.size());
  nodes_.reserve(order.size());
  row_ptr_.push_back(0);
  for (const Node* n : order) {
    const int id = static_cast<int>(nodes_.size());
    ids.emplace(n, id);
    NodeInfo info{n, {}};
    for (const NodeEntry& e : n->inputs) {
      info.inputs.push_back(row_ptr_[ids.at(e.node.get())] + e.index);
    }
    nodes_.push_back(std::move(info));
    for (int i = 0; i < n->num_outputs(); ++i) entry_node_.push_back(id);
    row_ptr_.push_back(row_ptr_.back() + n->num_outputs());
  }
  for (const NodeEntry& e : symbol_.outputs()) {
    outputs_.push_back(row_ptr_[ids.at(e.node.get())] + e.index);
  }
  std::vector<bool> aux(nodes_.size());
  for (const NodeInfo& info : nodes_) {
    if (!info.node->op) continue;
    for (int i : info.node->op->aux_indices()) aux[entry_node_[info.inputs[i]]] = true;
  }
  for (int id = 0; id < num_nodes(); ++id) {
    if (!nodes_[id].node->is_variable()) continue;
    (aux[id] ? aux_nodes_ : arg_nodes_).push_back(id);
  }
}

std::string IndexedGraph::Describe(int id) const {
  const Node& n = *nodes_[id].node;
  if (n.is_variable()) return absl::StrCat("variable ", Quoted(n.name));
  return absl::StrCat("node ", Quoted(n.name), " (", n.op->def().name, ")");
}

}  // namespace mxgrid::graph
