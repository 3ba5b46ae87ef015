#include "libs/graph/plan.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/graph/cse.h"
#include "libs/graph/infer.h"
#include "libs/ops/builtin.h"
#include "libs/graph/internal/plan_passes.h"

namespace mxgrid::graph {

using StepKind = Plan::StepKind;

int64_t EntryBytes(const Plan::Entry& entry) {
  const int64_t bytes = entry.shape.Size() * static_cast<int64_t>(DTypeSize(entry.dtype));
  return std::max<int64_t>(64, (bytes + 63) / 64 * 64);
}

int64_t Plan::planned_bytes() const {
  int64_t total = 0;
  for (int64_t b : storage_bytes) total += b;
  return total;
}

int64_t Plan::unplanned_bytes() const {
  int64_t total = 0;
  for (const Entry& e : entries) {
    if (e.storage != kExternal) total += EntryBytes(e);
  }
  return total;
}

absl::StatusOr<Plan> MakePlan(const Symbol& given, const PlanOptions& options) {
  Symbol symbol = given;
  if (options.eliminate_common_expr) {
    MXGRID_ASSIGN_OR_RETURN(symbol, EliminateCommonExpr(given, ops::GlobalRegistry()));
  }
  Plan plan;
  plan.graph = std::make_shared<const IndexedGraph>(symbol);
  const IndexedGraph& g = *plan.graph;
  if (g.outputs().empty()) return absl::InvalidArgumentError("cannot plan an empty symbol");

  MXGRID_ASSIGN_OR_RETURN(std::vector<ops::InferShape> shapes, InitialShapes(g, options.shapes));
  MXGRID_RETURN_IF_ERROR(InferEntryShapes(g, &shapes));
  // Types as MXNet's simple_bind: the given ones spread through the operators first (a
  // float16 input makes its FullyConnected weight float16); inputs still undecided are
  // float32.
  std::map<std::string, DType> dtypes = options.dtypes;
  MXGRID_ASSIGN_OR_RETURN(std::vector<ops::InferType> types, InitialTypes(g, dtypes));
  MXGRID_RETURN_IF_ERROR(InferEntryTypes(g, &types));
  bool defaulted = false;
  for (const std::vector<int>* ids : {&g.arg_nodes(), &g.aux_nodes()}) {
    for (int id : *ids) {
      const Node& n = *g.node(id).node;
      if (types[g.entry(id, 0)] || n.attrs.count("__dtype__")) continue;
      dtypes.emplace(n.name, DType::kFloat32);
      defaulted = true;
    }
  }
  if (defaulted) {
    MXGRID_ASSIGN_OR_RETURN(types, InitialTypes(g, dtypes));
    MXGRID_RETURN_IF_ERROR(InferEntryTypes(g, &types));
  }

  std::vector<std::string> unknown;
  for (int id = 0; id < g.num_nodes() && unknown.size() < 10; ++id) {
    for (int i = 0; i < g.node(id).node->num_outputs(); ++i) {
      const int e = g.entry(id, i);
      if (ops::IsKnown(shapes[e]) && types[e]) continue;
      unknown.push_back(absl::StrCat(OutputName(*g.node(id).node, i), ": ",
                                     shapes[e] ? shapes[e]->ToString() : "unknown",
                                     types[e] ? "" : " (type unknown)"));
    }
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot decide the shapes or types of: ", Clipped(absl::StrJoin(unknown, ", "), 1024),
        " (-1 means an unknown dimension); give the input shapes"));
  }

  plan.entries.resize(g.num_entries());
  for (int e = 0; e < g.num_entries(); ++e) {
    const bool variable = g.node(g.entry_node(e)).node->is_variable();
    plan.entries[e] = {*shapes[e], *types[e], variable ? Plan::kExternal : 0};
  }
  for (int id = 0; id < g.num_nodes(); ++id) {
    const IndexedGraph::NodeInfo& info = g.node(id);
    if (info.node->is_variable()) continue;
    Plan::Step step{StepKind::kForward, id, info.inputs, {}, {}};
    for (int i = 0; i < info.node->num_outputs(); ++i) {
      step.outputs.push_back(g.entry(id, i));
      step.reqs.push_back(ops::OpReq::kWriteTo);
    }
    plan.steps.push_back(std::move(step));
  }
  plan.num_forward_steps = static_cast<int>(plan.steps.size());

  std::vector<ops::OpReq> arg_reqs;
  const std::vector<std::string> arg_names = symbol.ListArguments();
  std::map<std::string, ops::OpReq> reqs = options.grad_reqs;
  for (const std::string& name : arg_names) {
    auto it = reqs.find(name);
    arg_reqs.push_back(it == reqs.end() ? ops::OpReq::kNull : it->second);
    if (it != reqs.end()) reqs.erase(it);
  }
  if (!reqs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("grad_req names ",
                                                   Quoted(reqs.begin()->first),
                                                   ", which is not an argument"));
  }
  for (ops::OpReq r : arg_reqs) {
    if (r == ops::OpReq::kWriteInplace) {
      return absl::InvalidArgumentError("grad_req must be null, write or add");
    }
  }
  internal::BuildGradient(&plan, arg_reqs);
  internal::PlanMemory(&plan, options.share_memory);
  return plan;
}

}  // namespace mxgrid::graph
