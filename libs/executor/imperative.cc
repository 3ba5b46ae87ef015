#include "libs/executor/imperative.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"

namespace mxgrid::executor {
namespace {

// Calls touching at most this many bytes (inputs and outputs) run inline when ready.
constexpr size_t kInlineBytes = 16 << 10;

using tensor::NDArray;

// What one pushed call owns: the operator and every array it touches (kept alive until
// the kernel has run).
struct Call {
  std::shared_ptr<const ops::ParsedOp> op;
  bool is_train;
  Context ctx;
  uint64_t seed;  // of OpContext::rng, for a random operator
  std::vector<NDArray> inputs, outputs;
  std::vector<ops::OpReq> reqs;
};

ops::TensorView View(const NDArray& a) {
  return ops::TensorView{a.data(), a.shape(), a.dtype(), a.context()};
}

absl::Status Run(const Call& c) {
  // Seeded from the call's own seed, drawn when it was pushed; on the heap, as some library
  // threads have small stacks.
  std::unique_ptr<std::mt19937_64> rng;
  if (c.op->def().random) rng = std::make_unique<std::mt19937_64>(c.seed);
  std::vector<ops::TensorView> in(c.inputs.size()), out(c.outputs.size());
  for (size_t i = 0; i < in.size(); ++i) in[i] = View(c.inputs[i]);
  for (size_t i = 0; i < out.size(); ++i) out[i] = View(c.outputs[i]);
  ops::OpContext ctx{c.is_train, c.ctx, rng.get()};
  return c.op->Forward(ctx, in, c.reqs, out);
}

void AddUnique(std::vector<engine::VarHandle>* vars, engine::VarHandle v) {
  if (std::find(vars->begin(), vars->end(), v) == vars->end()) vars->push_back(v);
}

absl::Status Mismatch(const ops::ParsedOp& op, absl::string_view what, int index,
                      absl::string_view got, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("operator ", op.def().name, ": ", what, " ",
                                                 index, " is ", got, ", expected ", want));
}

// MXNet's GetContext: the inputs', else the `out` arrays', else the `ctx` attribute's, else
// the default.
absl::StatusOr<Context> CallContext(const ops::ParsedOp& op, absl::Span<const NDArray> inputs,
                                    const InvokeOptions& options) {
  if (!inputs.empty()) return inputs[0].context();
  if (!options.out.empty() && !options.out[0].is_none()) return options.out[0].context();
  auto it = op.attrs().find("ctx");
  if (it == op.attrs().end() || it->second.empty()) return options.default_ctx;
  absl::StatusOr<Context> ctx = Context::FromString(it->second);
  if (!ctx.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("operator ", op.def().name, ": ", ctx.status().message()));
  }
  return *ctx;
}

}  // namespace

absl::StatusOr<std::vector<NDArray>> Invoke(std::shared_ptr<const ops::ParsedOp> shared_op,
                                            absl::Span<const NDArray> inputs,
                                            const InvokeOptions& options) {
  const ops::ParsedOp& op = *shared_op;
  const std::string& name = op.def().name;
  if (static_cast<int>(inputs.size()) != op.num_inputs()) {
    return absl::InvalidArgumentError(absl::StrCat("operator ", name, " takes ",
                                                   op.num_inputs(), " inputs, got ",
                                                   inputs.size()));
  }
  const int visible = op.num_visible_outputs();
  if (!options.out.empty() && static_cast<int>(options.out.size()) != visible) {
    return absl::InvalidArgumentError(absl::StrCat("operator ", name, " has ", visible,
                                                   " outputs, got ", options.out.size(),
                                                   " arrays for out="));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].is_none()) {
      return absl::InvalidArgumentError(absl::StrCat("operator ", name, ": input ", i,
                                                     " is none"));
    }
  }
  MXGRID_ASSIGN_OR_RETURN(const Context ctx, CallContext(op, inputs, options));
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i].context() != ctx) {
      return absl::InvalidArgumentError(absl::StrCat(
          "operator ", name, ": inputs on different devices (", ctx.ToString(), " and ",
          inputs[i].context().ToString(), "); copy them to one device first"));
    }
  }

  std::vector<ops::InferShape> in_shapes(inputs.size()), out_shapes(op.num_outputs());
  std::vector<ops::InferType> in_types(inputs.size()), out_types(op.num_outputs());
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_shapes[i] = inputs[i].shape();
    in_types[i] = inputs[i].dtype();
  }
  if (inputs.empty()) {
    // MXNet's InitShape/InitType: a sampler without `shape` writes whatever `out` has.
    for (size_t i = 0; i < options.out.size(); ++i) {
      if (options.out[i].is_none()) continue;
      out_shapes[i] = options.out[i].shape();
      out_types[i] = options.out[i].dtype();
    }
  }
  MXGRID_RETURN_IF_ERROR(op.InferShapes(&in_shapes, &out_shapes));
  MXGRID_RETURN_IF_ERROR(op.InferTypes(&in_types, &out_types));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (*in_shapes[i] != inputs[i].shape()) {
      return Mismatch(op, "input", i, inputs[i].shape().ToString(),
                      in_shapes[i]->ToString());
    }
    if (*in_types[i] != inputs[i].dtype()) {
      return Mismatch(op, "input", i, DTypeName(inputs[i].dtype()), DTypeName(*in_types[i]));
    }
  }

  auto call = std::make_shared<Call>(
      Call{std::move(shared_op), options.is_train, ctx, /*seed=*/0, {}, {}, {}});
  call->inputs.assign(inputs.begin(), inputs.end());
  call->outputs.reserve(out_shapes.size());
  for (size_t i = 0; i < out_shapes.size(); ++i) {
    if (!ops::IsKnown(out_shapes[i]) || !out_types[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "operator ", name, ": cannot infer the shape and type of output ", i));
    }
    if (static_cast<int>(i) < visible && !options.out.empty()) {
      const NDArray& o = options.out[i];
      if (o.is_none() || o.shape() != *out_shapes[i] || o.dtype() != *out_types[i] ||
          o.context() != ctx) {
        return Mismatch(op, "out array", i,
                        o.is_none() ? std::string("none")
                                    : absl::StrCat(o.shape().ToString(), " ",
                                                   DTypeName(o.dtype()), " on ",
                                                   o.context().ToString()),
                        absl::StrCat(out_shapes[i]->ToString(), " ", DTypeName(*out_types[i]),
                                     " on ", ctx.ToString()));
      }
      call->outputs.push_back(o);
    } else {
      MXGRID_ASSIGN_OR_RETURN(NDArray o, NDArray::Empty(*out_shapes[i], ctx, *out_types[i]));
      call->outputs.push_back(std::move(o));
    }
  }
  call->reqs.assign(call->outputs.size(), ops::OpReq::kWriteTo);
  // Drawn here, in the caller's program order, never on the engine thread that runs it.
  if (op.def().random) {
    RandomSource& random = options.random ? *options.random : RandomSource::Default();
    call->seed = random.NextSeed(ctx);
  }

  std::vector<engine::VarHandle> reads, writes;
  for (const NDArray& o : call->outputs) AddUnique(&writes, o.var());
  for (int i : op.mutated_indices()) AddUnique(&writes, inputs[i].var());
  for (const NDArray& a : inputs) {
    if (std::find(writes.begin(), writes.end(), a.var()) == writes.end()) {
      AddUnique(&reads, a.var());
    }
  }
  engine::PushOptions push;
  push.name = name.c_str();  // the OpDef outlives the call (registries are never freed)
  // A tiny call runs in the caller's thread when its inputs are ready: the hand-off to a
  // worker would cost more than the kernel (and on a busy machine, a scheduling delay).
  size_t bytes = 0;
  for (const NDArray& a : inputs) bytes += a.nbytes();
  for (const NDArray& o : call->outputs) bytes += o.nbytes();
  push.run_inline_when_ready = bytes <= kInlineBytes;
  engine::Get()->PushSync([call](const engine::RunContext&) { return Run(*call); }, ctx, reads,
                          writes, push);
  if (options.all_outputs != nullptr) *options.all_outputs = call->outputs;
  return std::vector<NDArray>(call->outputs.begin(), call->outputs.begin() + visible);
}

}  // namespace mxgrid::executor
