// Symbol: MXNet's symbolic graph handle — a list of output entries of an immutable node DAG.
//
//   NameManager names;                            // fresh counters (fullyconnected0, ...)
//   Symbol data = Symbol::Variable("data");
//   MXGRID_ASSIGN_OR_RETURN(Symbol fc1, Symbol::Create(registry, "FullyConnected",
//       {{"num_hidden", "128"}}, {.named = {{"data", data}}}, "fc1", &names));
//   fc1.ListArguments();                          // {"data", "fc1_weight", "fc1_bias"}
//
// Semantics follow MXNet 1.9.1 (nnvm's Symbol): operator application creates variables
// `<name>_<input>` for inputs that are not given, copying the operator's attributes onto them;
// unnamed operators take `<op name lowercased><counter>` names from a NameManager; composing a
// non-atomic symbol by call (`net(data=net2, name='compose')`) replaces variables by name and
// renames the head node. Listing walks nodes in nnvm's DFS post-order from the heads.
//
// Thread-safety: a Symbol is an immutable value (copies share nodes); all const methods may be
// called from any thread. NameManager is thread-safe.
#ifndef MXGRID_LIBS_GRAPH_SYMBOL_H_
#define MXGRID_LIBS_GRAPH_SYMBOL_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/graph/node.h"
#include "libs/ops/registry.h"

namespace mxgrid::graph {

// Automatic node names: `hint + counter[hint]` (python/mxnet/name.py's NameManager).
class NameManager {
 public:
  NameManager() = default;
  explicit NameManager(std::string prefix) : prefix_(std::move(prefix)) {}

  // `name` when non-empty; otherwise the hint with its next counter value. The prefix (as
  // mx.name.Prefix) is prepended either way.
  std::string Get(absl::string_view name, absl::string_view hint) ABSL_LOCKS_EXCLUDED(mu_);

  // The process-wide manager used when none is passed (Python's default is per thread; a
  // server gives each session its own).
  static NameManager* Default();

 private:
  const std::string prefix_;
  base::Mutex mu_;
  std::map<std::string, int, std::less<>> counters_ ABSL_GUARDED_BY(mu_);
};

class Symbol {
 public:
  // Inputs to an operator application or a composition: positional ones first (in input
  // order), then by input name.
  struct Inputs {
    std::vector<Symbol> positional;
    std::vector<std::pair<std::string, Symbol>> named;
  };

  // An empty symbol (no outputs).
  Symbol() = default;
  explicit Symbol(std::vector<NodeEntry> outputs) : outputs_(std::move(outputs)) {}

  // mx.sym.Variable(name, attr=...): attributes such as "__shape__" ("(2, 3)"), "__dtype__",
  // "__lr_mult__" as MXNet stores them.
  static Symbol Variable(absl::string_view name, ops::AttrMap attrs = {});

  // Applies `op` (a registered name or alias; the unnamed-node hint is `op` lowercased, so
  // "_Plus" gives "_plus0") with string attributes. Ops with a `num_args` parameter get it
  // from the positional count when not given. InvalidArgument for unknown input names,
  // multi-output inputs or bad parameters; NotFound for an unknown operator.
  static absl::StatusOr<Symbol> Create(const ops::Registry& registry, absl::string_view op,
                                       ops::AttrMap attrs, const Inputs& inputs,
                                       absl::string_view name = "",
                                       NameManager* names = nullptr);

  // mx.sym.Group: the outputs of every symbol, in order.
  static Symbol Group(absl::Span<const Symbol> symbols);

  // Composition by call on a copy of this symbol: variables named in `inputs.named`
  // (positional ones in ListInputs() order) are replaced; a non-empty `name` renames the head
  // node. InvalidArgument when a name matches no variable or this symbol is a variable.
  absl::StatusOr<Symbol> Compose(const Inputs& inputs, absl::string_view name = "") const;

  const std::vector<NodeEntry>& outputs() const { return outputs_; }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  // sym[i]; InvalidArgument for an index outside [0, num_outputs()).
  absl::StatusOr<Symbol> GetOutput(int index) const;
  // sym['fc1_output']: by ListOutputs() name; NotFound otherwise.
  absl::StatusOr<Symbol> GetOutput(absl::string_view name) const;
  // Every visible output of every node, variables included, in DFS order.
  Symbol GetInternals() const;
  // The head node's name when there is exactly one output.
  std::optional<std::string> name() const;

  std::vector<std::string> ListArguments() const;
  std::vector<std::string> ListOutputs() const;
  std::vector<std::string> ListAuxiliaryStates() const;
  // Arguments and auxiliary states together, in DFS order (list_inputs()).
  std::vector<std::string> ListInputs() const;
  // The three lists above from one traversal of the graph.
  struct Variables {
    std::vector<std::string> arguments, aux_states, inputs;
  };
  Variables ListAllVariables() const;

  // Nodes in nnvm's DFS post-order from the heads (inputs in order); each once.
  std::vector<const Node*> PostOrder() const;
  // A deep copy sharing no nodes with this one.
  Symbol Copy() const;
  // A copy in which structurally identical nodes — same name, operator, attributes and
  // (merged) inputs — are one node. Symbols that traveled as separate JSON texts have lost
  // the node identity they shared: `x * 2 + x` composed from two texts holds two variables
  // 'x'; merged, it lists 'x' once, as MXNet does. (Two distinct MXNet variables with the
  // same name and attributes become one as well.)
  Symbol MergeIdentical() const;

 private:
  std::vector<NodeEntry> outputs_;
};

// The name of output `index` of `node` as list_outputs() reports it: a variable's own name,
// else "<node>_<output name>".
std::string OutputName(const Node& node, int index);

// Symbol arithmetic as MXNet's Python operators build it (a + b is _Plus, a * 2 is
// _MulScalar, 2 - a is _RMinusScalar), named by `names` (the default manager when null).
enum class Arith { kAdd, kSub, kMul, kDiv };
absl::StatusOr<Symbol> Apply(Arith op, const Symbol& lhs, const Symbol& rhs,
                             NameManager* names = nullptr);
absl::StatusOr<Symbol> Apply(Arith op, const Symbol& lhs, double scalar,
                             NameManager* names = nullptr);
absl::StatusOr<Symbol> Apply(Arith op, double scalar, const Symbol& rhs,
                             NameManager* names = nullptr);

// A double as Python's str() writes it ("2.0", "0.5", "1e-05"): what MXNet's attributes hold.
std::string PythonFloatString(double value);

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_SYMBOL_H_
