// The gradient pass: reverse-mode autodiff over the forward graph, appending backward,
// aggregation (kSum) and zero-fill steps to a Plan.
#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "libs/graph/internal/plan_passes.h"

namespace mxgrid::graph::internal {
namespace {

using StepKind = Plan::StepKind;

// Builds the gradient steps (reverse-mode autodiff over the forward graph).
class GradientBuilder {
 public:
  GradientBuilder(Plan* plan, const std::vector<ops::OpReq>& arg_reqs)
      : plan_(plan), g_(*plan->graph), arg_reqs_(arg_reqs), arg_index_(g_.num_nodes(), -1) {
    for (size_t k = 0; k < g_.arg_nodes().size(); ++k) arg_index_[g_.arg_nodes()[k]] = k;
  }

  void Build() {
    const int num_entries = g_.num_entries();
    MarkWanted();
    // Which nodes run backward, and how many gradient contributions each entry receives.
    std::vector<bool> has_grad(num_entries, false);
    count_.assign(num_entries, 0);
    for (int e : g_.outputs()) {
      if (!wanted_[e]) continue;
      has_grad[e] = true;
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
  // wanted_[e]: entry e depends on an argument whose gradient is requested, through
  // operators that have a gradient.
  void MarkWanted() {
    wanted_.assign(g_.num_entries(), false);
    for (int id = 0; id < g_.num_nodes(); ++id) {
      const IndexedGraph::NodeInfo& info = g_.node(id);
      if (info.node->is_variable()) {
        const int k = ArgIndex(id);
        wanted_[g_.entry(id, 0)] = k >= 0 && arg_reqs_[k] != ops::OpReq::kNull;
        continue;
      }
      // An operator without a gradient (BlockGrad, argmax, one_hot ...) passes zero back:
      // nothing above it runs backward for it, and nothing needs a head gradient through it
      // (MXNet's zero-gradient pruning; an argument reached only that way is zero-filled).
      bool any = false;
      if (info.node->op->def().backward) {
        for (int slot : NonAuxSlots(id)) any |= wanted_[info.inputs[slot]];
      }
      for (int i = 0; i < info.node->num_outputs(); ++i) wanted_[g_.entry(id, i)] = any;
    }
  }

  // Position of node `id` in list_arguments(), or -1.
  int ArgIndex(int id) const { return arg_index_[id]; }

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
  std::vector<int> arg_index_;  // per node: its list_arguments() position, or -1
  std::vector<bool> wanted_, runs_;
  std::vector<int> count_, head_grad_of_, final_;
  std::vector<std::vector<int>> terms_;
};

}  // namespace

void BuildGradient(Plan* plan, const std::vector<ops::OpReq>& arg_reqs) {
  GradientBuilder(plan, arg_reqs).Build();
}

}  // namespace mxgrid::graph::internal
