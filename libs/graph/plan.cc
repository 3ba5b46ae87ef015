#include "libs/graph/plan.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/status_macros.h"
#include "libs/graph/infer.h"

namespace mxgrid::graph {
namespace {

using StepKind = Plan::StepKind;

// Builds the gradient steps (reverse-mode autodiff over the forward graph).
class GradientBuilder {
 public:
  GradientBuilder(Plan* plan, const std::vector<ops::OpReq>& arg_reqs)
      : plan_(plan), g_(*plan->graph), arg_reqs_(arg_reqs) {}

  void Build() {
    const int num_entries = g_.num_entries();
    MarkWanted();
    // Which nodes run backward, and how many gradient contributions each entry receives.
    std::vector<bool> has_grad(num_entries, false);
    count_.assign(num_entries, 0);
    is_head_.assign(num_entries, false);
    for (int e : g_.outputs()) {
      if (!wanted_[e]) continue;
      has_grad[e] = true;
      is_head_[e] = true;
      if (!IsLossOutput(e)) ++count_[e];  // the head gradient
    }
    runs_.assign(g_.num_nodes(), false);
    for (int id = g_.num_nodes() - 1; id >= 0; --id) {
      const IndexedGraph::NodeInfo& info = g_.node(id);
      if (info.node->is_variable()) continue;
      bool any = false;
      for (int i = 0; i < info.node->num_visible_outputs(); ++i) any |= has_grad[g_.entry(id, i)];
      if (!any || !NodeWantsGrad(id)) continue;
      runs_[id] = true;
      for (int slot : GradSlots(id)) {
        has_grad[info.inputs[slot]] = true;
        ++count_[info.inputs[slot]];
      }
    }
    head_grad_of_.assign(num_entries, Plan::kNone);
    plan_->head_grad_entries.assign(g_.outputs().size(), Plan::kNone);
    terms_.assign(num_entries, {});
    final_.assign(num_entries, Plan::kNone);
    for (size_t k = 0; k < g_.outputs().size(); ++k) {
      const int e = g_.outputs()[k];
      if (!wanted_[e] || IsLossOutput(e)) continue;
      // One head gradient per output; an entry output twice (Group([x, x])) sums both, as
      // nnvm's Gradient pass does.
      plan_->head_grad_entries[k] = NewEntry(e, Plan::kExternal);
      head_grad_of_[e] = plan_->head_grad_entries[k];
      terms_[e].push_back(head_grad_of_[e]);
    }
    // Emit in reverse topological order.
    arg_index_.assign(g_.num_nodes(), -1);
    for (size_t k = 0; k < g_.arg_nodes().size(); ++k) arg_index_[g_.arg_nodes()[k]] = k;
    plan_->arg_grad_entries.assign(g_.arg_nodes().size(), Plan::kNone);
    for (int id = g_.num_nodes() - 1; id >= 0; --id) {
      if (g_.node(id).node->is_variable()) {
        FinishArgument(id);
      } else if (runs_[id]) {
        EmitBackward(id);
      }
    }
  }

 private:
  // wanted_[e]: entry e depends on an argument whose gradient is requested.
  void MarkWanted() {
    wanted_.assign(g_.num_entries(), false);
    for (int id = 0; id < g_.num_nodes(); ++id) {
      const IndexedGraph::NodeInfo& info = g_.node(id);
      if (info.node->is_variable()) {
        const int k = ArgIndex(id);
        wanted_[g_.entry(id, 0)] = k >= 0 && arg_reqs_[k] != ops::OpReq::kNull;
        continue;
      }
      bool any = false;
      for (int slot : NonAuxSlots(id)) any |= wanted_[info.inputs[slot]];
      for (int i = 0; i < info.node->num_outputs(); ++i) wanted_[g_.entry(id, i)] = any;
    }
  }

  int ArgIndex(int id) const {
    const auto& args = g_.arg_nodes();
    auto it = std::find(args.begin(), args.end(), id);
    return it == args.end() ? -1 : static_cast<int>(it - args.begin());
  }

  std::vector<int> NonAuxSlots(int id) const {
    const ops::ParsedOp& op = *g_.node(id).node->op;
    std::vector<int> aux = op.aux_indices(), slots;
    for (int i = 0; i < op.num_inputs(); ++i) {
      if (std::find(aux.begin(), aux.end(), i) == aux.end()) slots.push_back(i);
    }
    return slots;
  }

  // Input slots of node `id` whose gradient is wanted.
  std::vector<int> GradSlots(int id) const {
    std::vector<int> slots;
    for (int slot : NonAuxSlots(id)) {
      if (wanted_[g_.node(id).inputs[slot]]) slots.push_back(slot);
    }
    return slots;
  }

  bool NodeWantsGrad(int id) const { return !GradSlots(id).empty(); }

  bool IsLossOutput(int e) const {
    const Node& n = *g_.node(g_.entry_node(e)).node;
    return n.op && n.op->def().is_loss;
  }

  int NewEntry(int like, int storage) {
    Plan::Entry entry = plan_->entries[like];
    entry.storage = storage;
    plan_->entries.push_back(entry);
    return static_cast<int>(plan_->entries.size()) - 1;
  }

  void AddStep(StepKind kind, int node, std::vector<int> inputs, std::vector<int> outputs,
               std::vector<ops::OpReq> reqs) {
    plan_->steps.push_back({kind, node, std::move(inputs), std::move(outputs), std::move(reqs)});
  }

  // The gradient of entry e once all its contributions exist: sums them into `target`
  // (a new internal entry when kNone) with `req`, or zeros when none.
  int Finish(int e, int target, ops::OpReq req) {
    std::vector<int>& terms = terms_[e];
    if (terms.size() == 1 && target == Plan::kNone) return terms[0];
    if (target == Plan::kNone) target = NewEntry(e, 0);
    if (terms.empty()) {
      if (req != ops::OpReq::kAddTo) AddStep(StepKind::kZero, -1, {}, {target}, {req});
    } else {
      AddStep(StepKind::kSum, -1, terms, {target}, {req});
    }
    return target;
  }

  // Where a backward step writes its contribution to entry e, and with which request.
  std::pair<int, ops::OpReq> ContributionSlot(int e) {
    if (count_[e] == 1 && head_grad_of_[e] == Plan::kNone) {
      // The only contribution: write straight into the final gradient.
      const int id = g_.entry_node(e);
      if (g_.node(id).node->is_variable()) {
        const int k = ArgIndex(id);
        final_[e] = ArgGradEntry(k, e);
        return {final_[e], arg_reqs_[k]};
      }
      final_[e] = NewEntry(e, 0);
      terms_[e].push_back(final_[e]);
      return {final_[e], ops::OpReq::kWriteTo};
    }
    const int t = NewEntry(e, 0);
    terms_[e].push_back(t);
    return {t, ops::OpReq::kWriteTo};
  }

  int ArgGradEntry(int k, int like) {
    if (plan_->arg_grad_entries[k] == Plan::kNone) {
      plan_->arg_grad_entries[k] = NewEntry(like, Plan::kExternal);
    }
    return plan_->arg_grad_entries[k];
  }

  void FinishArgument(int id) {
    const int k = ArgIndex(id);
    if (k < 0 || arg_reqs_[k] == ops::OpReq::kNull) return;
    const int e = g_.entry(id, 0);
    if (final_[e] != Plan::kNone) return;  // written directly by its only consumer
    const int target = ArgGradEntry(k, e);
    Finish(e, target, arg_reqs_[k]);
    final_[e] = target;
  }

  void EmitBackward(int id) {
    const IndexedGraph::NodeInfo& info = g_.node(id);
    const ops::ParsedOp& op = *info.node->op;
    std::vector<int> inputs;
    for (int i = 0; i < op.num_visible_outputs(); ++i) {
      const int e = g_.entry(id, i);
      if (op.def().is_loss) {
        inputs.push_back(Plan::kNone);
        continue;
      }
      if (final_[e] == Plan::kNone) final_[e] = Finish(e, Plan::kNone, ops::OpReq::kWriteTo);
      inputs.push_back(final_[e]);
    }
    if (op.def().backward_deps.inputs) {
      inputs.insert(inputs.end(), info.inputs.begin(), info.inputs.end());
    }
    if (op.def().backward_deps.outputs) {
      for (int i = 0; i < op.num_outputs(); ++i) inputs.push_back(g_.entry(id, i));
    }
    std::vector<int> outputs(op.num_inputs(), Plan::kNone);
    std::vector<ops::OpReq> reqs(op.num_inputs(), ops::OpReq::kNull);
    for (int slot : GradSlots(id)) {
      std::tie(outputs[slot], reqs[slot]) = ContributionSlot(info.inputs[slot]);
    }
    AddStep(StepKind::kBackward, id, std::move(inputs), std::move(outputs), std::move(reqs));
  }

  Plan* plan_;
  const IndexedGraph& g_;
  const std::vector<ops::OpReq>& arg_reqs_;
  std::vector<bool> wanted_, is_head_, runs_;
  std::vector<int> count_, head_grad_of_, final_, arg_index_;
  std::vector<std::vector<int>> terms_;
};

// Liveness-based block assignment with in-place reuse (MXNet's PlanMemory).
class MemoryPlanner {
 public:
  MemoryPlanner(Plan* plan, bool share) : plan_(plan), share_(share) {}

  void Run() {
    const int n = static_cast<int>(plan_->entries.size());
    refs_.assign(n, 0);
    for (const Plan::Step& step : plan_->steps) {
      for (int e : step.inputs) {
        if (e != Plan::kNone) ++refs_[e];
      }
    }
    for (int e : plan_->graph->outputs()) ++refs_[e];  // outputs outlive the run
    std::vector<bool> assigned(n, false);
    for (Plan::Step& step : plan_->steps) {
      std::vector<bool> taken_inplace(step.inputs.size(), false);
      for (size_t k = 0; k < step.outputs.size(); ++k) {
        const int e = step.outputs[k];
        if (e == Plan::kNone || plan_->entries[e].storage == Plan::kExternal || assigned[e]) {
          continue;
        }
        assigned[e] = true;
        const int in = InplaceInput(step, static_cast<int>(k), &taken_inplace);
        if (in >= 0) {
          plan_->entries[e].storage = plan_->entries[in].storage;
          ++users_[plan_->entries[e].storage];
          step.reqs[k] = ops::OpReq::kWriteInplace;
        } else {
          plan_->entries[e].storage = Request(EntryBytes(plan_->entries[e]));
        }
      }
      for (int e : step.inputs) {
        if (e != Plan::kNone && --refs_[e] == 0) Release(e);
      }
      for (int e : step.outputs) {
        if (e != Plan::kNone && refs_[e] == 0) Release(e);  // written but never read
      }
    }
  }

 private:
  // An input of an operator step the output may overwrite: the op allows it (forward
  // inputs/outputs, or backward out-grads/in-grads, which lead a backward step's inputs and
  // make up its outputs), this step is its last reader, and the sizes match.
  int InplaceInput(const Plan::Step& step, int out, std::vector<bool>* taken) {
    if (!share_ || step.node < 0) return -1;
    const ops::OpDef& def = plan_->graph->node(step.node).node->op->def();
    const bool forward = step.kind == StepKind::kForward;
    for (const auto& [in_slot, out_slot] : forward ? def.inplace : def.backward_inplace) {
      if (out_slot != out || in_slot >= static_cast<int>(step.inputs.size())) continue;
      const int in = step.inputs[in_slot];
      if (in == Plan::kNone) continue;
      if ((*taken)[in_slot] || plan_->entries[in].storage < 0 || refs_[in] != 1) continue;
      if (std::count(step.inputs.begin(), step.inputs.end(), in) != 1) continue;
      const Plan::Entry& a = plan_->entries[in];
      const Plan::Entry& b = plan_->entries[step.outputs[out]];
      if (a.shape.Size() * DTypeSize(a.dtype) != b.shape.Size() * DTypeSize(b.dtype)) continue;
      (*taken)[in_slot] = true;
      return in;
    }
    return -1;
  }

  int Request(int64_t bytes) {
    if (share_ && !free_.empty()) {
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= bytes * kMatchRange) return Take(it, bytes);
      if (it != free_.begin()) {
        --it;  // the largest smaller block, grown to fit
        if (it->first * kMatchRange >= bytes) return Take(it, bytes);
      }
    }
    plan_->storage_bytes.push_back(bytes);
    users_.push_back(1);
    return static_cast<int>(plan_->storage_bytes.size()) - 1;
  }

  int Take(std::multimap<int64_t, int>::iterator it, int64_t bytes) {
    const int id = it->second;
    free_.erase(it);
    plan_->storage_bytes[id] = std::max(plan_->storage_bytes[id], bytes);
    users_[id] = 1;
    return id;
  }

  void Release(int e) {
    const int s = plan_->entries[e].storage;
    if (s < 0) return;
    if (--users_[s] == 0) free_.emplace(plan_->storage_bytes[s], s);
  }

  static constexpr int64_t kMatchRange = 16;  // NNVM_EXEC_MATCH_RANGE's default

  Plan* plan_;
  const bool share_;
  std::vector<int> refs_;
  std::vector<int> users_;  // live entries per block
  std::multimap<int64_t, int> free_;
};

}  // namespace

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

absl::StatusOr<Plan> MakePlan(const Symbol& symbol, const PlanOptions& options) {
  Plan plan;
  plan.graph = std::make_shared<const IndexedGraph>(symbol);
  const IndexedGraph& g = *plan.graph;
  if (g.outputs().empty()) return absl::InvalidArgumentError("cannot plan an empty symbol");

  MXGRID_ASSIGN_OR_RETURN(std::vector<ops::InferShape> shapes, InitialShapes(g, options.shapes));
  MXGRID_RETURN_IF_ERROR(InferEntryShapes(g, &shapes));
  std::map<std::string, DType> dtypes = options.dtypes;
  for (int id : g.arg_nodes()) {
    const Node& n = *g.node(id).node;
    if (!n.attrs.count("__dtype__")) dtypes.emplace(n.name, DType::kFloat32);
  }
  for (int id : g.aux_nodes()) {
    const Node& n = *g.node(id).node;
    if (!n.attrs.count("__dtype__")) dtypes.emplace(n.name, DType::kFloat32);
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<ops::InferType> types, InitialTypes(g, dtypes));
  MXGRID_RETURN_IF_ERROR(InferEntryTypes(g, &types));

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
        "cannot decide the shapes or types of: ", absl::StrJoin(unknown, ", "),
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
    return absl::InvalidArgumentError(absl::StrCat("grad_req names '", reqs.begin()->first,
                                                   "', which is not an argument"));
  }
  for (ops::OpReq r : arg_reqs) {
    if (r == ops::OpReq::kWriteInplace) {
      return absl::InvalidArgumentError("grad_req must be null, write or add");
    }
  }
  GradientBuilder(&plan, arg_reqs).Build();
  MemoryPlanner(&plan, options.share_memory).Run();
  return plan;
}

}  // namespace mxgrid::graph
