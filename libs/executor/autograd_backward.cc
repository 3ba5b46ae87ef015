// Tape's backward pass: a reverse walk from the heads over the recorded nodes that lead to
// the wanted gradients, each node's backward kernel pushed to the engine.
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/executor/autograd.h"

namespace mxgrid::executor {
namespace {

using tensor::NDArray;

// What one pushed backward kernel owns (kept alive until it has run).
struct BackwardCall {
  std::shared_ptr<const ops::ParsedOp> op;
  bool is_train = true;
  Context ctx;
  std::vector<NDArray> out_grads;  // none for a loss op's
  std::vector<NDArray> inputs;     // empty unless BackwardDeps asks for them
  std::vector<NDArray> outputs;    // likewise
  std::vector<NDArray> in_grads;   // none where the gradient is not wanted
  std::vector<ops::TensorView> absent;  // per input: its shape and dtype without data
  std::vector<ops::OpReq> reqs;
};

ops::TensorView View(const NDArray& a) {
  if (a.is_none()) return ops::TensorView{};
  return ops::TensorView{a.data(), a.shape(), a.dtype(), a.context()};
}

absl::Status RunBackward(const BackwardCall& c) {
  std::vector<ops::TensorView> out_grads, inputs, outputs, in_grads;
  for (const NDArray& a : c.out_grads) out_grads.push_back(View(a));
  for (const NDArray& a : c.inputs) inputs.push_back(View(a));
  for (const NDArray& a : c.outputs) outputs.push_back(View(a));
  for (size_t i = 0; i < c.in_grads.size(); ++i) {
    in_grads.push_back(c.in_grads[i].is_none() ? c.absent[i] : View(c.in_grads[i]));
  }
  // Backward kernels draw nothing; a random operator's context still gets a source.
  std::unique_ptr<std::mt19937_64> rng;
  if (c.op->def().random) rng = std::make_unique<std::mt19937_64>(0);
  ops::OpContext ctx{c.is_train, c.ctx, rng.get()};
  ops::BackwardArgs args;
  args.out_grads = out_grads;
  args.inputs = inputs;
  args.outputs = outputs;
  args.in_grads = in_grads;
  args.reqs = c.reqs;
  return c.op->Backward(ctx, args);
}

void AddUnique(std::vector<engine::VarHandle>* vars, const NDArray& a) {
  if (a.is_none()) return;
  if (std::find(vars->begin(), vars->end(), a.var()) == vars->end()) vars->push_back(a.var());
}

void Push(std::shared_ptr<BackwardCall> call) {
  std::vector<engine::VarHandle> reads, writes;
  for (const NDArray& a : call->in_grads) AddUnique(&writes, a);
  for (const auto* group : {&call->out_grads, &call->inputs, &call->outputs}) {
    for (const NDArray& a : *group) {
      if (!a.is_none() && std::find(writes.begin(), writes.end(), a.var()) == writes.end()) {
        AddUnique(&reads, a);
      }
    }
  }
  engine::PushOptions push;
  push.name = call->op->def().name.c_str();  // registries are never freed
  const Context ctx = call->ctx;
  engine::Get()->PushSync([call](const engine::RunContext&) { return RunBackward(*call); },
                          ctx, reads, writes, push);
}

// The sum of `terms` (pushed), or zeros like `like` when there are none.
absl::StatusOr<NDArray> Sum(const std::vector<NDArray>& terms, const NDArray& like) {
  if (terms.empty()) return NDArray::Zeros(like.shape(), like.context(), like.dtype());
  NDArray acc = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(acc, tensor::Add(acc, terms[i]));
  }
  return acc;
}

std::string Describe(const NDArray& a) {
  return absl::StrCat(a.shape().ToString(), " ", DTypeName(a.dtype()), " on ",
                      a.context().ToString());
}

}  // namespace

absl::Status Tape::Backward(absl::Span<const NDArray> heads, const BackwardOptions& options) {
  return Run(heads, {}, options, nullptr, nullptr);
}

absl::StatusOr<std::vector<NDArray>> Tape::Grad(absl::Span<const NDArray> heads,
                                                absl::Span<const NDArray> variables,
                                                const BackwardOptions& options,
                                                std::vector<bool>* reached) {
  if (variables.empty()) {
    return absl::InvalidArgumentError("autograd.grad needs at least one variable");
  }
  std::vector<NDArray> grads;
  std::vector<bool> unused;
  MXGRID_RETURN_IF_ERROR(Run(heads, variables, options, &grads, reached ? reached : &unused));
  return grads;
}

absl::Status Tape::Run(absl::Span<const NDArray> heads, absl::Span<const NDArray> targets,
                       const BackwardOptions& options, std::vector<NDArray>* target_grads,
                       std::vector<bool>* reached) {
  if (heads.empty()) return absl::InvalidArgumentError("backward needs at least one head");
  const absl::Span<const NDArray> head_grads = options.head_grads;
  if (!head_grads.empty() && head_grads.size() != heads.size()) {
    return absl::InvalidArgumentError(absl::StrCat(heads.size(), " heads need as many "
                                                   "head gradients, got ", head_grads.size()));
  }
  base::MutexLock lock(&mu_);
  std::vector<Ref> head_refs;
  for (size_t i = 0; i < heads.size(); ++i) {
    auto it = heads[i].is_none() ? entries_.end() : entries_.find(KeyOf(heads[i]));
    if (it == entries_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot differentiate head ", i, ": it is not in a recorded computational graph "
          "(compute it inside autograd.record() from arrays marked with attach_grad())"));
    }
    head_refs.push_back(it->second);
    if (i < head_grads.size() && !head_grads[i].is_none()) {
      const NDArray& g = head_grads[i];
      if (g.shape() != heads[i].shape() || g.dtype() != heads[i].dtype() ||
          g.context() != heads[i].context()) {
        return absl::InvalidArgumentError(absl::StrCat("head gradient ", i, " is ",
                                                       Describe(g), ", its head ",
                                                       Describe(heads[i])));
      }
    }
  }

  // The nodes the heads depend on, in recording (topological) order.
  std::set<int64_t> reach;
  std::vector<int64_t> stack;
  for (const Ref& r : head_refs) stack.push_back(r.node);
  while (!stack.empty()) {
    const int64_t id = stack.back();
    stack.pop_back();
    if (!reach.insert(id).second) continue;
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return absl::InternalError("autograd: a recorded node is missing");
    if (it->second.freed) {
      return absl::FailedPreconditionError(
          "the graph to differentiate was freed by an earlier backward pass: to "
          "differentiate the same graph twice, pass retain_graph=True to the first backward");
    }
    for (const Ref& r : it->second.input_refs) {
      if (r.node >= 0) stack.push_back(r.node);
    }
  }

  // The gradients wanted: entry -> positions in `targets` (none for a marked variable).
  std::map<Ref, std::vector<int>> wanted_targets;
  std::vector<Ref> target_refs;
  if (targets.empty()) {
    for (int64_t id : reach) {
      const Node& n = nodes_.at(id);
      if (n.op == nullptr && n.req != GradReq::kNull) wanted_targets[Ref{id, 0}];
    }
  } else {
    for (size_t i = 0; i < targets.size(); ++i) {
      auto it = targets[i].is_none() ? entries_.end() : entries_.find(KeyOf(targets[i]));
      if (it == entries_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cannot differentiate with respect to variable ", i, ": it is not on the tape "
            "(call attach_grad() on it, or compute it inside autograd.record())"));
      }
      target_refs.push_back(it->second);
      wanted_targets[it->second].push_back(static_cast<int>(i));
    }
  }

  // A node runs its backward when a gradient of one of its inputs is wanted.
  std::map<int64_t, bool> runs;
  auto wanted = [&](const Ref& r) {
    if (r.node < 0) return false;
    if (wanted_targets.count(r)) return true;
    auto it = runs.find(r.node);
    return it != runs.end() && it->second;
  };
  for (int64_t id : reach) {
    const Node& n = nodes_.at(id);
    bool any = false;
    if (n.op != nullptr) {
      const std::vector<int> aux = n.op->aux_indices();
      for (size_t s = 0; s < n.input_refs.size() && !any; ++s) {
        any = std::find(aux.begin(), aux.end(), static_cast<int>(s)) == aux.end() &&
              wanted(n.input_refs[s]);
      }
    }
    runs[id] = any;
  }
  if (targets.empty() && std::none_of(head_refs.begin(), head_refs.end(), wanted)) {
    return absl::InvalidArgumentError(
        "the heads depend on no variable whose gradient is wanted: call attach_grad() "
        "(grad_req other than 'null') on the inputs and compute the heads inside "
        "autograd.record()");
  }

  std::map<Ref, std::vector<NDArray>> terms;
  for (size_t i = 0; i < heads.size(); ++i) {
    if (!wanted(head_refs[i])) continue;
    NDArray g;
    if (i < head_grads.size() && !head_grads[i].is_none()) {
      g = head_grads[i];
    } else {
      MXGRID_ASSIGN_OR_RETURN(g, NDArray::Ones(heads[i].shape(), heads[i].context(),
                                               heads[i].dtype()));
    }
    terms[head_refs[i]].push_back(std::move(g));
  }

  for (auto it = reach.rbegin(); it != reach.rend(); ++it) {
    const int64_t id = *it;
    if (!runs[id]) continue;
    const Node& n = nodes_.at(id);
    const ops::ParsedOp& op = *n.op;
    auto call = std::make_shared<BackwardCall>();
    call->op = n.op;
    call->is_train = options.is_train;
    call->ctx = n.outputs.empty() ? n.inputs[0].context() : n.outputs[0].context();
    for (int i = 0; i < op.num_visible_outputs(); ++i) {
      if (op.def().is_loss) {
        call->out_grads.emplace_back();
        continue;
      }
      auto t = terms.find(Ref{id, i});
      MXGRID_ASSIGN_OR_RETURN(
          NDArray g, Sum(t == terms.end() ? std::vector<NDArray>{} : t->second, n.outputs[i]));
      call->out_grads.push_back(std::move(g));
    }
    for (int i = 0; i < op.num_outputs(); ++i) {
      if (!wanted_targets.count(Ref{id, i})) terms.erase(Ref{id, i});  // used up
    }
    if (op.def().backward_deps.inputs) call->inputs = n.inputs;
    if (op.def().backward_deps.outputs) call->outputs = n.outputs;
    const std::vector<int> aux = op.aux_indices();
    for (size_t s = 0; s < n.inputs.size(); ++s) {
      const NDArray& in = n.inputs[s];
      call->absent.push_back(ops::TensorView{nullptr, in.shape(), in.dtype(), in.context()});
      const bool is_aux = std::find(aux.begin(), aux.end(), static_cast<int>(s)) != aux.end();
      if (is_aux || !wanted(n.input_refs[s])) {
        call->in_grads.emplace_back();
        call->reqs.push_back(ops::OpReq::kNull);
        continue;
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray g, NDArray::Empty(in.shape(), in.context(), in.dtype()));
      terms[n.input_refs[s]].push_back(g);
      call->in_grads.push_back(std::move(g));
      call->reqs.push_back(ops::OpReq::kWriteTo);
    }
    Push(std::move(call));
  }

  if (targets.empty()) {
    for (const auto& [ref, unused] : wanted_targets) {
      auto t = terms.find(ref);
      if (t == terms.end()) continue;  // no path from the heads
      Node& var = nodes_.at(ref.node);
      MXGRID_ASSIGN_OR_RETURN(NDArray g, Sum(t->second, var.outputs[0]));
      if (var.req == GradReq::kAdd) {
        MXGRID_RETURN_IF_ERROR(tensor::AddInPlace(var.grad, g));
      } else {
        MXGRID_RETURN_IF_ERROR(g.CopyTo(var.grad));
      }
    }
  } else {
    target_grads->clear();
    reached->clear();
    for (size_t i = 0; i < targets.size(); ++i) {
      auto t = terms.find(target_refs[i]);
      reached->push_back(t != terms.end());
      MXGRID_ASSIGN_OR_RETURN(
          NDArray g, Sum(t == terms.end() ? std::vector<NDArray>{} : t->second, targets[i]));
      // The same entry asked for twice gets two arrays, as a caller may write into either;
      // a head gradient passed straight through is copied likewise.
      const bool aliased =
          std::count(target_refs.begin(), target_refs.begin() + i, target_refs[i]) > 0 ||
          std::any_of(head_grads.begin(), head_grads.end(),
                      [&g](const NDArray& h) { return !h.is_none() && h.SharesStorageWith(g); });
      if (aliased) {
        MXGRID_ASSIGN_OR_RETURN(g, g.CopyTo(g.context()));
      }
      target_grads->push_back(std::move(g));
    }
  }

  if (!options.retain_graph) {
    for (const auto& [id, ran] : runs) {
      if (!ran) continue;
      Node& n = nodes_.at(id);
      n.freed = true;
      n.inputs.clear();
      n.input_refs.clear();
      for (size_t i = n.op->num_visible_outputs(); i < n.outputs.size(); ++i) {
        auto e = entries_.find(KeyOf(n.outputs[i]));
        if (e != entries_.end() && e->second.node == id) entries_.erase(e);
      }
      n.outputs.resize(n.op->num_visible_outputs());
    }
  }
  Sweep();
  return absl::OkStatus();
}

}  // namespace mxgrid::executor
