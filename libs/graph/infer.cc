#include "libs/graph/infer.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/ops/params.h"

namespace mxgrid::graph {
namespace {

int CountUnknown(const std::vector<ops::InferShape>& v) {
  int n = 0;
  for (const ops::InferShape& s : v) n += ops::IsKnown(s) ? 0 : 1;
  return n;
}
int CountUnknown(const std::vector<ops::InferType>& v) {
  int n = 0;
  for (const ops::InferType& t : v) n += t ? 0 : 1;
  return n;
}

absl::Status RunOp(const ops::ParsedOp& op, std::vector<ops::InferShape>* in,
                   std::vector<ops::InferShape>* out) {
  return op.InferShapes(in, out);
}
absl::Status RunOp(const ops::ParsedOp& op, std::vector<ops::InferType>* in,
                   std::vector<ops::InferType>* out) {
  return op.InferTypes(in, out);
}

// The shared sweep loop (MXNet's InferAttr): forward on even rounds, backward on odd ones,
// until the number of unknown entries stops falling.
template <typename T>
absl::Status Sweep(const IndexedGraph& g, std::vector<T>* slots) {
  std::vector<T> in, out;
  int unknown = CountUnknown(*slots);
  for (int round = 0;; ++round) {
    const bool forward = round % 2 == 0;
    for (int k = 0; k < g.num_nodes(); ++k) {
      const int id = forward ? k : g.num_nodes() - 1 - k;
      const IndexedGraph::NodeInfo& info = g.node(id);
      if (info.node->is_variable()) continue;
      const ops::ParsedOp& op = *info.node->op;
      in.clear();
      out.clear();
      for (int e : info.inputs) in.push_back((*slots)[e]);
      for (int i = 0; i < op.num_outputs(); ++i) out.push_back((*slots)[g.entry(id, i)]);
      absl::Status s = RunOp(op, &in, &out);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("Error in operator ", Quoted(info.node->name),
                                                   " (", op.def().name, "): ", s.message()));
      }
      for (size_t i = 0; i < info.inputs.size(); ++i) (*slots)[info.inputs[i]] = in[i];
      for (int i = 0; i < op.num_outputs(); ++i) (*slots)[g.entry(id, i)] = out[i];
    }
    const int now = CountUnknown(*slots);
    if (round >= 1 && now >= unknown) break;
    unknown = now;
  }
  return absl::OkStatus();
}

// The known names must all be inputs of the graph.
absl::Status CheckNames(const IndexedGraph& g, const std::set<std::string>& names) {
  std::set<std::string> inputs;
  for (int id = 0; id < g.num_nodes(); ++id) {
    if (g.node(id).node->is_variable()) inputs.insert(g.node(id).node->name);
  }
  for (const std::string& name : names) {
    if (!inputs.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(name), " is not an argument or auxiliary state of the symbol"));
    }
  }
  return absl::OkStatus();
}

// Slots of the arguments, outputs and auxiliary states, in list order.
template <typename T>
void Collect(const IndexedGraph& g, const std::vector<T>& slots, std::vector<T>* args,
             std::vector<T>* outs, std::vector<T>* aux, bool* complete) {
  for (int id : g.arg_nodes()) args->push_back(slots[g.entry(id, 0)]);
  for (int e : g.outputs()) outs->push_back(slots[e]);
  for (int id : g.aux_nodes()) aux->push_back(slots[g.entry(id, 0)]);
  *complete = CountUnknown(slots) == 0;
}

}  // namespace

absl::Status InferEntryShapes(const IndexedGraph& g, std::vector<ops::InferShape>* shapes) {
  return Sweep(g, shapes);
}
absl::Status InferEntryTypes(const IndexedGraph& g, std::vector<ops::InferType>* types) {
  return Sweep(g, types);
}

namespace {

// A variable's "__shape__" ("(0, 3)": 0 dims unknown; "()" unknown) as a slot.
absl::StatusOr<ops::InferShape> ParseShapeAttr(const Node& n, const std::string& text) {
  std::vector<int64_t> dims;
  if (!ops::ParseIntTuple(text, &dims)) {
    return absl::InvalidArgumentError(
        absl::StrCat("variable ", Quoted(n.name), " has a malformed __shape__ ", Quoted(text)));
  }
  if (dims.empty()) return ops::InferShape();  // unknown in MXNet's legacy shape mode
  if (dims.size() > Shape::kMaxNdim) {
    return absl::InvalidArgumentError(
        absl::StrCat("variable ", Quoted(n.name), " __shape__ has too many dims"));
  }
  for (int64_t& d : dims) {
    if (d < -1) {  // -1 is unknown in NumPy shape mode, as 0 is in legacy mode
      return absl::InvalidArgumentError(
          absl::StrCat("variable ", Quoted(n.name), " has a negative __shape__ dim"));
    }
    if (d == 0) d = -1;
  }
  return ops::InferShape(Shape(absl::MakeConstSpan(dims)));
}

// A variable's "__dtype__" (MXNet's type flag, "0" for float32) as a slot.
absl::StatusOr<ops::InferType> ParseDTypeAttr(const Node& n, const std::string& text) {
  int64_t flag;
  if (!ops::ParseInt(text, &flag)) {
    return absl::InvalidArgumentError(
        absl::StrCat("variable ", Quoted(n.name), " has a malformed __dtype__ ", Quoted(text)));
  }
  absl::StatusOr<DType> dtype = DTypeFromFlag(flag);
  if (!dtype.ok()) return Annotate(dtype.status(), absl::StrCat("variable ", Quoted(n.name)));
  return ops::InferType(*dtype);
}

// Slots of variables from `known` (by name), else from their attribute `key`.
template <typename Slot, typename Known, typename Parse>
absl::StatusOr<std::vector<Slot>> Initial(const IndexedGraph& g,
                                          const std::map<std::string, Known>& known,
                                          const char* key, Parse parse) {
  std::set<std::string> names;
  for (const auto& entry : known) names.insert(entry.first);
  MXGRID_RETURN_IF_ERROR(CheckNames(g, names));
  std::vector<Slot> slots(g.num_entries());
  for (int id = 0; id < g.num_nodes(); ++id) {
    const Node& n = *g.node(id).node;
    if (!n.is_variable()) continue;
    auto it = known.find(n.name);
    if (it != known.end()) {
      slots[g.entry(id, 0)] = it->second;
      continue;
    }
    auto attr = n.attrs.find(key);
    if (attr == n.attrs.end()) continue;
    MXGRID_ASSIGN_OR_RETURN(slots[g.entry(id, 0)], parse(n, attr->second));
  }
  return slots;
}

}  // namespace

absl::StatusOr<std::vector<ops::InferShape>> InitialShapes(
    const IndexedGraph& g, const std::map<std::string, ops::InferShape>& known) {
  return Initial<ops::InferShape>(g, known, "__shape__", ParseShapeAttr);
}

absl::StatusOr<std::vector<ops::InferType>> InitialTypes(
    const IndexedGraph& g, const std::map<std::string, DType>& known) {
  return Initial<ops::InferType>(g, known, "__dtype__", ParseDTypeAttr);
}

absl::StatusOr<ShapeInference> InferShape(const Symbol& symbol,
                                          const std::map<std::string, ops::InferShape>& known) {
  IndexedGraph g(symbol);
  MXGRID_ASSIGN_OR_RETURN(std::vector<ops::InferShape> shapes, InitialShapes(g, known));
  MXGRID_RETURN_IF_ERROR(InferEntryShapes(g, &shapes));
  ShapeInference r;
  Collect(g, shapes, &r.arg_shapes, &r.out_shapes, &r.aux_shapes, &r.complete);
  return r;
}

absl::StatusOr<TypeInference> InferType(const Symbol& symbol,
                                        const std::map<std::string, DType>& known) {
  IndexedGraph g(symbol);
  MXGRID_ASSIGN_OR_RETURN(std::vector<ops::InferType> types, InitialTypes(g, known));
  MXGRID_RETURN_IF_ERROR(InferEntryTypes(g, &types));
  TypeInference r;
  Collect(g, types, &r.arg_types, &r.out_types, &r.aux_types, &r.complete);
  return r;
}

}  // namespace mxgrid::graph
