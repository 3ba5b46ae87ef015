// The aggregated SGD updates MXNet's SGD optimizer uses for dense arrays: multi_sgd_update,
// multi_sgd_mom_update, multi_mp_sgd_update and multi_mp_sgd_mom_update (MXNet 1.9.1's
// src/operator/optimizer_op.cc). num_weights groups of inputs (weight_i, grad_i, then mom_i
// and/or weight32_i), one output per weight, per-weight learning rates `lrs` and weight
// decays `wds`. The arithmetic is MultiSGDKernel's: mom = momentum * mom - lr * wd * w -
// lr * clip(rescale_grad * grad); w += mom (mom 0 without momentum state).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/base/status_macros.h"
#include "libs/ops/op_util.h"
#include "libs/ops/optimizer/multi_sgd_params.h"
#include "libs/ops/optimizer/optimizer_ops_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::optimizer {
namespace {

using Variant = MultiSgdVariant;

// A tuple of floats as Python's str() writes it: "(0.1, 0.2)", "[0.1]", "0.1".
bool ParseFloatTuple(absl::string_view text, std::vector<double>* out) {
  out->clear();
  absl::string_view body = absl::StripAsciiWhitespace(text);
  if (!body.empty() && (body.front() == '(' || body.front() == '[')) {
    if (body.size() < 2 || (body.back() != ')' && body.back() != ']')) return false;
    body = body.substr(1, body.size() - 2);
  }
  for (absl::string_view part : absl::StrSplit(body, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;  // "(0.1,)"
    double v;
    if (!ParseFloat(part, &v)) return false;
    out->push_back(v);
  }
  return true;
}

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const Variant& v, const AttrMap& attrs) {
  auto p = std::make_shared<MultiSgdParams>();
  AttrMap rest = attrs;
  ParamReader check(v.name, attrs);
  for (const char* key : {"lrs", "wds"}) {
    auto it = rest.find(key);
    if (it == rest.end()) {
      return check.Error(absl::StrCat("parameter '", key, "' is required"));
    }
    std::vector<double>* dst = std::string(key) == "lrs" ? &p->lrs : &p->wds;
    if (!ParseFloatTuple(it->second, dst)) {
      return check.Error(absl::StrCat("parameter '", key, "' = '", it->second,
                                      "' is not a tuple of floats"));
    }
    rest.erase(it);
  }
  ParamReader r(v.name, rest);
  if (v.momentum) MXGRID_RETURN_IF_ERROR(r.Float("momentum", &p->momentum, 0.0));
  MXGRID_RETURN_IF_ERROR(r.Float("rescale_grad", &p->rescale_grad, 1.0));
  MXGRID_RETURN_IF_ERROR(r.Float("clip_gradient", &p->clip_gradient, -1.0));
  MXGRID_RETURN_IF_ERROR(r.Int("num_weights", &p->num_weights, 1));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (p->num_weights < 1 || p->num_weights > kMaxArity) {
    return r.Error(absl::StrCat("num_weights = ", p->num_weights, " must be in [1, ",
                                kMaxArity, "]"));
  }
  return std::shared_ptr<const OpParams>(std::move(p));
}

// MXNet checks the counts in shape inference (so that input names list without them).
absl::Status CheckCounts(const Variant& v, const MultiSgdParams& p) {
  if (static_cast<int64_t>(p.lrs.size()) != p.num_weights ||
      static_cast<int64_t>(p.wds.size()) != p.num_weights) {
    return absl::InvalidArgumentError(absl::StrCat(
        v.name, ": lrs and wds need num_weights = ", p.num_weights, " values each, got ",
        p.lrs.size(), " and ", p.wds.size()));
  }
  return absl::OkStatus();
}

std::vector<std::string> InputNames(const Variant& v, const OpParams& params) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < ParamsAs<MultiSgdParams>(params).num_weights; ++i) {
    names.push_back(absl::StrCat("weight_", i));
    names.push_back(absl::StrCat("grad_", i));
    if (v.momentum) names.push_back(absl::StrCat("mom_", i));
    if (v.mixed) names.push_back(absl::StrCat("weight32_", i));
  }
  return names;
}

absl::Status InferShapes(const Variant& v, const OpParams& params, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) {
  MXGRID_RETURN_IF_ERROR(CheckCounts(v, ParamsAs<MultiSgdParams>(params)));
  const int g = v.group();
  for (size_t w = 0; w < out->size(); ++w) {
    InferShape shape = (*out)[w];
    for (int k = 0; k < g; ++k) {
      const InferShape& s = (*in)[w * g + k];
      if (s) MXGRID_RETURN_IF_ERROR(MergeShape(v.name, absl::StrCat("input ", w * g + k), *s,
                                               &shape));
    }
    if (!shape) continue;
    for (int k = 0; k < g; ++k) {
      MXGRID_RETURN_IF_ERROR(
          MergeShape(v.name, absl::StrCat("input ", w * g + k), *shape, &(*in)[w * g + k]));
    }
    MXGRID_RETURN_IF_ERROR(MergeShape(v.name, absl::StrCat("output ", w), *shape, &(*out)[w]));
  }
  return absl::OkStatus();
}

// Weights, gradients and outputs share one float dtype; mom and weight32 are float32 in
// the mixed variants (the weight's dtype otherwise).
absl::Status InferTypes(const Variant& v, std::vector<InferType>* in,
                        std::vector<InferType>* out) {
  const int g = v.group();
  auto is_state = [&](size_t i) { return v.mixed && static_cast<int>(i % g) >= 2; };
  InferType weight;
  auto merge = [&](const InferType& t, const std::string& what) -> absl::Status {
    if (!t) return absl::OkStatus();
    if (weight && *weight != *t) {
      return absl::InvalidArgumentError(absl::StrCat(v.name, ": ", what, " has dtype ",
                                                     DTypeName(*t), ", expected ",
                                                     DTypeName(*weight)));
    }
    weight = t;
    return absl::OkStatus();
  };
  for (size_t i = 0; i < in->size(); ++i) {
    if (!is_state(i)) MXGRID_RETURN_IF_ERROR(merge((*in)[i], absl::StrCat("input ", i)));
  }
  for (size_t i = 0; i < out->size(); ++i) {
    MXGRID_RETURN_IF_ERROR(merge((*out)[i], absl::StrCat("output ", i)));
  }
  if (weight && *weight != DType::kFloat16 && *weight != DType::kFloat32 &&
      *weight != DType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(v.name, ": weight dtype ",
                                                   DTypeName(*weight), " is not supported"));
  }
  for (size_t i = 0; i < in->size(); ++i) {
    if (is_state(i)) {
      if ((*in)[i] && *(*in)[i] != DType::kFloat32) {
        return absl::InvalidArgumentError(absl::StrCat(v.name, ": input ", i, " has dtype ",
                                                       DTypeName(*(*in)[i]),
                                                       ", expected float32"));
      }
      (*in)[i] = DType::kFloat32;
    } else if (weight) {
      (*in)[i] = weight;
    }
  }
  if (weight) {
    for (InferType& t : *out) t = weight;
  }
  return absl::OkStatus();
}

absl::Status Forward(const Variant& v, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<MultiSgdParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckMultiSgdCall(v, p, in, reqs, out));
  const int g = v.group();
  for (size_t w = 0; w < out.size(); ++w) {
    const TensorView* group = &in[w * g];
    const int64_t n = group[0].size();
    const int mom_i = v.momentum ? 2 : -1;
    const int w32_i = v.mixed ? g - 1 : -1;
    auto run = [&](auto wt, auto st, auto ct) {
      using W = typename decltype(wt)::type;
      using S = typename decltype(st)::type;
      using C = typename decltype(ct)::type;
      const C lr = rules::OpParam<C>(p.lrs[w]), wd = rules::OpParam<C>(p.wds[w]);
      const C momentum = rules::OpParam<C>(p.momentum);
      const C rescale = rules::OpParam<C>(p.rescale_grad);
      const C clip = rules::OpParam<C>(p.clip_gradient);
      ForEachElement(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const C w0 = w32_i >= 0 ? Ld<C, S>(group[w32_i], i) : Ld<C, W>(group[0], i);
          C mom = mom_i >= 0 ? (v.mixed ? Ld<C, S>(group[mom_i], i) : Ld<C, W>(group[mom_i], i))
                             : C(0);
          const C nw = rules::SgdMomStep<C>(w0, Ld<C, W>(group[1], i), &mom, momentum, lr, wd,
                                            rescale, clip);
          if (mom_i >= 0) {
            v.mixed ? St<C, S>(group[mom_i], i, mom) : St<C, W>(group[mom_i], i, mom);
          }
          if (w32_i >= 0) St<C, S>(group[w32_i], i, nw);
          Assign<C, W>(reqs[w], out[w], i, nw);
        }
      });
    };
    absl::Status s = v.mixed
        ? Mixed(v.name, absl::MakeConstSpan(group, g), 2,
                [&](auto wt, auto st, auto ct) { run(wt, st, ct); })
        : Plain(v.name, absl::MakeConstSpan(group, g),
                [&](auto wt, auto ct) { run(wt, wt, ct); });
    MXGRID_RETURN_IF_ERROR(s);
  }
  return absl::OkStatus();
}

OpDef MakeMultiSgdOp(Variant v_in) {
  // Shared by the OpDef's function members (each holds it; the OpDef may be copied).
  auto v = std::make_shared<const Variant>(std::move(v_in));
  OpDef d;
  d.name = v->name;
  d.description = "SGD updates of num_weights weights in one call (SGD's aggregated path)";
  d.params = {ParamSpec{"lrs", "tuple of <float>", "", true, "Learning rates."},
              ParamSpec{"wds", "tuple of <float>", "", true, "Weight decay per weight."}};
  if (v->momentum) {
    d.params.push_back(ParamSpec{"momentum", "float", "0", false,
                                 "The decay rate of momentum estimates at each epoch."});
  }
  d.params.push_back(ParamSpec{"rescale_grad", "float", "1", false,
                               "Rescale gradient to grad = rescale_grad*grad."});
  d.params.push_back(ParamSpec{"clip_gradient", "float", "-1", false,
                               "Clip gradient to [-clip_gradient, clip_gradient]; off when < 0."});
  d.params.push_back(ParamSpec{"num_weights", "int", "1", false, "Number of updated weights."});
  d.parse = [v](const AttrMap& attrs) { return Parse(*v, attrs); };
  d.input_names = [v](const OpParams& p) { return InputNames(*v, p); };
  d.output_names = [](const OpParams& p) {
    std::vector<std::string> names;
    for (int64_t i = 0; i < ParamsAs<MultiSgdParams>(p).num_weights; ++i) {
      names.push_back(absl::StrCat("output", i));
    }
    return names;
  };
  d.variable_outputs = true;
  if (v->momentum || v->mixed) {
    d.mutate_indices = [v](const OpParams& p) {
      std::vector<int> idx;
      const int g = v->group();
      for (int64_t i = 0; i < ParamsAs<MultiSgdParams>(p).num_weights; ++i) {
        for (int k = 2; k < g; ++k) idx.push_back(static_cast<int>(i * g + k));
      }
      return idx;
    };
  }
  d.infer_shape = [v](const OpParams& p, std::vector<InferShape>* in,
                      std::vector<InferShape>* out) { return InferShapes(*v, p, in, out); };
  d.infer_type = [v](const OpParams&, std::vector<InferType>* in, std::vector<InferType>* out) {
    return InferTypes(*v, in, out);
  };
  d.forward = [v](const OpContext&, const OpParams& p, absl::Span<const TensorView> in,
                  absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return Forward(*v, p, in, reqs, out);
  };
  return d;
}

}  // namespace

absl::Status CheckMultiSgdCall(const MultiSgdVariant& v, const MultiSgdParams& p,
                               absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> out) {
  MXGRID_RETURN_IF_ERROR(CheckCounts(v, p));
  const int g = v.group();
  for (size_t w = 0; w < out.size(); ++w) {
    const TensorView* group = &in[w * g];
    const int64_t n = group[0].size();
    for (int k = 0; k < g; ++k) {
      const bool state = v.mixed && k >= 2;
      if (group[k].size() != n || (state ? group[k].dtype != group[2].dtype
                                         : group[k].dtype != group[0].dtype)) {
        return absl::InvalidArgumentError(absl::StrCat(v.name, ": input ", w * g + k,
                                                       " does not match weight ", w));
      }
    }
    if (reqs[w] != OpReq::kNull && (out[w].size() != n || out[w].dtype != group[0].dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(v.name, ": output ", w,
                                                     " does not match weight ", w));
    }
  }
  return absl::OkStatus();
}

std::vector<OpDef> MultiSgdOps() {
  std::vector<OpDef> ops;
  for (Variant v : {Variant{"multi_sgd_update", false, false},
                    Variant{"multi_sgd_mom_update", true, false},
                    Variant{"multi_mp_sgd_update", false, true},
                    Variant{"multi_mp_sgd_mom_update", true, true}}) {
    ops.push_back(MakeMultiSgdOp(std::move(v)));
  }
  return ops;
}

}  // namespace mxgrid::ops::optimizer
