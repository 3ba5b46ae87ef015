#include "libs/executor/executor.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/gpu/gpu.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using graph::Plan;
using StepKind = graph::Plan::StepKind;

ops::TensorView View(const NDArray& a) {
  if (a.is_none()) return {};
  return ops::TensorView{a.data(), a.shape(), a.dtype(), a.context()};
}

}  // namespace

namespace internal {

// Everything one step needs when it runs, prepared at bind and shared with its engine
// operations.
struct StepData {
  StepKind kind;
  const ops::ParsedOp* op = nullptr;
  std::optional<ops::ParsedOp> sum;  // kSum's add_n, which `op` then points to
  std::vector<NDArray> in, out;
  // Per output: the view passed where `out` is none. A kBackward step's unwanted gradient
  // keeps its forward input's shape and dtype with null data (BackwardArgs' contract).
  std::vector<ops::TensorView> absent;
  std::vector<ops::OpReq> reqs;
  std::vector<engine::VarHandle> reads, writes;
  int num_out_grads = 0, num_fwd_inputs = 0;  // kBackward segments of `in`
  bool random = false;  // a forward step of an operator with OpDef::random
  Context ctx;
  const char* name = "zero";
};

}  // namespace internal

namespace {

using internal::StepData;

// `seed`: of OpContext::rng, drawn when the step was pushed (d.random only). `stream`: on a
// GPU, the stream the step's kernels go to (the caller synchronizes it); null: the step
// synchronizes its own.
absl::Status RunStep(const StepData& d, bool is_train, uint64_t seed, void* stream = nullptr) {
  std::vector<ops::TensorView> in(d.in.size()), out(d.out.size());
  for (size_t i = 0; i < d.in.size(); ++i) in[i] = View(d.in[i]);
  for (size_t i = 0; i < d.out.size(); ++i) {
    out[i] = d.out[i].is_none() ? d.absent[i] : View(d.out[i]);
  }
  // On the heap: some library threads have small stacks.
  std::unique_ptr<std::mt19937_64> rng;
  if (d.random) rng = std::make_unique<std::mt19937_64>(seed);
  ops::OpContext ctx{is_train, d.ctx, rng.get(), stream};
  switch (d.kind) {
    case StepKind::kForward:
    case StepKind::kSum:
      return d.op->Forward(ctx, in, d.reqs, out);
    case StepKind::kBackward: {
      absl::Span<const ops::TensorView> all(in);
      ops::BackwardArgs args;
      args.out_grads = all.subspan(0, d.num_out_grads);
      args.inputs = all.subspan(d.num_out_grads, d.num_fwd_inputs);
      args.outputs = all.subspan(d.num_out_grads + d.num_fwd_inputs);
      args.in_grads = out;
      args.reqs = d.reqs;
      return d.op->Backward(ctx, args);
    }
    case StepKind::kZero:
      if (d.ctx.is_gpu()) {
        const int device = d.ctx.device_id;
        auto fill = [&](void* s) {
          return gpu::Fill(device, s, out[0].data, d.out[0].nbytes(), 1, 0);
        };
        return stream != nullptr ? fill(stream) : gpu::RunOnThreadStream(device, "zero", fill);
      }
      std::memset(out[0].data, 0, d.out[0].nbytes());
      return absl::OkStatus();
  }
  return absl::InternalError("unknown step kind");
}

void AddVar(std::vector<engine::VarHandle>* vars, const NDArray& a) {
  if (a.is_none()) return;
  engine::VarHandle v = a.var();
  if (std::find(vars->begin(), vars->end(), v) == vars->end()) vars->push_back(v);
}

absl::Status CheckShape(const NDArray& a, const Shape& want, absl::string_view what,
                        absl::string_view name) {
  if (a.shape() == want) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " ", Quoted(name), " has shape ",
                                                 a.shape().ToString(), ", expected ",
                                                 want.ToString()));
}

// A block of at least `bytes`: `old` when it is large enough, else a new one.
absl::StatusOr<NDArray> Block(int64_t bytes, Context ctx, const NDArray* old) {
  if (old && !old->is_none() && static_cast<int64_t>(old->nbytes()) >= bytes) return *old;
  return NDArray::Empty(Shape{bytes}, ctx, DType::kUint8);
}

}  // namespace

ops::OpReq ToOpReq(GradReq r) {
  switch (r) {
    case GradReq::kNull: return ops::OpReq::kNull;
    case GradReq::kWrite: return ops::OpReq::kWriteTo;
    case GradReq::kAdd: return ops::OpReq::kAddTo;
  }
  return ops::OpReq::kNull;
}

Executor::Executor(graph::Symbol symbol, Context ctx)
    : symbol_(std::move(symbol)),
      arg_names_(symbol_.ListArguments()),
      output_names_(symbol_.ListOutputs()),
      ctx_(ctx) {}

absl::StatusOr<GradReq> ParseGradReq(absl::string_view text) {
  if (text == "null") return GradReq::kNull;
  if (text == "write") return GradReq::kWrite;
  if (text == "add") return GradReq::kAdd;
  return absl::InvalidArgumentError(
      absl::StrCat("grad_req must be 'null', 'write' or 'add', got '", text, "'"));
}

Executor::~Executor() {
  // Pushed steps point into this executor (operators of plan_'s graph, sum ops, RNGs): wait
  // for all of them through every array they touch. Blocks alone are not enough: a step may
  // write only bound arrays (a gradient, an auxiliary state).
  for (const NDArray& a : entries_) {
    if (!a.is_none()) a.WaitToWrite().IgnoreError();
  }
  for (const NDArray& b : blocks_) b.WaitToWrite().IgnoreError();
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Bind(const graph::Symbol& symbol,
                                                         Context ctx, std::vector<NDArray> args,
                                                         std::vector<NDArray> arg_grads,
                                                         std::vector<GradReq> grad_reqs,
                                                         std::vector<NDArray> aux) {
  const std::vector<std::string> arg_names = symbol.ListArguments();
  const std::vector<std::string> aux_names = symbol.ListAuxiliaryStates();
  const size_t n = arg_names.size();
  if (args.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("bind: expected ", n, " arguments (",
                                                   absl::StrJoin(arg_names, ", "), "), got ",
                                                   args.size()));
  }
  if (!arg_grads.empty() && arg_grads.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("bind: expected ", n,
                                                   " gradient arrays or none, got ",
                                                   arg_grads.size()));
  }
  if (aux.size() != aux_names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bind: expected ", aux_names.size(), " auxiliary states (",
        absl::StrJoin(aux_names, ", "), "), got ", aux.size()));
  }
  if (grad_reqs.empty()) grad_reqs.assign(1, GradReq::kWrite);
  if (grad_reqs.size() == 1) grad_reqs.assign(n, grad_reqs[0]);
  if (grad_reqs.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("bind: expected 1 or ", n,
                                                   " grad_req values, got ", grad_reqs.size()));
  }
  arg_grads.resize(n);
  graph::PlanOptions options;
  auto check_array = [&](const NDArray& a, const std::string& name,
                         absl::string_view what) -> absl::Status {
    if (a.is_none()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bind: ", what, " ", Quoted(name), " is missing"));
    }
    if (a.context() != ctx) {
      return absl::InvalidArgumentError(absl::StrCat("bind: ", what, " ", Quoted(name), " is on ",
                                                     a.context().ToString(),
                                                     ", the executor on ", ctx.ToString()));
    }
    options.shapes[name] = a.shape();
    options.dtypes[name] = a.dtype();
    return absl::OkStatus();
  };
  for (size_t i = 0; i < n; ++i) {
    MXGRID_RETURN_IF_ERROR(check_array(args[i], arg_names[i], "argument"));
    if (arg_grads[i].is_none()) grad_reqs[i] = GradReq::kNull;
    if (grad_reqs[i] == GradReq::kNull) {
      arg_grads[i] = NDArray();
      continue;
    }
    MXGRID_RETURN_IF_ERROR(CheckShape(arg_grads[i], args[i].shape(), "gradient", arg_names[i]));
    if (arg_grads[i].dtype() != args[i].dtype() || arg_grads[i].context() != ctx) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bind: gradient '", arg_names[i], "' must match its argument's dtype and context"));
    }
    options.grad_reqs[arg_names[i]] = ToOpReq(grad_reqs[i]);
  }
  for (size_t i = 0; i < aux.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(check_array(aux[i], aux_names[i], "auxiliary state"));
  }
  MXGRID_ASSIGN_OR_RETURN(graph::Plan plan, graph::MakePlan(symbol, options));
  return Create(std::move(plan), ctx, std::move(args), std::move(arg_grads), std::move(aux),
                std::move(grad_reqs), nullptr);
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(
    graph::Plan plan, Context ctx, std::vector<NDArray> args, std::vector<NDArray> grads,
    std::vector<NDArray> aux, std::vector<GradReq> reqs, const std::vector<NDArray>* reuse) {
  std::unique_ptr<Executor> exec(new Executor(plan.graph->symbol(), ctx));
  exec->plan_ = std::move(plan);
  exec->args_ = std::move(args);
  exec->grads_ = std::move(grads);
  exec->aux_ = std::move(aux);
  exec->reqs_ = std::move(reqs);
  MXGRID_RETURN_IF_ERROR(exec->Init(reuse));
  return exec;
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::SimpleBind(
    const graph::Symbol& symbol, Context ctx, const std::map<std::string, Shape>& shapes,
    GradReq grad_req, const std::map<std::string, GradReq>& grad_reqs,
    const std::map<std::string, DType>& dtypes) {
  const std::vector<std::string> arg_names = symbol.ListArguments();
  for (const auto& [name, req] : grad_reqs) {
    if (std::find(arg_names.begin(), arg_names.end(), name) == arg_names.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("grad_req names ", Quoted(name), ", which is not an argument"));
    }
  }
  // One plan decides every shape and dtype; the arrays are then allocated from it.
  graph::PlanOptions options;
  options.shapes.insert(shapes.begin(), shapes.end());
  options.dtypes = dtypes;
  std::vector<GradReq> reqs;
  for (const std::string& name : arg_names) {
    auto it = grad_reqs.find(name);
    reqs.push_back(it == grad_reqs.end() ? grad_req : it->second);
    if (reqs.back() != GradReq::kNull) options.grad_reqs[name] = ToOpReq(reqs.back());
  }
  absl::StatusOr<graph::Plan> plan = graph::MakePlan(symbol, options);
  if (!plan.ok()) return Annotate(plan.status(), "simple_bind");
  const graph::IndexedGraph& g = *plan->graph;
  auto zeros = [&](int e) {
    return NDArray::Zeros(plan->entries[e].shape, ctx, plan->entries[e].dtype);
  };
  std::vector<NDArray> args, grads, aux;
  for (size_t k = 0; k < arg_names.size(); ++k) {
    MXGRID_ASSIGN_OR_RETURN(NDArray a, zeros(g.entry(g.arg_nodes()[k], 0)));
    NDArray grad;
    if (plan->arg_grad_entries[k] != graph::Plan::kNone) {
      MXGRID_ASSIGN_OR_RETURN(grad, zeros(plan->arg_grad_entries[k]));
    }
    args.push_back(std::move(a));
    grads.push_back(std::move(grad));
  }
  for (int id : g.aux_nodes()) {
    MXGRID_ASSIGN_OR_RETURN(NDArray a, zeros(g.entry(id, 0)));
    aux.push_back(std::move(a));
  }
  return Create(*std::move(plan), ctx, std::move(args), std::move(grads), std::move(aux),
                std::move(reqs), nullptr);
}

absl::Status Executor::Init(const std::vector<NDArray>* reuse) {
  const graph::IndexedGraph& g = *plan_.graph;
  blocks_.clear();
  for (size_t s = 0; s < plan_.storage_bytes.size(); ++s) {
    const NDArray* old = reuse && s < reuse->size() ? &(*reuse)[s] : nullptr;
    MXGRID_ASSIGN_OR_RETURN(NDArray b, Block(plan_.storage_bytes[s], ctx_, old));
    blocks_.push_back(std::move(b));
  }
  entries_.assign(plan_.entries.size(), NDArray());
  for (size_t k = 0; k < g.arg_nodes().size(); ++k) {
    entries_[g.entry(g.arg_nodes()[k], 0)] = args_[k];
  }
  for (size_t k = 0; k < g.aux_nodes().size(); ++k) {
    entries_[g.entry(g.aux_nodes()[k], 0)] = aux_[k];
  }
  for (size_t k = 0; k < plan_.arg_grad_entries.size(); ++k) {
    if (plan_.arg_grad_entries[k] != Plan::kNone) entries_[plan_.arg_grad_entries[k]] = grads_[k];
  }
  for (int e : plan_.head_grad_entries) {
    if (e == Plan::kNone || !entries_[e].is_none()) continue;
    MXGRID_ASSIGN_OR_RETURN(entries_[e], NDArray::Zeros(plan_.entries[e].shape, ctx_,
                                                        plan_.entries[e].dtype));
  }
  for (size_t e = 0; e < plan_.entries.size(); ++e) {
    const Plan::Entry& entry = plan_.entries[e];
    if (entry.storage < 0) continue;
    MXGRID_ASSIGN_OR_RETURN(entries_[e], blocks_[entry.storage].ViewAs(entry.shape, entry.dtype));
  }
  outputs_.clear();
  for (int e : g.outputs()) outputs_.push_back(entries_[e]);
  steps_.clear();
  for (const Plan::Step& step : plan_.steps) {
    auto d = std::make_shared<StepData>();
    d->kind = step.kind;
    d->ctx = ctx_;
    d->reqs = step.reqs;
    if (step.kind == StepKind::kSum) {
      MXGRID_ASSIGN_OR_RETURN(
          d->sum, ops::GlobalRegistry().Parse(
                      "add_n", {{"num_args", absl::StrCat(step.inputs.size())}}));
      d->op = &*d->sum;
    } else if (step.node >= 0) {
      d->op = &*g.node(step.node).node->op;
    }
    if (d->op) d->name = d->op->def().name.c_str();
    d->random = step.kind == StepKind::kForward && d->op && d->op->def().random;
    for (int e : step.inputs) d->in.push_back(e == Plan::kNone ? NDArray() : entries_[e]);
    for (int e : step.outputs) d->out.push_back(e == Plan::kNone ? NDArray() : entries_[e]);
    d->absent.resize(d->out.size());
    if (step.kind == StepKind::kBackward) {
      const std::vector<int>& fwd_inputs = g.node(step.node).inputs;
      for (size_t i = 0; i < d->out.size() && i < fwd_inputs.size(); ++i) {
        const Plan::Entry& input = plan_.entries[fwd_inputs[i]];
        d->absent[i] = ops::TensorView{nullptr, input.shape, input.dtype, ctx_};
      }
      d->num_out_grads = d->op->num_visible_outputs();
      d->num_fwd_inputs = d->op->def().backward_deps.inputs ? d->op->num_inputs() : 0;
    }
    // Writes: outputs, plus a forward step's auxiliary states (BatchNorm's moving stats).
    for (const NDArray& a : d->out) AddVar(&d->writes, a);
    if (step.kind == StepKind::kForward) {
      for (int i : d->op->mutated_indices()) AddVar(&d->writes, d->in[i]);
    }
    for (const NDArray& a : d->in) {
      if (a.is_none()) continue;
      if (std::find(d->writes.begin(), d->writes.end(), a.var()) == d->writes.end()) {
        AddVar(&d->reads, a);
      }
    }
    steps_.push_back(std::move(d));
  }
  return absl::OkStatus();
}

void Executor::PushStep(int index, bool is_train) {
  std::shared_ptr<const StepData> d = steps_[index];
  engine::PushOptions options;
  options.name = d->name;
  // Drawn here, in program order on the caller's thread (see random_source.h).
  uint64_t seed = 0;
  if (d->random) seed = (random_ ? *random_ : RandomSource::Default()).NextSeed(ctx_);
  engine::Get()->PushSync(
      [d, is_train, seed](const engine::RunContext&) { return RunStep(*d, is_train, seed); },
      ctx_, d->reads, d->writes, options);
}

void Executor::PushSteps(int begin, int end, bool is_train) {
  if (!ctx_.is_gpu() || end - begin < 2) {
    for (int i = begin; i < end; ++i) PushStep(i, is_train);
    return;
  }
  // On a GPU the steps go as one engine operation (MXNet's bulk execution): their kernels
  // are queued back to back on one stream, synchronized once at the end.
  auto steps =
      std::make_shared<std::vector<std::pair<std::shared_ptr<const StepData>, uint64_t>>>();
  std::vector<engine::VarHandle> reads, writes;
  for (int i = begin; i < end; ++i) {
    std::shared_ptr<const StepData> d = steps_[i];
    uint64_t seed = 0;
    if (d->random) seed = (random_ ? *random_ : RandomSource::Default()).NextSeed(ctx_);
    steps->emplace_back(d, seed);
    reads.insert(reads.end(), d->reads.begin(), d->reads.end());
    writes.insert(writes.end(), d->writes.begin(), d->writes.end());
  }
  engine::PushOptions options;
  options.name = "bulk";
  const Context ctx = ctx_;
  engine::Get()->PushSync(
      [steps, is_train, ctx](const engine::RunContext&) -> absl::Status {
        return gpu::RunOnThreadStream(ctx.device_id, "executor", [&](void* stream) -> absl::Status {
          for (const auto& [d, seed] : *steps) {
            MXGRID_RETURN_IF_ERROR(RunStep(*d, is_train, seed, stream));
          }
          return absl::OkStatus();
        });
      },
      ctx_, reads, writes, options);
}

absl::Status Executor::Forward(bool is_train, const std::map<std::string, NDArray>& inputs,
                               std::vector<MonitoredArray>* monitored) {
  const std::vector<std::string>& names = arg_names_;
  for (const auto& [name, value] : inputs) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat("forward: ", Quoted(name),
                                                     " is not an argument of the symbol"));
    }
    const NDArray& arg = args_[it - names.begin()];
    if (value.is_none()) {
      return absl::InvalidArgumentError(absl::StrCat("forward: input ", Quoted(name), " is none"));
    }
    MXGRID_RETURN_IF_ERROR(CheckShape(value, arg.shape(), "forward: input", name));
    if (!value.SharesStorageWith(arg)) MXGRID_RETURN_IF_ERROR(value.CopyTo(arg));
  }
  if (monitored == nullptr) {
    PushSteps(0, plan_.num_forward_steps, is_train);
    return absl::OkStatus();
  }
  for (int i = 0; i < plan_.num_forward_steps; ++i) {
    PushStep(i, is_train);
    MXGRID_RETURN_IF_ERROR(CopyStepOutputs(i, monitored));
  }
  return absl::OkStatus();
}

absl::Status Executor::Backward(const std::vector<NDArray>& out_grads,
                                std::vector<MonitoredArray>* monitored) {
  if (!plan_.has_backward()) {
    return absl::FailedPreconditionError(
        "backward: no argument of this executor has a gradient request (bind with grad_req "
        "'write' or 'add' and gradient arrays)");
  }
  const std::vector<std::string>& names = output_names_;
  if (!out_grads.empty() && out_grads.size() != names.size()) {
    return absl::InvalidArgumentError(absl::StrCat("backward: expected ", names.size(),
                                                   " head gradients, got ", out_grads.size()));
  }
  for (size_t k = 0; k < plan_.head_grad_entries.size(); ++k) {
    const int e = plan_.head_grad_entries[k];
    if (e == Plan::kNone) continue;
    if (out_grads.empty() || out_grads[k].is_none()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backward: output '", names[k],
          "' does not come from a loss operator, so its head gradient is required "
          "(pass out_grads, or end the graph in a loss such as SoftmaxOutput or MakeLoss)"));
    }
    MXGRID_RETURN_IF_ERROR(CheckShape(out_grads[k], plan_.entries[e].shape,
                                      "backward: head gradient for", names[k]));
    MXGRID_RETURN_IF_ERROR(out_grads[k].CopyTo(entries_[e]));
  }
  if (monitored == nullptr) {
    PushSteps(plan_.num_forward_steps, static_cast<int>(plan_.steps.size()), true);
    return absl::OkStatus();
  }
  for (int i = plan_.num_forward_steps; i < static_cast<int>(plan_.steps.size()); ++i) {
    PushStep(i, /*is_train=*/true);
    MXGRID_RETURN_IF_ERROR(CopyStepOutputs(i, monitored));
  }
  return absl::OkStatus();
}

namespace {
std::map<std::string, NDArray> Zip(const std::vector<std::string>& names,
                                   const std::vector<NDArray>& arrays, bool skip_none) {
  std::map<std::string, NDArray> dict;
  for (size_t i = 0; i < names.size() && i < arrays.size(); ++i) {
    if (skip_none && arrays[i].is_none()) continue;
    dict.emplace(names[i], arrays[i]);
  }
  return dict;
}
}  // namespace

std::map<std::string, NDArray> Executor::arg_dict() const {
  return Zip(arg_names_, args_, false);
}
std::map<std::string, NDArray> Executor::grad_dict() const {
  return Zip(arg_names_, grads_, true);
}
std::map<std::string, NDArray> Executor::aux_dict() const {
  return Zip(symbol_.ListAuxiliaryStates(), aux_, false);
}
std::map<std::string, NDArray> Executor::output_dict() const {
  return Zip(output_names_, outputs_, false);
}

}  // namespace mxgrid::executor
