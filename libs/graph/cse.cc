#include "libs/graph/cse.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mxgrid::graph {
namespace {

// Whether `node`'s outputs are a function of its operator, attributes and inputs alone.
bool Mergeable(const Node& node) {
  if (node.is_variable() || node.inputs.empty()) return false;
  if (node.op->def().random) return false;
  return node.op->mutated_indices().empty();
}

// Spells out operator, attributes and (already merged) inputs; lengths keep it unambiguous.
std::string Key(const Node& node) {
  std::string key = absl::StrCat(node.op->def().name, "|");
  for (const auto& [k, v] : node.attrs) absl::StrAppend(&key, k.size(), ":", k, v.size(), ":", v);
  for (const NodeEntry& e : node.inputs) {
    absl::StrAppend(&key, "|", reinterpret_cast<uintptr_t>(e.node.get()), ".", e.index);
  }
  return key;
}

}  // namespace

absl::StatusOr<Symbol> EliminateCommonExpr(const Symbol& symbol, const ops::Registry& registry) {
  // Post-order visits every input before its consumers, so one sweep finds what MXNet's
  // repeated sweeps do: two nodes merge exactly when their inputs already have.
  std::unordered_map<const Node*, std::shared_ptr<Node>> merged;
  std::unordered_map<std::string, std::shared_ptr<Node>> by_key;
  bool any_merged = false;
  for (const Node* old : symbol.PostOrder()) {
    auto node = std::make_shared<Node>(*old);
    for (NodeEntry& e : node->inputs) e.node = merged.at(e.node.get());
    if (Mergeable(*node)) {
      auto [it, inserted] = by_key.emplace(Key(*node), node);
      any_merged = any_merged || !inserted;
      merged.emplace(old, it->second);
    } else {
      merged.emplace(old, std::move(node));
    }
  }
  // As MXNet: the graph is left as it is, repeated heads included, when nothing merges.
  if (!any_merged) return symbol;
  std::vector<NodeEntry> outputs;
  // Heads seen so far, with how many copies each has needed.
  std::map<std::pair<const Node*, int>, int> seen;
  for (const NodeEntry& e : symbol.outputs()) {
    NodeEntry head{merged.at(e.node.get()), e.index};
    auto [it, first] = seen.emplace(std::make_pair(head.node.get(), head.index), 0);
    if (!first) {
      auto copy = std::make_shared<Node>();
      absl::StatusOr<ops::ParsedOp> op = registry.Parse("_copy", {});
      if (!op.ok()) return op.status();
      copy->op = std::move(*op);
      copy->name = absl::StrCat(head.node->name, "_", it->second++, "_copy");
      copy->inputs.push_back(head);
      head = NodeEntry{std::move(copy), 0};
    }
    outputs.push_back(std::move(head));
  }
  return Symbol(std::move(outputs));
}

}  // namespace mxgrid::graph
