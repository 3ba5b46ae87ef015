// _sample_multinomial (MXNet src/operator/random/sample_multinomial_op.h): `data` (..., K)
// holds probabilities over K categories per row; each row gets `shape` draws of a category
// index (output shape data.shape[:-1] + shape, dtype int32 by default). With get_prob a
// second output holds the log-probability of each draw, and the gradient of that output
// flows to `data`: d/dp log p = 1/p at the drawn category (MXNet's REINFORCE support).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_params.h"
#include "libs/ops/random/random_util.h"

namespace mxgrid::ops::random {
namespace {

constexpr char kOp[] = "_sample_multinomial";

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const AttrMap& attrs) {
  auto p = std::make_shared<MultinomialParams>();
  AttrMap a = attrs;
  ParamReader r(kOp, a);
  MXGRID_RETURN_IF_ERROR(ReadShape(&r, &a, &p->shape));
  MXGRID_RETURN_IF_ERROR(r.Bool("get_prob", &p->get_prob, false));
  std::optional<DType> dtype;
  MXGRID_RETURN_IF_ERROR(
      ReadDType(&r, {"float16", "float32", "float64", "int32", "uint8"}, "int32", &dtype));
  p->dtype = *dtype;
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<MultinomialParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 1, out->size(), p.get_prob ? 2 : 1));
  if (!(*in)[0]) return absl::OkStatus();
  const Shape& data = *(*in)[0];
  if (data.ndim() < 1 || data[data.ndim() - 1] == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": data must have at least one dimension of categories, got ", data.ToString()));
  }
  std::vector<int64_t> dims(data.dims().begin(), data.dims().end() - 1);
  dims.insert(dims.end(), p.shape.begin(), p.shape.end());
  if (dims.empty()) dims = {1};
  for (auto& o : *out) MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "output", Shape(dims), &o));
  return absl::OkStatus();
}

absl::Status InferDTypes(const OpParams& params, std::vector<InferType>* in,
                       std::vector<InferType>* out) {
  const auto& p = ParamsAs<MultinomialParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 1, out->size(), p.get_prob ? 2 : 1));
  InferType& data = (*in)[0];
  if (!data && p.get_prob && (*out)[1]) data = (*out)[1];
  if (data && (!IsFloatingPoint(*data) || *data == DType::kBFloat16)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": data must be float16, float32 or float64, got ", DTypeName(*data)));
  }
  if ((*out)[0] && *(*out)[0] != p.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": output dtype ",
                                                   DTypeName(*(*out)[0]), " conflicts with dtype=",
                                                   DTypeName(p.dtype)));
  }
  (*out)[0] = p.dtype;
  if (p.get_prob && data) (*out)[1] = data;
  return absl::OkStatus();
}

absl::Status Forward(const OpContext& ctx, const MultinomialParams& p,
                     absl::Span<const TensorView> in, absl::Span<const TensorView> out) {
  if (ctx.rng == nullptr) return absl::FailedPreconditionError("_sample_multinomial: no rng");
  const TensorView& data = in[0];
  const int64_t k = data.shape[data.shape.ndim() - 1];
  const int64_t rows = data.size() / k;
  const int64_t per = rows == 0 ? 0 : out[0].size() / rows;
  std::vector<double> cdf(k);
  std::vector<int64_t> index(out[0].size());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0;
    for (int64_t c = 0; c < k; ++c) {
      const double prob = ReadDouble(data, r * k + c);
      if (!(prob >= 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            kOp, ": probabilities must be non-negative, got ", prob, " in row ", r));
      }
      acc += prob;
      cdf[c] = acc;
    }
    for (int64_t s = 0; s < per; ++s) {
      const double u = uniform(*ctx.rng);
      const int64_t hit = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
      index[r * per + s] = std::min(hit, k - 1);  // rows summing below 1: the last category
    }
  }
  MXGRID_RETURN_IF_ERROR(VisitDType(out[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < index.size(); ++i) {
      out[0].as<T>()[i] = FromDouble<T>(static_cast<double>(index[i]));
    }
    return absl::OkStatus();
  }));
  if (!p.get_prob) return absl::OkStatus();
  return DispatchReal(kOp, out[1].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < index.size(); ++i) {
      const int64_t r = static_cast<int64_t>(i) / per;
      out[1].as<T>()[i] = FromDouble<T>(std::log(ReadDouble(data, r * k + index[i])));
    }
    return absl::OkStatus();
  });
}

absl::Status Backward(const MultinomialParams& p, const BackwardArgs& a) {
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& grad = a.in_grads[0];
  return DispatchReal(kOp, grad.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* g = grad.as<T>();
    std::vector<double> acc(grad.size(), 0.0);
    if (p.get_prob && a.out_grads.size() > 1 && a.out_grads[1].data != nullptr) {
      const TensorView& data = a.inputs[0];
      const TensorView& samples = a.outputs[0];
      const int64_t k = data.shape[data.shape.ndim() - 1];
      const int64_t rows = data.size() / k;
      const int64_t per = rows == 0 ? 0 : samples.size() / rows;
      for (int64_t i = 0; i < samples.size(); ++i) {
        const int64_t at = (i / per) * k + static_cast<int64_t>(ReadDouble(samples, i));
        acc[at] += ReadDouble(a.out_grads[1], i) / ReadDouble(data, at);
      }
    }
    for (int64_t i = 0; i < grad.size(); ++i) {
      const double old = a.reqs[0] == OpReq::kAddTo ? ToDouble(g[i]) : 0.0;
      g[i] = FromDouble<T>(old + acc[i]);
    }
    return absl::OkStatus();
  });
}

}  // namespace

OpDef MakeMultinomialOp() {
  OpDef d = NewOp(kOp,
                  "Draws category indices from multinomial distributions given by the "
                  "probabilities in the last axis of `data`.",
                  {"sample_multinomial"});
  d.params = {Spec("shape", "Shape(tuple)", "[]", "Shape to be sampled from each row."),
              Spec("get_prob", "boolean", "0",
                   "Also return the log-probability of each draw (with a gradient)."),
              Spec("dtype", "{'float16', 'float32', 'float64', 'int32', 'uint8'}", "'int32'",
                   "DType of the sampled indices.")};
  d.parse = Parse;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams& params) {
    if (ParamsAs<MultinomialParams>(params).get_prob) {
      return std::vector<std::string>{"output", "prob"};
    }
    return std::vector<std::string>{"output"};
  };
  d.variable_outputs = true;
  d.infer_shape = Infer;
  d.infer_type = InferDTypes;
  d.forward = [](const OpContext& ctx, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq>, absl::Span<const TensorView> out) {
    return Forward(ctx, ParamsAs<MultinomialParams>(params), in, out);
  };
  d.backward = [](const OpContext&, const OpParams& params, const BackwardArgs& a) {
    return Backward(ParamsAs<MultinomialParams>(params), a);
  };
  d.backward_deps.inputs = true;
  d.backward_deps.outputs = true;
  return d;
}

}  // namespace mxgrid::ops::random
