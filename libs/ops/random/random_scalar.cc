// _random_<dist> (no inputs: shape, ctx, dtype parameters) and _random_<dist>_like (the
// shape and dtype of its input "data"), MXNet src/operator/random/sample_op.cc: every
// element an independent draw with the scalar parameters. No gradient (as in MXNet).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_params.h"
#include "libs/ops/random/random_util.h"

namespace mxgrid::ops::random {
namespace {

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const std::string& op, const DistInfo& dist,
                                                      bool like, const AttrMap& attrs) {
  auto p = std::make_shared<ScalarParams>();
  AttrMap a = attrs;
  if (!like) MXGRID_RETURN_IF_ERROR(TakeContext(op, &a));
  ParamReader r(op, a);
  double* values[] = {&p->a, &p->b};
  for (size_t i = 0; i < dist.params.size(); ++i) {
    if (dist.dist == Dist::kNegativeBinomial && i == 0) {
      int64_t k = 0;
      MXGRID_RETURN_IF_ERROR(r.Int(dist.params[i], &k, static_cast<int64_t>(dist.defaults[i])));
      *values[i] = static_cast<double>(k);
    } else {
      MXGRID_RETURN_IF_ERROR(r.Float(dist.params[i], values[i], dist.defaults[i]));
    }
  }
  if (!like) {
    MXGRID_RETURN_IF_ERROR(ReadShape(&r, &a, &p->shape));
    MXGRID_RETURN_IF_ERROR(
        ReadDType(&r, {"None", "float16", "float32", "float64"}, "None", &p->dtype));
  }
  MXGRID_RETURN_IF_ERROR(r.Finish());
  MXGRID_RETURN_IF_ERROR(CheckParams(op, dist.dist, p->a, p->b));
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status Forward(const std::string& op, Dist dist, const OpContext& ctx,
                     const ScalarParams& p, const TensorView& out) {
  if (ctx.rng == nullptr) return absl::FailedPreconditionError(op + ": OpContext::rng is null");
  return DispatchReal(op, out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.as<T>();
    for (int64_t i = 0; i < out.size(); ++i) o[i] = FromDouble<T>(Draw(dist, p.a, p.b, *ctx.rng));
    return absl::OkStatus();
  });
}

std::vector<ParamSpec> DistSpecs(const DistInfo& dist) {
  std::vector<ParamSpec> specs;
  for (size_t i = 0; i < dist.params.size(); ++i) {
    const bool is_int = dist.dist == Dist::kNegativeBinomial && i == 0;
    specs.push_back(Spec(dist.params[i], is_int ? "int" : "float",
                         absl::StrCat(dist.defaults[i]),
                         absl::StrCat("Parameter ", dist.params[i], " of the distribution.")));
  }
  return specs;
}

OpDef MakeScalarOp(const DistInfo& dist) {
  const std::string name = absl::StrCat("_random_", dist.name);
  std::vector<std::string> aliases = {absl::StrCat("random_", dist.name)};
  if (dist.dist == Dist::kUniform || dist.dist == Dist::kNormal) aliases.push_back(dist.name);
  OpDef d = NewOp(name, dist.description, aliases);
  d.params = DistSpecs(dist);
  d.params.push_back(Spec("shape", "Shape(tuple)", "None", "Shape of the output."));
  d.params.push_back(Spec("ctx", "string", "''", "Context of the output: cpu(0), gpu(1) ..."));
  d.params.push_back(Spec("dtype", "{'None', 'float16', 'float32', 'float64'}", "'None'",
                          "DType of the output (None: float32)."));
  d.parse = [name, dist](const AttrMap& attrs) { return Parse(name, dist, false, attrs); };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{}; };
  d.infer_shape = [name](const OpParams& params, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(name, in->size(), 0, out->size(), 1));
    return InferFixedOutput(name, ParamsAs<ScalarParams>(params).shape, out);
  };
  d.infer_type = [name](const OpParams& params, std::vector<InferType>* in,
                        std::vector<InferType>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(name, in->size(), 0, out->size(), 1));
    return InferFixedType(name, ParamsAs<ScalarParams>(params).dtype, DType::kFloat32, out);
  };
  d.forward = [name, dist](const OpContext& ctx, const OpParams& params,
                           absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return Forward(name, dist.dist, ctx, ParamsAs<ScalarParams>(params), out[0]);
  };
  return d;
}

OpDef MakeLikeOp(const DistInfo& dist) {
  const std::string name = absl::StrCat("_random_", dist.name, "_like");
  OpDef d = NewOp(name, absl::StrCat(dist.description, " The output has the shape and dtype "
                                                        "of `data`."),
                  {});
  d.params = DistSpecs(dist);
  d.parse = [name, dist](const AttrMap& attrs) { return Parse(name, dist, true, attrs); };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.infer_shape = [name](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(name, in->size(), 1, out->size(), 1));
    if ((*in)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(name, "output", *(*in)[0], &(*out)[0]));
    if ((*out)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(name, "data", *(*out)[0], &(*in)[0]));
    return absl::OkStatus();
  };
  d.infer_type = [name](const OpParams&, std::vector<InferType>* in,
                        std::vector<InferType>* out) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(CheckArity(name, in->size(), 1, out->size(), 1));
    InferType t = (*in)[0] ? (*in)[0] : (*out)[0];
    if (!t) return absl::OkStatus();
    if (*t != DType::kFloat16 && *t != DType::kFloat32 && *t != DType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": data must be float16, float32 or float64, got ", DTypeName(*t)));
    }
    if ((*out)[0] && *(*out)[0] != *t) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": output dtype ",
                                                     DTypeName(*(*out)[0]),
                                                     " differs from data's ", DTypeName(*t)));
    }
    (*in)[0] = t;
    (*out)[0] = t;
    return absl::OkStatus();
  };
  d.forward = [name, dist](const OpContext& ctx, const OpParams& params,
                           absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return Forward(name, dist.dist, ctx, ParamsAs<ScalarParams>(params), out[0]);
  };
  return d;
}

}  // namespace

std::vector<OpDef> MakeScalarSamplerOps() {
  std::vector<OpDef> ops;
  for (const DistInfo& dist : Distributions()) {
    ops.push_back(MakeScalarOp(dist));
    ops.push_back(MakeLikeOp(dist));
  }
  return ops;
}

}  // namespace mxgrid::ops::random
