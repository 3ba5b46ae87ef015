// _sample_<dist> (MXNet src/operator/random/multisample_op.cc): the distribution's parameters
// are arrays of one shape; for each parameter element, `shape` draws (output shape =
// parameter shape + shape). dtype: float16/32/64 (None: float32). No gradient (as in MXNet).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_params.h"
#include "libs/ops/random/random_util.h"

namespace mxgrid::ops::random {
namespace {

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const std::string& op,
                                                      const AttrMap& attrs) {
  auto p = std::make_shared<SampleParams>();
  AttrMap a = attrs;
  ParamReader r(op, a);
  MXGRID_RETURN_IF_ERROR(ReadShape(&r, &a, &p->shape));
  MXGRID_RETURN_IF_ERROR(
      ReadDType(&r, {"None", "float16", "float32", "float64"}, "None", &p->dtype));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status InferShapes(const std::string& op, const DistInfo& dist, const SampleParams& p,
                         std::vector<InferShape>* in, std::vector<InferShape>* out) {
  MXGRID_RETURN_IF_ERROR(CheckArity(op, in->size(), dist.params.size(), out->size(), 1));
  InferShape merged;
  for (size_t i = 0; i < in->size(); ++i) {
    if ((*in)[i]) MXGRID_RETURN_IF_ERROR(MergeShape(op, dist.sample_inputs[i], *(*in)[i], &merged));
  }
  if (!merged) return absl::OkStatus();
  for (size_t i = 0; i < in->size(); ++i) {
    MXGRID_RETURN_IF_ERROR(MergeShape(op, dist.sample_inputs[i], *merged, &(*in)[i]));
  }
  std::vector<int64_t> dims(merged->dims().begin(), merged->dims().end());
  dims.insert(dims.end(), p.shape.begin(), p.shape.end());
  if (dims.empty()) dims = {1};
  return MergeShape(op, "output", Shape(dims), &(*out)[0]);
}

absl::Status InferTypes(const std::string& op, const SampleParams& p, std::vector<InferType>* in,
                        std::vector<InferType>* out) {
  InferType known;
  for (const InferType& t : *in) {
    if (!t) continue;
    if (!IsFloatingPoint(*t) || *t == DType::kBFloat16) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": parameter arrays must be float16, float32 or float64, got ", DTypeName(*t)));
    }
    if (known && *known != *t) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": parameter arrays have different dtypes (", DTypeName(*known), " and ",
          DTypeName(*t), ")"));
    }
    known = t;
  }
  if (known) {
    for (InferType& t : *in) t = known;
  }
  return InferFixedType(op, p.dtype, DType::kFloat32, out);
}

absl::Status Forward(const std::string& op, const DistInfo& dist, const OpContext& ctx,
                     const SampleParams& p, absl::Span<const TensorView> in,
                     const TensorView& out) {
  if (ctx.rng == nullptr) return absl::FailedPreconditionError(op + ": OpContext::rng is null");
  const int64_t n = in[0].size();
  int64_t per = 1;
  for (int64_t d : p.shape) per *= d;
  for (int64_t j = 0; j < n; ++j) {
    const double a = ReadDouble(in[0], j);
    const double b = in.size() > 1 ? ReadDouble(in[1], j) : 0.0;
    MXGRID_RETURN_IF_ERROR(CheckParams(absl::StrCat(op, ": element ", j), dist.dist, a, b));
  }
  return DispatchReal(op, out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = out.as<T>();
    for (int64_t j = 0; j < n; ++j) {
      const double a = ReadDouble(in[0], j);
      const double b = in.size() > 1 ? ReadDouble(in[1], j) : 0.0;
      for (int64_t k = 0; k < per; ++k) {
        o[j * per + k] = FromDouble<T>(Draw(dist.dist, a, b, *ctx.rng));
      }
    }
    return absl::OkStatus();
  });
}

OpDef MakeSampleOp(const DistInfo& dist) {
  const std::string name = absl::StrCat("_sample_", dist.name);
  OpDef d = NewOp(name,
                  absl::StrCat(dist.description, " Parameters are arrays; each of their "
                                                 "elements gets `shape` samples."),
                  {absl::StrCat("sample_", dist.name)});
  d.params = {Spec("shape", "Shape(tuple)", "[]", "Shape to be sampled from each element."),
              Spec("dtype", "{'None', 'float16', 'float32', 'float64'}", "'None'",
                   "DType of the output (None: float32).")};
  d.parse = [name](const AttrMap& attrs) { return Parse(name, attrs); };
  d.input_names = [dist](const OpParams&) {
    return std::vector<std::string>(dist.sample_inputs.begin(), dist.sample_inputs.end());
  };
  d.infer_shape = [name, dist](const OpParams& params, std::vector<InferShape>* in,
                               std::vector<InferShape>* out) {
    return InferShapes(name, dist, ParamsAs<SampleParams>(params), in, out);
  };
  d.infer_type = [name](const OpParams& params, std::vector<InferType>* in,
                        std::vector<InferType>* out) {
    return InferTypes(name, ParamsAs<SampleParams>(params), in, out);
  };
  d.forward = [name, dist](const OpContext& ctx, const OpParams& params,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return Forward(name, dist, ctx, ParamsAs<SampleParams>(params), in, out[0]);
  };
  return d;
}

}  // namespace

std::vector<OpDef> MakeArraySamplerOps() {
  std::vector<OpDef> ops;
  for (const DistInfo& dist : Distributions()) ops.push_back(MakeSampleOp(dist));
  return ops;
}

}  // namespace mxgrid::ops::random
