// Executor::BindPlan: binding arrays to a plan made by someone else (the
// compiler service).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/executor/executor.h"

namespace mxgrid::executor {
namespace {

absl::Status CheckAgainst(const NDArray &a, const graph::Plan::Entry &want,
                          Context ctx, absl::string_view what,
                          absl::string_view name) {
  if (a.is_none()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bind: ", what, " ", Quoted(name), " is missing"));
  }
  // Every CPU context is the worker's host memory: an executor on one CPU takes arrays of
  // any (MXNet's ctx_group placement across CPUs); GPU arrays must be on its device.
  const bool same_memory = a.context() == ctx || (a.context().is_cpu() && ctx.is_cpu());
  if (a.shape() != want.shape || a.dtype() != want.dtype || !same_memory) {
    return absl::InvalidArgumentError(
        absl::StrCat("bind: ", what, " ", Quoted(name), " is ", a.shape().ToString(),
                     " ", DTypeName(a.dtype()), " on ", a.context().ToString(),
                     "; the plan needs ", want.shape.ToString(), " ",
                     DTypeName(want.dtype), " on ", ctx.ToString()));
  }
  return absl::OkStatus();
}

// The request the plan writes gradient entry `e` with (the step that produces
// it).
GradReq PlannedReq(const graph::Plan &plan, int e) {
  for (const graph::Plan::Step &step : plan.steps) {
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      if (step.outputs[k] == e) {
        return step.reqs[k] == ops::OpReq::kAddTo ? GradReq::kAdd
                                                  : GradReq::kWrite;
      }
    }
  }
  return GradReq::kWrite; // never produced (a gradient nothing reaches): write
                          // means zeros
}

} // namespace

absl::StatusOr<std::unique_ptr<Executor>>
Executor::BindPlan(graph::Plan plan, Context ctx, std::vector<NDArray> args,
                   std::vector<NDArray> arg_grads, std::vector<NDArray> aux) {
  const graph::IndexedGraph &g = *plan.graph;
  const graph::Symbol &symbol = g.symbol();
  const std::vector<std::string> arg_names = symbol.ListArguments();
  const std::vector<std::string> aux_names = symbol.ListAuxiliaryStates();
  if (args.size() != arg_names.size() || aux.size() != aux_names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bind: the plan's graph has ", arg_names.size(), " arguments and ",
        aux_names.size(), " auxiliary states; got ", args.size(), " and ",
        aux.size()));
  }
  if (!arg_grads.empty() && arg_grads.size() != arg_names.size()) {
    return absl::InvalidArgumentError(
        "bind: one gradient array (or none) per argument");
  }
  arg_grads.resize(arg_names.size());
  std::vector<GradReq> reqs(arg_names.size(), GradReq::kNull);
  for (size_t k = 0; k < arg_names.size(); ++k) {
    const int e = g.entry(g.arg_nodes()[k], 0);
    MXGRID_RETURN_IF_ERROR(
        CheckAgainst(args[k], plan.entries[e], ctx, "argument", arg_names[k]));
    const int ge = plan.arg_grad_entries[k];
    if (ge == graph::Plan::kNone) {
      if (!arg_grads[k].is_none()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bind: the plan computes no gradient for '", arg_names[k], "'"));
      }
      continue;
    }
    MXGRID_RETURN_IF_ERROR(CheckAgainst(arg_grads[k], plan.entries[ge], ctx,
                                        "gradient", arg_names[k]));
    reqs[k] = PlannedReq(plan, ge);
  }
  for (size_t k = 0; k < aux_names.size(); ++k) {
    const int e = g.entry(g.aux_nodes()[k], 0);
    MXGRID_RETURN_IF_ERROR(CheckAgainst(aux[k], plan.entries[e], ctx,
                                        "auxiliary state", aux_names[k]));
  }
  return Create(std::move(plan), ctx, std::move(args), std::move(arg_grads),
                std::move(aux), std::move(reqs), nullptr);
}

absl::StatusOr<std::unique_ptr<Executor>>
Executor::SimpleBindPlan(graph::Plan plan, Context ctx) {
  const graph::IndexedGraph &g = *plan.graph;
  auto zeros = [&](int e) {
    return NDArray::Zeros(plan.entries[e].shape, ctx, plan.entries[e].dtype);
  };
  std::vector<NDArray> args, grads, aux;
  for (size_t k = 0; k < g.arg_nodes().size(); ++k) {
    MXGRID_ASSIGN_OR_RETURN(NDArray a, zeros(g.entry(g.arg_nodes()[k], 0)));
    args.push_back(std::move(a));
    const int ge = plan.arg_grad_entries[k];
    if (ge == graph::Plan::kNone) {
      grads.emplace_back();
    } else {
      MXGRID_ASSIGN_OR_RETURN(NDArray grad, zeros(ge));
      grads.push_back(std::move(grad));
    }
  }
  for (int node : g.aux_nodes()) {
    MXGRID_ASSIGN_OR_RETURN(NDArray a, zeros(g.entry(node, 0)));
    aux.push_back(std::move(a));
  }
  return BindPlan(std::move(plan), ctx, std::move(args), std::move(grads),
                  std::move(aux));
}

} // namespace mxgrid::executor
