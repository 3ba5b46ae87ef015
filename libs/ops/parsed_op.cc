// ParsedOp: argument checks around an OpDef's functions, and MXNet's defaults for what an
// op leaves out (elementwise type inference, zero gradients for non-differentiable ops).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "libs/base/parallelism.h"
#include "libs/base/status_macros.h"
#include "libs/gpu/gpu.h"
#include "libs/ops/gpu_fallback.h"
#include "libs/ops/op.h"

namespace mxgrid::ops {
namespace {

// Elements (inputs and outputs together) a kernel needs per OpenMP thread it starts. A
// fork / join costs microseconds (more the more threads), as much as the whole work of the
// small kernels of a small network (an MLP's 128 x 64 layers, its activations): those run on
// the calling thread, larger ones on one thread per kElementsPerThread elements.
constexpr int64_t kElementsPerThread = 32 * 1024;

int64_t Elements(absl::Span<const TensorView> views) {
  int64_t n = 0;
  for (const TensorView& v : views) n += v.size();
  return n;
}

// The OpenMP threads this thread's kernels may start (oneDNN and the OpenMP loops read the
// calling thread's setting): base::KernelThreadLimit(), or all of them (as OMP_NUM_THREADS
// or the core count says) without a limit; at most one per kElementsPerThread of the
// kernel's `elements`. Set only when it changes.
void ApplyKernelThreadLimit(int64_t elements) {
  static const int all = omp_get_max_threads();  // before any limit was applied
  thread_local int applied = 0;
  const int limit = base::KernelThreadLimit();
  int want = limit > 0 ? std::min(limit, all) : all;
  want = static_cast<int>(
      std::min<int64_t>(want, std::max<int64_t>(1, elements / kElementsPerThread)));
  if (want != applied) {
    omp_set_num_threads(want);
    applied = want;
  }
}

absl::Status CountError(const OpDef& def, const char* what, size_t got, int want) {
  return absl::InvalidArgumentError(absl::StrCat(def.name, ": expected ", want, " ", what,
                                                 ", got ", got));
}

// True when `v` can be read or written: it has data or no elements.
bool HasData(const TensorView& v) { return v.data != nullptr || v.size() == 0; }

absl::Status NoData(const OpDef& def, const char* what, size_t i) {
  return absl::InvalidArgumentError(
      absl::StrCat(def.name, ": ", what, " ", i, " has no data"));
}

// A count that must be `want`, or also 0 when the kernel does not need the tensors.
absl::Status CheckOptionalCount(const OpDef& def, const char* what, size_t got, int want,
                                bool required) {
  if (static_cast<int>(got) == want || (!required && got == 0)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(def.name, ": expected ", want, " ", what,
                                                 required ? "" : " or none", ", got ", got));
}

// InvalidArgument unless every shape in `shapes` is one an array can have: at most
// Shape::kMaxNdim dims, each known one >= 0 (-1 is unknown), and a product that fits. An
// operator's inference computes output shapes from request-controlled parameters (Reshape's
// codes, one_hot's depth, Deconvolution's target_shape); this is the one check behind all
// of them.
absl::Status CheckShapes(const OpDef& def, const char* what,
                         const std::vector<InferShape>& shapes) {
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (!shapes[i]) continue;
    absl::InlinedVector<int64_t, 8> dims(shapes[i]->dims().begin(), shapes[i]->dims().end());
    bool negative = false;
    for (int64_t& d : dims) {
      negative |= d < -1;
      if (d == -1) d = 1;
    }
    absl::Status s = negative ? absl::InvalidArgumentError("a dimension is negative")
                              : Shape::Make(dims).status();
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(def.name, ": ", what, " ", i, " shape ",
                                                     shapes[i]->ToString(), " is invalid: ",
                                                     s.message()));
    }
  }
  return absl::OkStatus();
}

// Writes zeros into a gradient according to its request (on its device).
absl::Status ZeroGradient(const OpContext& ctx, const TensorView& grad, OpReq req) {
  if (req == OpReq::kNull || req == OpReq::kAddTo || grad.data == nullptr) return absl::OkStatus();
  const size_t bytes = static_cast<size_t>(grad.size()) * DTypeSize(grad.dtype);
  if (ctx.ctx.is_gpu()) return gpu::Fill(ctx.ctx.device_id, ctx.stream, grad.data, bytes, 1, 0);
  std::memset(grad.data, 0, bytes);
  return absl::OkStatus();
}

// True when `def`'s CUDA kernel takes every array of the call.
bool GpuKernelTakes(const OpDef& def, std::initializer_list<absl::Span<const TensorView>> lists) {
  for (absl::Span<const TensorView> views : lists) {
    for (const TensorView& v : views) {
      if (std::find(def.gpu_dtypes.begin(), def.gpu_dtypes.end(), v.dtype) ==
          def.gpu_dtypes.end()) {
        return false;
      }
    }
  }
  return true;
}

// Runs `fn` with ctx.stream set: the caller's, or the thread's (then synchronized before
// returning, with the launch errors of the call).
template <typename Fn>
absl::Status OnGpu(const OpContext& ctx, const char* name, Fn&& fn) {
  if (ctx.stream != nullptr) {
    MXGRID_RETURN_IF_ERROR(fn(ctx));
    return gpu::LastLaunchError(ctx.ctx.device_id, name);
  }
  return gpu::RunOnThreadStream(ctx.ctx.device_id, name, [&](void* stream) {
    OpContext own = ctx;
    own.stream = stream;
    absl::Status status = fn(own);
    absl::Status launched = gpu::LastLaunchError(ctx.ctx.device_id, name);
    return status.ok() ? launched : status;
  });
}

}  // namespace

ParsedOp::ParsedOp(const OpDef* def, std::shared_ptr<const OpParams> params, AttrMap attrs)
    : def_(def), params_(std::move(params)), attrs_(std::move(attrs)) {
  num_inputs_ = static_cast<int>(def_->input_names(*params_).size());
  num_visible_outputs_ = static_cast<int>(def_->output_names(*params_).size());
  num_outputs_ = def_->num_outputs ? def_->num_outputs(*params_) : num_visible_outputs_;
  aux_ = aux_indices();
}

std::vector<std::string> ParsedOp::input_names() const { return def_->input_names(*params_); }

std::vector<int> ParsedOp::aux_indices() const {
  return def_->aux_indices ? def_->aux_indices(*params_) : std::vector<int>{};
}

std::vector<int> ParsedOp::mutated_indices() const {
  std::vector<int> out = aux_;
  if (def_->mutate_indices) {
    for (int i : def_->mutate_indices(*params_)) out.push_back(i);
  }
  return out;
}

std::vector<std::string> ParsedOp::output_names() const {
  return def_->output_names(*params_);
}

absl::Status ParsedOp::InferShapes(std::vector<InferShape>* in,
                                   std::vector<InferShape>* out) const {
  if (static_cast<int>(in->size()) != num_inputs()) {
    return CountError(*def_, "input shapes", in->size(), num_inputs());
  }
  if (static_cast<int>(out->size()) != num_outputs()) {
    return CountError(*def_, "output shapes", out->size(), num_outputs());
  }
  MXGRID_RETURN_IF_ERROR(def_->infer_shape(*params_, in, out));
  MXGRID_RETURN_IF_ERROR(CheckShapes(*def_, "input", *in));
  return CheckShapes(*def_, "output", *out);
}

absl::Status ParsedOp::InferTypes(std::vector<InferType>* in,
                                  std::vector<InferType>* out) const {
  if (static_cast<int>(in->size()) != num_inputs()) {
    return CountError(*def_, "input types", in->size(), num_inputs());
  }
  if (static_cast<int>(out->size()) != num_outputs()) {
    return CountError(*def_, "output types", out->size(), num_outputs());
  }
  if (def_->infer_type) return def_->infer_type(*params_, in, out);
  // MXNet's ElemwiseType: every input and output shares one dtype.
  InferType known;
  for (auto* list : {in, out}) {
    for (size_t i = 0; i < list->size(); ++i) {
      const InferType& t = (*list)[i];
      if (!t) continue;
      if (known && *known != *t) {
        return absl::InvalidArgumentError(absl::StrCat(
            def_->name, ": dtype ", DTypeName(*t), " conflicts with ", DTypeName(*known),
            " (", list == in ? "input " : "output ", i, ")"));
      }
      known = t;
    }
  }
  if (known) {
    for (auto* list : {in, out}) {
      for (InferType& t : *list) t = known;
    }
  }
  return absl::OkStatus();
}

absl::Status ParsedOp::Forward(const OpContext& ctx, absl::Span<const TensorView> inputs,
                               absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> outputs) const {
  if (static_cast<int>(inputs.size()) != num_inputs()) {
    return CountError(*def_, "inputs", inputs.size(), num_inputs());
  }
  if (static_cast<int>(outputs.size()) != num_outputs() || reqs.size() != outputs.size()) {
    return CountError(*def_, "outputs and requests", outputs.size(), num_outputs());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!HasData(inputs[i])) return NoData(*def_, "input", i);
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (reqs[i] != OpReq::kNull && !HasData(outputs[i])) return NoData(*def_, "output", i);
  }
  ApplyKernelThreadLimit(Elements(inputs) + Elements(outputs));
  if (ctx.ctx.is_gpu()) {
    return OnGpu(ctx, def_->name.c_str(), [&](const OpContext& g) {
      if (def_->gpu_forward && GpuKernelTakes(*def_, {inputs, outputs})) {
        return def_->gpu_forward(g, *params_, inputs, reqs, outputs);
      }
      return GpuFallbackForward(*def_, *params_, g, inputs, reqs, outputs, mutated_indices());
    });
  }
  return def_->forward(ctx, *params_, inputs, reqs, outputs);
}

absl::Status ParsedOp::CheckBackwardArgs(const BackwardArgs& args) const {
  const OpDef& def = *def_;
  const int n = num_inputs();
  if (static_cast<int>(args.in_grads.size()) != n || static_cast<int>(args.reqs.size()) != n) {
    return CountError(def, "input gradients and requests", args.in_grads.size(), n);
  }
  if (static_cast<int>(args.out_grads.size()) != num_visible_outputs()) {
    return CountError(def, "output gradients", args.out_grads.size(), num_visible_outputs());
  }
  MXGRID_RETURN_IF_ERROR(CheckOptionalCount(def, "forward inputs", args.inputs.size(), n,
                                            def.backward_deps.inputs));
  MXGRID_RETURN_IF_ERROR(CheckOptionalCount(def, "forward outputs", args.outputs.size(),
                                            num_outputs(), def.backward_deps.outputs));
  for (size_t i = 0; i < args.inputs.size(); ++i) {
    if (!HasData(args.inputs[i])) return NoData(def, "forward input", i);
  }
  for (size_t i = 0; i < args.outputs.size(); ++i) {
    if (!HasData(args.outputs[i])) return NoData(def, "forward output", i);
  }
  if (!def.is_loss) {
    for (size_t k = 0; k < args.out_grads.size(); ++k) {
      const TensorView& g = args.out_grads[k];
      if (!HasData(g)) return NoData(def, "output gradient", k);
      if (!args.outputs.empty() &&
          (g.shape != args.outputs[k].shape || g.dtype != args.outputs[k].dtype)) {
        return absl::InvalidArgumentError(absl::StrCat(
            def.name, ": output gradient ", k, " is ", g.shape.ToString(), " ",
            DTypeName(g.dtype), ", the output ", args.outputs[k].shape.ToString(), " ",
            DTypeName(args.outputs[k].dtype)));
      }
    }
  }
  for (int i : aux_) {
    if (args.reqs[i] != OpReq::kNull) {
      return absl::InvalidArgumentError(absl::StrCat(
          def.name, ": input ", i, " is an auxiliary state and has no gradient (request null)"));
    }
  }
  // The gradients carry the inputs' shapes and the head gradients the visible outputs':
  // the operator's own shape inference checks that they fit together, so kernels may index
  // by them (Concat's block lengths, FullyConnected's matrix sizes).
  std::vector<InferShape> in_shapes(n), out_shapes(num_outputs());
  for (int i = 0; i < n; ++i) in_shapes[i] = args.in_grads[i].shape;
  for (size_t k = 0; k < args.outputs.size(); ++k) out_shapes[k] = args.outputs[k].shape;
  if (!def.is_loss) {
    for (size_t k = 0; k < args.out_grads.size(); ++k) out_shapes[k] = args.out_grads[k].shape;
  }
  absl::Status fits = InferShapes(&in_shapes, &out_shapes);
  for (int i = 0; fits.ok() && i < n; ++i) {
    if (in_shapes[i] != args.in_grads[i].shape) {
      fits = absl::InvalidArgumentError(absl::StrCat(
          "input ", i, " would be ", in_shapes[i] ? in_shapes[i]->ToString() : "unknown"));
    }
  }
  if (!fits.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        def.name, ": the gradients' shapes do not fit the operator (", fits.message(), ")"));
  }
  for (int i = 0; i < n; ++i) {
    const TensorView& g = args.in_grads[i];
    if (args.reqs[i] != OpReq::kNull && !HasData(g)) return NoData(def, "input gradient", i);
    // Every gradient, kNull ones included, carries its input's shape and dtype.
    if (!args.inputs.empty() &&
        (g.shape != args.inputs[i].shape || g.dtype != args.inputs[i].dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          def.name, ": input gradient ", i, " is ", g.shape.ToString(), " ",
          DTypeName(g.dtype), ", its input ", args.inputs[i].shape.ToString(), " ",
          DTypeName(args.inputs[i].dtype)));
    }
  }
  return absl::OkStatus();
}

absl::Status ParsedOp::Backward(const OpContext& ctx, const BackwardArgs& args) const {
  MXGRID_RETURN_IF_ERROR(CheckBackwardArgs(args));
  const int n = num_inputs();
  ApplyKernelThreadLimit(Elements(args.out_grads) + Elements(args.inputs) +
                         Elements(args.outputs) + Elements(args.in_grads));
  auto run = [&](const OpContext& c) -> absl::Status {
    if (!def_->backward) {
      for (int i = 0; i < n; ++i)
        MXGRID_RETURN_IF_ERROR(ZeroGradient(c, args.in_grads[i], args.reqs[i]));
      return absl::OkStatus();
    }
    if (!c.ctx.is_gpu()) return def_->backward(c, *params_, args);
    if (def_->gpu_backward &&
        GpuKernelTakes(*def_, {args.out_grads, args.inputs, args.outputs, args.in_grads})) {
      return def_->gpu_backward(c, *params_, args);
    }
    return GpuFallbackBackward(*def_, *params_, c, args);
  };
  if (ctx.ctx.is_gpu()) return OnGpu(ctx, def_->name.c_str(), run);
  return run(ctx);
}

}  // namespace mxgrid::ops
