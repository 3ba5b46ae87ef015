// The memory pass: liveness-based block assignment over a Plan's steps, with in-place
// writes where the operator allows (MXNet's PlanMemory).
#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "libs/graph/internal/plan_passes.h"

namespace mxgrid::graph::internal {
namespace {

using StepKind = Plan::StepKind;

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

void PlanMemory(Plan* plan, bool share_memory) { MemoryPlanner(plan, share_memory).Run(); }

}  // namespace mxgrid::graph::internal
