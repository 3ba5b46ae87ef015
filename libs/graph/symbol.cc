#include "libs/graph/symbol.h"

#include <charconv>
#include <cmath>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/ops/builtin.h"

namespace mxgrid::graph {
namespace {

std::vector<int> AuxIndices(const Node& node) {
  return node.op ? node.op->aux_indices() : std::vector<int>{};
}

// MXNet's FSetInputVarAttrOnCompose for BatchNorm: moving statistics start at 0 and 1.
void SetInputVarAttrOnCompose(const Node& op_node, int input, Node* var) {
  if (op_node.op->def().name != "BatchNorm" || var->attrs.count("__init__")) return;
  if (input == 3) var->attrs["__init__"] = "[\"zero\", {}]";
  if (input == 4) var->attrs["__init__"] = "[\"one\", {}]";
}

absl::Status CheckSingleOutput(const Symbol& s, absl::string_view what,
                               absl::string_view node_name) {
  if (s.num_outputs() == 1) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("input ", Quoted(what), " of ", Quoted(node_name),
                   " must be a single-output symbol, got ", s.num_outputs(), " outputs"));
}

}  // namespace

std::string NameManager::Get(absl::string_view name, absl::string_view hint) {
  if (!name.empty()) return absl::StrCat(prefix_, name);
  base::MutexLock lock(&mu_);
  auto it = counters_.find(hint);
  if (it == counters_.end()) it = counters_.emplace(std::string(hint), 0).first;
  return absl::StrCat(prefix_, hint, it->second++);
}

NameManager* NameManager::Default() {
  static NameManager* manager = new NameManager();
  return manager;
}

Symbol Symbol::Variable(absl::string_view name, ops::AttrMap attrs) {
  auto node = std::make_shared<Node>();
  node->name = std::string(name);
  node->attrs = std::move(attrs);
  return Symbol({NodeEntry{std::move(node), 0}});
}

absl::StatusOr<Symbol> Symbol::Create(const ops::Registry& registry, absl::string_view op,
                                      ops::AttrMap attrs, const Inputs& inputs,
                                      absl::string_view name, NameManager* names) {
  MXGRID_ASSIGN_OR_RETURN(const ops::OpDef* def, registry.Find(op));
  ops::AttrMap all_attrs = std::move(attrs);
  bool var_args = false;
  for (const ops::ParamSpec& p : def->params) var_args |= p.name == "num_args";
  if (var_args && !all_attrs.count("num_args")) {
    all_attrs["num_args"] = absl::StrCat(inputs.positional.size());
  }
  auto node = std::make_shared<Node>();
  node->name = (names ? names : NameManager::Default())->Get(name, absl::AsciiStrToLower(op));
  MXGRID_ASSIGN_OR_RETURN(ops::ParsedOp parsed, registry.Parse(def->name, all_attrs));
  node->op.emplace(std::move(parsed));
  node->attrs = std::move(all_attrs);

  const std::vector<std::string> input_names = node->op->input_names();
  const size_t n = input_names.size();
  if (inputs.positional.size() > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        def->name, " ", Quoted(node->name), " takes ", n, " inputs (",
        absl::StrJoin(input_names, ", "), "), got ", inputs.positional.size(), " positional"));
  }
  std::vector<std::optional<NodeEntry>> slots(n);
  for (size_t i = 0; i < inputs.positional.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(CheckSingleOutput(inputs.positional[i], input_names[i], node->name));
    slots[i] = inputs.positional[i].outputs()[0];
  }
  for (const auto& [key, sym] : inputs.named) {
    size_t i = 0;
    while (i < n && input_names[i] != key) ++i;
    if (i == n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "keyword argument ", Quoted(key), " not found for ", def->name, " ",
          Quoted(node->name), "; its inputs are: ", absl::StrJoin(input_names, ", ")));
    }
    if (slots[i]) {
      return absl::InvalidArgumentError(absl::StrCat("input ", Quoted(key), " of ",
                                                     Quoted(node->name), " given twice"));
    }
    MXGRID_RETURN_IF_ERROR(CheckSingleOutput(sym, key, node->name));
    slots[i] = sym.outputs()[0];
  }
  node->inputs.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (slots[i]) {
      node->inputs.push_back(*slots[i]);
      continue;
    }
    // As nnvm: an unbound input becomes a variable carrying the operator's attributes.
    auto var = std::make_shared<Node>();
    var->name = absl::StrCat(node->name, "_", input_names[i]);
    var->attrs = node->attrs;
    SetInputVarAttrOnCompose(*node, static_cast<int>(i), var.get());
    node->inputs.push_back(NodeEntry{std::move(var), 0});
  }
  std::vector<NodeEntry> outputs;
  const int visible = node->num_visible_outputs();
  for (int i = 0; i < visible; ++i) outputs.push_back(NodeEntry{node, i});
  return Symbol(std::move(outputs));
}

Symbol Symbol::Group(absl::Span<const Symbol> symbols) {
  std::vector<NodeEntry> outputs;
  for (const Symbol& s : symbols) {
    outputs.insert(outputs.end(), s.outputs_.begin(), s.outputs_.end());
  }
  return Symbol(std::move(outputs));
}

Symbol Symbol::Copy() const {
  std::unordered_map<const Node*, std::shared_ptr<Node>> copies;
  for (const Node* old : PostOrder()) {
    auto node = std::make_shared<Node>(*old);
    for (NodeEntry& e : node->inputs) e.node = copies.at(e.node.get());
    copies.emplace(old, std::move(node));
  }
  std::vector<NodeEntry> outputs;
  for (const NodeEntry& e : outputs_) outputs.push_back({copies.at(e.node.get()), e.index});
  return Symbol(std::move(outputs));
}

Symbol Symbol::MergeIdentical() const {
  std::unordered_map<const Node*, std::shared_ptr<Node>> merged;
  std::unordered_map<std::string, std::shared_ptr<Node>> by_key;
  for (const Node* old : PostOrder()) {
    auto node = std::make_shared<Node>(*old);
    for (NodeEntry& e : node->inputs) e.node = merged.at(e.node.get());
    // The key spells out everything that makes a node what it is; lengths keep it unambiguous.
    std::string key = absl::StrCat(node->name.size(), ":", node->name, "|",
                                   node->op ? node->op->def().name : std::string("null"), "|");
    for (const auto& [k, v] : node->attrs) absl::StrAppend(&key, k.size(), ":", k, v.size(), ":", v);
    for (const NodeEntry& e : node->inputs) {
      absl::StrAppend(&key, "|", reinterpret_cast<uintptr_t>(e.node.get()), ".", e.index);
    }
    auto [it, inserted] = by_key.emplace(std::move(key), node);
    merged.emplace(old, it->second);
  }
  std::vector<NodeEntry> outputs;
  for (const NodeEntry& e : outputs_) outputs.push_back({merged.at(e.node.get()), e.index});
  return Symbol(std::move(outputs));
}

absl::StatusOr<Symbol> Symbol::Compose(const Inputs& inputs, absl::string_view name) const {
  if (outputs_.empty()) return absl::InvalidArgumentError("cannot compose an empty symbol");
  if (outputs_[0].node->is_variable()) {
    return absl::InvalidArgumentError(
        absl::StrCat("variable ", Quoted(outputs_[0].node->name), " cannot be composed"));
  }
  Symbol copy = Copy();
  // Replacement for each variable, by name.
  std::map<std::string, NodeEntry> by_name;
  const std::vector<std::string> all_inputs = ListInputs();
  if (inputs.positional.size() > all_inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("composition got ", inputs.positional.size(),
                                                   " positional inputs but the symbol has ",
                                                   all_inputs.size()));
  }
  for (size_t i = 0; i < inputs.positional.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(CheckSingleOutput(inputs.positional[i], all_inputs[i], "compose"));
    by_name[all_inputs[i]] = inputs.positional[i].outputs()[0];
  }
  const std::set<std::string> known(all_inputs.begin(), all_inputs.end());
  for (const auto& [key, sym] : inputs.named) {
    if (!known.count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("keyword argument ", Quoted(key), " matches no variable of the symbol; ",
                       "its inputs are: ", Quoted(absl::StrJoin(all_inputs, ", "))));
    }
    MXGRID_RETURN_IF_ERROR(CheckSingleOutput(sym, key, "compose"));
    by_name[key] = sym.outputs()[0];
  }
  for (const Node* n : copy.PostOrder()) {
    Node* node = const_cast<Node*>(n);  // The copy is ours alone until returned.
    for (NodeEntry& e : node->inputs) {
      if (!e.node->is_variable()) continue;
      auto it = by_name.find(e.node->name);
      if (it != by_name.end()) e = it->second;
    }
  }
  if (!name.empty()) copy.outputs_[0].node->name = std::string(name);
  return copy;
}

absl::StatusOr<Symbol> Symbol::GetOutput(int index) const {
  if (index < 0 || index >= num_outputs()) {
    // A bad index in a request is the caller's argument error (DESIGN.md §4).
    return absl::InvalidArgumentError(
        absl::StrCat("output index ", index, " is outside [0, ", num_outputs(),
                     ") for a symbol with ", num_outputs(), " outputs"));
  }
  return Symbol({outputs_[index]});
}

absl::StatusOr<Symbol> Symbol::GetOutput(absl::string_view name) const {
  const std::vector<std::string> names = ListOutputs();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return Symbol({outputs_[i]});
  }
  return absl::NotFoundError(absl::StrCat("no output named ", Quoted(name), "; outputs are: ",
                                          Quoted(absl::StrJoin(names, ", "))));
}

Symbol Symbol::GetInternals() const {
  std::vector<NodeEntry> outputs;
  std::unordered_map<const Node*, std::shared_ptr<Node>> owners;
  // PostOrder yields raw pointers; find each node's shared owner through its consumers.
  const std::vector<const Node*> order = PostOrder();
  for (const NodeEntry& e : outputs_) owners.emplace(e.node.get(), e.node);
  for (const Node* n : order) {
    for (const NodeEntry& e : n->inputs) owners.emplace(e.node.get(), e.node);
  }
  for (const Node* n : order) {
    const std::shared_ptr<Node>& owner = owners.at(n);
    for (int i = 0; i < n->num_visible_outputs(); ++i) outputs.push_back({owner, i});
  }
  return Symbol(std::move(outputs));
}

std::optional<std::string> Symbol::name() const {
  if (outputs_.size() != 1) return std::nullopt;
  return outputs_[0].node->name;
}

std::vector<const Node*> Symbol::PostOrder() const {
  std::vector<const Node*> order;
  absl::flat_hash_set<const Node*> visited;
  // Iterative DFS (graphs from files may be deep): (node, next input to visit).
  std::vector<std::pair<const Node*, size_t>> stack;
  for (const NodeEntry& head : outputs_) {
    if (!visited.insert(head.node.get()).second) continue;
    stack.emplace_back(head.node.get(), 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->inputs.size()) {
        const Node* in = node->inputs[next++].node.get();
        if (visited.insert(in).second) stack.emplace_back(in, 0);
        continue;
      }
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}

Symbol::Variables Symbol::ListAllVariables() const {
  const std::vector<const Node*> order = PostOrder();
  absl::flat_hash_set<const Node*> aux;
  for (const Node* n : order) {
    for (int i : AuxIndices(*n)) aux.insert(n->inputs[i].node.get());
  }
  Variables v;
  for (const Node* n : order) {
    if (!n->is_variable()) continue;
    v.inputs.push_back(n->name);
    (aux.count(n) > 0 ? v.aux_states : v.arguments).push_back(n->name);
  }
  return v;
}

std::vector<std::string> Symbol::ListArguments() const { return ListAllVariables().arguments; }
std::vector<std::string> Symbol::ListAuxiliaryStates() const {
  return ListAllVariables().aux_states;
}
std::vector<std::string> Symbol::ListInputs() const { return ListAllVariables().inputs; }

std::vector<std::string> Symbol::ListOutputs() const {
  std::vector<std::string> names;
  for (const NodeEntry& e : outputs_) names.push_back(OutputName(*e.node, e.index));
  return names;
}

std::string OutputName(const Node& node, int index) {
  if (node.is_variable()) return node.name;
  const std::vector<std::string> names = node.op->output_names();
  if (index < static_cast<int>(names.size())) return absl::StrCat(node.name, "_", names[index]);
  return absl::StrCat(node.name, "_output", index);
}

std::string PythonFloatString(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  std::string s(buf, end);
  // Python writes exponents as e-05 / e+20 and integral floats with ".0".
  size_t e = s.find('e');
  if (e != std::string::npos) {
    std::string mantissa = s.substr(0, e), exp = s.substr(e + 1);
    std::string sign = "+";
    if (exp[0] == '-' || exp[0] == '+') {
      sign = exp[0] == '-' ? "-" : "+";
      exp = exp.substr(1);
    }
    if (exp.size() < 2) exp = "0" + exp;
    return absl::StrCat(mantissa, "e", sign, exp);
  }
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

namespace {

const char* BinaryOpName(Arith op) {
  switch (op) {
    case Arith::kAdd: return "_Plus";
    case Arith::kSub: return "_Minus";
    case Arith::kMul: return "_Mul";
    case Arith::kDiv: return "_Div";
  }
  return "";
}

}  // namespace

absl::StatusOr<Symbol> Apply(Arith op, const Symbol& lhs, const Symbol& rhs,
                             NameManager* names) {
  return Symbol::Create(ops::GlobalRegistry(), BinaryOpName(op), {}, {{lhs, rhs}, {}}, "",
                        names);
}

absl::StatusOr<Symbol> Apply(Arith op, const Symbol& lhs, double scalar, NameManager* names) {
  static constexpr const char* kNames[] = {"_PlusScalar", "_MinusScalar", "_MulScalar",
                                           "_DivScalar"};
  return Symbol::Create(ops::GlobalRegistry(), kNames[static_cast<int>(op)],
                        {{"scalar", PythonFloatString(scalar)}}, {{lhs}, {}}, "", names);
}

absl::StatusOr<Symbol> Apply(Arith op, double scalar, const Symbol& rhs, NameManager* names) {
  // 2 + a and 2 * a commute (MXNet's __radd__/__rmul__); 2 - a and 2 / a have their own ops.
  static constexpr const char* kNames[] = {"_PlusScalar", "_RMinusScalar", "_MulScalar",
                                           "_RDivScalar"};
  return Symbol::Create(ops::GlobalRegistry(), kNames[static_cast<int>(op)],
                        {{"scalar", PythonFloatString(scalar)}}, {{rhs}, {}}, "", names);
}

}  // namespace mxgrid::graph
