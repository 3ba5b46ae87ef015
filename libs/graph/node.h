// The nodes of a Symbol graph (nnvm's Node / NodeEntry): an operator application or a
// variable, and references to a node's outputs.
//
// Graphs are immutable once built: Symbol composition copies what it changes, so nodes are
// shared freely between symbols (shared_ptr) and read from any thread.
#ifndef MXGRID_LIBS_GRAPH_NODE_H_
#define MXGRID_LIBS_GRAPH_NODE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libs/ops/op.h"

namespace mxgrid::graph {

struct Node;

// Output `index` of `node`.
struct NodeEntry {
  std::shared_ptr<Node> node;
  int index = 0;
};

struct Node {
  std::string name;
  // The operator with its parsed parameters; nullopt for a variable.
  std::optional<ops::ParsedOp> op;
  // Attributes as MXNet's JSON writes them: a variable's own (__shape__, __init__, ...) or,
  // for an operator, exactly the ones given (defaults not materialized) plus hidden
  // "__key__" ones. For an operator these are the attrs `op` was parsed from.
  ops::AttrMap attrs;
  std::vector<NodeEntry> inputs;

  Node() = default;
  Node(const Node&) = default;
  Node& operator=(const Node&) = default;
  // Releases input chains iteratively: a deep graph from a file (a 200,000-node chain) would
  // otherwise overflow the stack through nested shared_ptr destructors.
  ~Node();

  bool is_variable() const { return !op.has_value(); }
  // All outputs, hidden ones included (1 for a variable).
  int num_outputs() const { return op ? op->num_outputs() : 1; }
  int num_visible_outputs() const { return op ? op->num_visible_outputs() : 1; }
};

inline Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending;
  auto take_sole_inputs = [&pending](Node* n) {
    for (NodeEntry& e : n->inputs) {
      if (e.node && e.node.use_count() == 1) pending.push_back(std::move(e.node));
    }
    n->inputs.clear();
  };
  take_sole_inputs(this);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    take_sole_inputs(n.get());  // n is then destroyed with no inputs left: no recursion
  }
}

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_NODE_H_
