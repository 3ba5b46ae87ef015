// ParsedOp: argument checks around an OpDef's functions, and MXNet's defaults for what an
// op leaves out (elementwise type inference, zero gradients for non-differentiable ops).
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/ops/op.h"

namespace mxgrid::ops {
namespace {

absl::Status CountError(const OpDef& def, const char* what, size_t got, int want) {
  return absl::InvalidArgumentError(absl::StrCat(def.name, ": expected ", want, " ", what,
                                                 ", got ", got));
}

// Writes zeros into a gradient according to its request.
void ZeroGradient(const TensorView& grad, OpReq req) {
  if (req == OpReq::kNull || req == OpReq::kAddTo || grad.data == nullptr) return;
  std::memset(grad.data, 0, static_cast<size_t>(grad.size()) * DTypeSize(grad.dtype));
}

}  // namespace

ParsedOp::ParsedOp(const OpDef* def, std::shared_ptr<const OpParams> params, AttrMap attrs)
    : def_(def), params_(std::move(params)), attrs_(std::move(attrs)) {
  num_inputs_ = static_cast<int>(def_->input_names(*params_).size());
  num_visible_outputs_ = static_cast<int>(def_->output_names(*params_).size());
  num_outputs_ = def_->num_outputs ? def_->num_outputs(*params_) : num_visible_outputs_;
}

std::vector<std::string> ParsedOp::input_names() const { return def_->input_names(*params_); }

std::vector<int> ParsedOp::aux_indices() const {
  return def_->aux_indices ? def_->aux_indices(*params_) : std::vector<int>{};
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
  return def_->infer_shape(*params_, in, out);
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
  return def_->forward(ctx, *params_, inputs, reqs, outputs);
}

absl::Status ParsedOp::Backward(const OpContext& ctx, const BackwardArgs& args) const {
  const int n = num_inputs();
  if (static_cast<int>(args.in_grads.size()) != n || static_cast<int>(args.reqs.size()) != n) {
    return CountError(*def_, "input gradients and requests", args.in_grads.size(), n);
  }
  if (!def_->backward) {
    for (int i = 0; i < n; ++i) ZeroGradient(args.in_grads[i], args.reqs[i]);
    return absl::OkStatus();
  }
  return def_->backward(ctx, *params_, args);
}

}  // namespace mxgrid::ops
