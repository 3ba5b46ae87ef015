// Tape: recording, variables and the collection of unreachable nodes (the backward pass is
// in autograd_backward.cc).
#include <algorithm>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/executor/autograd.h"

namespace mxgrid::executor {

using tensor::NDArray;

Tape::Key Tape::KeyOf(const NDArray& a) {
  const absl::Span<const int64_t> dims = a.shape().dims();
  return Key{a.var(), a.byte_offset(), std::vector<int64_t>(dims.begin(), dims.end()),
             a.dtype()};
}

int64_t Tape::AddNode(Node node) {
  const int64_t id = next_id_++;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    entries_[KeyOf(node.outputs[i])] = Ref{id, static_cast<int>(i)};
  }
  nodes_.emplace(id, std::move(node));
  return id;
}

absl::Status Tape::Record(std::shared_ptr<const ops::ParsedOp> op,
                          absl::Span<const NDArray> inputs, absl::Span<const NDArray> outputs,
                          bool is_train) {
  if (op == nullptr) return absl::InvalidArgumentError("Record: no operator");
  const std::string& name = op->def().name;
  if (static_cast<int>(inputs.size()) != op->num_inputs() ||
      static_cast<int>(outputs.size()) != op->num_outputs()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Record: operator ", name, " has ", op->num_inputs(), " inputs and ",
        op->num_outputs(), " outputs (hidden ones included), got ", inputs.size(), " and ",
        outputs.size()));
  }
  for (const NDArray& a : inputs) {
    if (a.is_none()) return absl::InvalidArgumentError("Record: a none input of " + name);
  }
  for (const NDArray& a : outputs) {
    if (a.is_none()) return absl::InvalidArgumentError("Record: a none output of " + name);
  }
  base::MutexLock lock(&mu_);
  if (nodes_.size() >= sweep_at_) {
    Sweep();
    sweep_at_ = std::max<size_t>(1024, 2 * nodes_.size());
  }
  Node node;
  node.op = std::move(op);
  node.is_train = is_train;
  node.inputs.assign(inputs.begin(), inputs.end());
  node.input_refs.reserve(inputs.size());
  for (const NDArray& a : inputs) {
    auto it = entries_.find(KeyOf(a));
    Ref ref = it == entries_.end() ? Ref{} : it->second;
    // An output of a graph that a backward without retain_graph freed is a constant from
    // now on, as in MXNet (which clears the freed nodes' autograd info): a new recording
    // may use it, and no gradient flows back into the freed graph.
    auto n = ref.node >= 0 ? nodes_.find(ref.node) : nodes_.end();
    if (n != nodes_.end() && n->second.freed) ref = Ref{};
    node.input_refs.push_back(ref);
  }
  node.outputs.assign(outputs.begin(), outputs.end());
  AddNode(std::move(node));
  return absl::OkStatus();
}

absl::Status Tape::MarkVariables(absl::Span<const NDArray> variables,
                                 absl::Span<const NDArray> grads,
                                 absl::Span<const GradReq> reqs) {
  if (grads.size() != variables.size() || reqs.size() != variables.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mark_variables: ", variables.size(), " variables need as many gradients and "
        "grad_reqs, got ", grads.size(), " and ", reqs.size()));
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    const NDArray& v = variables[i];
    const NDArray& g = grads[i];
    if (v.is_none()) {
      return absl::InvalidArgumentError(absl::StrCat("mark_variables: variable ", i,
                                                     " is none"));
    }
    if (g.is_none()) {
      if (reqs[i] == GradReq::kNull) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "mark_variables: variable ", i, " has no gradient array but grad_req is not 'null'"));
    }
    if (g.shape() != v.shape() || g.dtype() != v.dtype() || g.context() != v.context()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mark_variables: the gradient of variable ", i, " is ", g.shape().ToString(), " ",
          DTypeName(g.dtype()), " on ", g.context().ToString(), ", the variable ",
          v.shape().ToString(), " ", DTypeName(v.dtype()), " on ", v.context().ToString()));
    }
    if (g.SharesStorageWith(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mark_variables: the gradient of variable ", i, " shares its memory"));
    }
  }
  base::MutexLock lock(&mu_);
  for (size_t i = 0; i < variables.size(); ++i) {
    Node node;
    node.outputs = {variables[i]};
    node.grad = grads[i];
    node.req = grads[i].is_none() ? GradReq::kNull : reqs[i];
    AddNode(std::move(node));
  }
  return absl::OkStatus();
}

int64_t Tape::num_nodes() const {
  base::MutexLock lock(&mu_);
  return static_cast<int64_t>(nodes_.size());
}

int64_t Tape::Collect() {
  base::MutexLock lock(&mu_);
  return Sweep();
}

// A node is live when an array of its outputs is referenced outside the tape (a client
// handle, a view, a queued operation) or when a live node read one of its outputs. The
// tape's own references are counted per storage and subtracted from the storage's count.
int64_t Tape::Sweep() {
  std::unordered_map<engine::VarHandle, long> held;
  auto count = [&held](const NDArray& a) {
    if (!a.is_none()) ++held[a.var()];
  };
  for (const auto& [id, node] : nodes_) {
    for (const NDArray& a : node.inputs) count(a);
    for (const NDArray& a : node.outputs) count(a);
    count(node.grad);
  }
  auto external = [&held](const NDArray& a) {
    return !a.is_none() && a.storage_references() > held[a.var()];
  };
  std::set<int64_t> live;
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    const Node& node = it->second;
    bool is_live = live.count(it->first) > 0;
    for (size_t i = 0; !is_live && i < node.outputs.size(); ++i) {
      is_live = external(node.outputs[i]);
    }
    if (!is_live) continue;
    live.insert(it->first);
    for (const Ref& r : node.input_refs) {
      if (r.node >= 0) live.insert(r.node);
    }
  }
  int64_t removed = 0;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    it = nodes_.erase(it);
    ++removed;
  }
  if (removed == 0) return 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (nodes_.count(it->second.node)) {
      ++it;
    } else {
      it = entries_.erase(it);
    }
  }
  return removed;
}

}  // namespace mxgrid::executor
