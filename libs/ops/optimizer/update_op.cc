// MakeUpdateOp: parsing, shape and type inference shared by every *_update operator.
#include "libs/ops/optimizer/update_op.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/status_macros.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::optimizer {
namespace {

bool Contains(const std::vector<int>& v, int i) {
  return std::find(v.begin(), v.end(), i) != v.end();
}

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const UpdateOpSpec& spec,
                                                      const AttrMap& attrs) {
  auto p = std::make_shared<UpdateParams>();
  ParamReader r(spec.name, attrs);
  for (const UpdateParam& param : spec.params) {
    const bool required = param.default_value.empty();
    double value = 0;
    if (param.type == "boolean") {
      bool def = false, b = false;
      if (!required) MXGRID_CHECK(ParseBool(param.default_value, &def)) << param.name;
      MXGRID_RETURN_IF_ERROR(r.Bool(param.name, &b, def));
      value = b ? 1 : 0;
    } else if (param.type == "int") {
      int64_t i = 0;
      if (required) {
        MXGRID_RETURN_IF_ERROR(r.Int(param.name, &i));
      } else {
        int64_t def = 0;
        MXGRID_CHECK(ParseInt(param.default_value, &def)) << param.name;
        MXGRID_RETURN_IF_ERROR(r.Int(param.name, &i, def));
      }
      // MXNet's int parameter (t): beyond int32 it is no step count.
      if (i < INT32_MIN || i > INT32_MAX) {
        return r.Error(absl::StrCat("parameter '", param.name, "' = ", i,
                                    " is out of the int32 range"));
      }
      value = static_cast<double>(i);
    } else {
      if (required) {
        MXGRID_RETURN_IF_ERROR(r.Float(param.name, &value));
      } else {
        double def = 0;
        MXGRID_CHECK(ParseFloat(param.default_value, &def)) << param.name;
        MXGRID_RETURN_IF_ERROR(r.Float(param.name, &value, def));
      }
    }
    p->values[param.name] = value;
  }
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status InferShapes(const UpdateOpSpec& spec, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) {
  const std::string& op = spec.name;
  // The weight's shape from any same-shaped input or the output.
  InferShape weight;
  for (size_t i = 0; i < in->size(); ++i) {
    if (Contains(spec.scalar_inputs, static_cast<int>(i)) || !(*in)[i]) continue;
    MXGRID_RETURN_IF_ERROR(MergeShape(op, spec.inputs[i], *(*in)[i], &weight));
  }
  if ((*out)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(op, "output", *(*out)[0], &weight));
  for (size_t i = 0; i < in->size(); ++i) {
    if (Contains(spec.scalar_inputs, static_cast<int>(i))) {
      MXGRID_RETURN_IF_ERROR(MergeShape(op, spec.inputs[i], Shape{1}, &(*in)[i]));
    } else if (weight) {
      MXGRID_RETURN_IF_ERROR(MergeShape(op, spec.inputs[i], *weight, &(*in)[i]));
    }
  }
  if (weight) MXGRID_RETURN_IF_ERROR(MergeShape(op, "output", *weight, &(*out)[0]));
  return absl::OkStatus();
}

absl::Status SetType(const std::string& op, const std::string& what, DType want,
                     InferType* slot) {
  if (*slot && **slot != want) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " has dtype ",
                                                   DTypeName(**slot), ", expected ",
                                                   DTypeName(want)));
  }
  *slot = want;
  return absl::OkStatus();
}

absl::Status InferTypes(const UpdateOpSpec& spec, std::vector<InferType>* in,
                        std::vector<InferType>* out) {
  const std::string& op = spec.name;
  auto weight_typed = [&](int i) { return !Contains(spec.float32_inputs, i); };
  InferType weight;
  for (size_t i = 0; i < in->size(); ++i) {
    if (weight_typed(static_cast<int>(i)) && (*in)[i]) {
      if (weight && *weight != *(*in)[i]) {
        return absl::InvalidArgumentError(absl::StrCat(
            op, ": ", spec.inputs[i], " has dtype ", DTypeName(*(*in)[i]),
            ", the weight's is ", DTypeName(*weight)));
      }
      weight = (*in)[i];
    }
  }
  if (!spec.float32_output && (*out)[0] && !weight) weight = (*out)[0];
  if (weight && *weight != DType::kFloat16 && *weight != DType::kFloat32 &&
      *weight != DType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": weight dtype ", DTypeName(*weight),
                                                   " is not supported (float16, float32 or "
                                                   "float64)"));
  }
  for (size_t i = 0; i < in->size(); ++i) {
    if (!weight_typed(static_cast<int>(i))) {
      MXGRID_RETURN_IF_ERROR(SetType(op, spec.inputs[i], DType::kFloat32, &(*in)[i]));
    } else if (weight) {
      (*in)[i] = weight;
    }
  }
  if (spec.float32_output) {
    MXGRID_RETURN_IF_ERROR(SetType(op, "output", DType::kFloat32, &(*out)[0]));
  } else if (weight) {
    MXGRID_RETURN_IF_ERROR(SetType(op, "output", *weight, &(*out)[0]));
  }
  return absl::OkStatus();
}

// The kernels read every weight-typed input as the weight's storage type and every float32
// input as the first one's: a direct Forward caller's mismatch is refused here.
absl::Status CheckDTypes(const UpdateOpSpec& spec, absl::Span<const TensorView> in, OpReq req,
                         const TensorView& out) {
  const DType weight = in[0].dtype;
  std::optional<DType> state;
  for (size_t i = 0; i < in.size(); ++i) {
    const bool f32 = Contains(spec.float32_inputs, static_cast<int>(i));
    if (f32 && !state) state = in[i].dtype;
    const DType want = f32 ? *state : weight;
    if (in[i].dtype != want) {
      return absl::InvalidArgumentError(absl::StrCat(spec.name, ": ", spec.inputs[i],
                                                     " has dtype ", DTypeName(in[i].dtype),
                                                     ", expected ", DTypeName(want)));
    }
  }
  const DType want_out = spec.float32_output ? state.value_or(DType::kFloat32) : weight;
  if (req != OpReq::kNull && out.dtype != want_out) {
    return absl::InvalidArgumentError(absl::StrCat(spec.name, ": output has dtype ",
                                                   DTypeName(out.dtype), ", expected ",
                                                   DTypeName(want_out)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckUpdateCall(const UpdateOpSpec& spec, absl::Span<const TensorView> in,
                             OpReq req, const TensorView& out) {
  // Forward's callers check counts; kernels index by the weight's element count, so every
  // same-shaped input must really have it (a direct caller may pass anything).
  const int64_t n = in[0].size();
  for (size_t i = 0; i < in.size(); ++i) {
    const int64_t want = Contains(spec.scalar_inputs, static_cast<int>(i)) ? 1 : n;
    if (in[i].size() != want) {
      return absl::InvalidArgumentError(absl::StrCat(spec.name, ": ", spec.inputs[i], " has ",
                                                     in[i].size(), " elements, expected ",
                                                     want));
    }
  }
  if (req != OpReq::kNull && out.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(spec.name, ": output has ", out.size(),
                                                   " elements, expected ", n));
  }
  return CheckDTypes(spec, in, req, out);
}

double UpdateParams::Get(const std::string& name) const {
  auto it = values.find(name);
  MXGRID_CHECK(it != values.end()) << "update op parameter " << name << " is not declared";
  return it->second;
}

UpdateParam Lr() { return {"lr", "float", "", "Learning rate"}; }
UpdateParam Wd() {
  return {"wd", "float", "0", "Weight decay augments the objective function with a "
          "regularization term that penalizes large weights."};
}
UpdateParam RescaleGrad() {
  return {"rescale_grad", "float", "1", "Rescale gradient to grad = rescale_grad*grad."};
}
UpdateParam ClipGradient() {
  return {"clip_gradient", "float", "-1", "Clip gradient to the range of [-clip_gradient, "
          "clip_gradient]; if clip_gradient <= 0, gradient clipping is turned off."};
}
UpdateParam LazyUpdate() {
  return {"lazy_update", "boolean", "true", "If true, lazy updates are applied if gradient's "
          "stype is row_sparse (dense arrays: no effect)."};
}

void ForEachElement(int64_t n, const std::function<void(int64_t, int64_t)>& range_fn) {
  constexpr int64_t kChunk = 1 << 15;
  if (n <= kChunk) {
    range_fn(0, n);
    return;
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) range_fn(c * kChunk, std::min(n, (c + 1) * kChunk));
}

OpDef MakeUpdateOp(UpdateOpSpec spec_in) {
  // Shared by the OpDef's function members (each holds it; the OpDef may be copied).
  auto spec = std::make_shared<const UpdateOpSpec>(std::move(spec_in));
  OpDef d;
  d.name = spec->name;
  d.description = spec->description;
  for (const UpdateParam& p : spec->params) {
    d.params.push_back(ParamSpec{p.name, p.type, p.default_value, p.default_value.empty(),
                                 p.description});
  }
  d.parse = [spec](const AttrMap& attrs) { return Parse(*spec, attrs); };
  d.input_names = [spec](const OpParams&) { return spec->inputs; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.aux_indices = [spec](const OpParams&) { return spec->aux; };
  if (!spec->mutate.empty()) {
    d.mutate_indices = [spec](const OpParams&) { return spec->mutate; };
  }
  d.infer_shape = [spec](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) { return InferShapes(*spec, in, out); };
  d.infer_type = [spec](const OpParams&, std::vector<InferType>* in,
                        std::vector<InferType>* out) { return InferTypes(*spec, in, out); };
  d.forward = [spec](const OpContext&, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(CheckUpdateCall(*spec, in, reqs[0], out[0]));
    return spec->kernel(ParamsAs<UpdateParams>(params), in, reqs[0], out[0]);
  };
  // No gradient: an optimizer step is not differentiated (MXNet registers none).
  return d;
}

}  // namespace mxgrid::ops::optimizer
