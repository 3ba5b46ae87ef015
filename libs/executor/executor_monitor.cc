// Executor: the copies of operator outputs a monitored Forward / Backward hands out (MXNet's
// monitor callback, which GraphExecutor calls after each operator with its output arrays).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/executor/executor.h"
#include "libs/graph/symbol.h"

namespace mxgrid::executor {

using StepKind = graph::Plan::StepKind;

absl::Status Executor::CopyStepOutputs(int index, std::vector<MonitoredArray>* monitored) const {
  const graph::Plan::Step& step = plan_.steps[index];
  if (step.kind != StepKind::kForward && step.kind != StepKind::kBackward) return absl::OkStatus();
  const graph::IndexedGraph::NodeInfo& info = plan_.graph->node(step.node);
  const graph::Node& node = *info.node;
  // A backward node has one output per argument input (MXNet's backward ops give none for
  // auxiliary states).
  std::vector<int> reported;
  const std::vector<int> aux = node.op->aux_indices();
  for (int i = 0; i < static_cast<int>(step.outputs.size()); ++i) {
    const bool is_aux = std::find(aux.begin(), aux.end(), i) != aux.end();
    if (step.kind == StepKind::kForward || !is_aux) reported.push_back(i);
  }
  for (size_t k = 0; k < reported.size(); ++k) {
    const int i = reported[k];
    MonitoredArray m;
    if (step.kind == StepKind::kForward) {
      m.name = graph::OutputName(node, i);
    } else {
      m.name = reported.size() == 1 ? absl::StrCat(node.name, "_backward_output")
                                    : absl::StrCat(node.name, "_backward_output", k);
    }
    const int e = step.outputs[i];
    if (e == graph::Plan::kNone) {
      // A gradient not requested: its forward input's shape and dtype, zeros.
      const graph::Plan::Entry& input = plan_.entries[info.inputs[i]];
      MXGRID_ASSIGN_OR_RETURN(m.value, NDArray::Zeros(input.shape, ctx_, input.dtype));
    } else {
      MXGRID_ASSIGN_OR_RETURN(m.value, entries_[e].CopyTo(ctx_));
    }
    monitored->push_back(std::move(m));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::executor
