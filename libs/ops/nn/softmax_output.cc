// SoftmaxOutput [Softmax]: softmax forward; backward (softmax - onehot(label)) * grad_scale
// / norm, matching MXNet 1.9.1 (src/operator/softmax_output-inl.h), checked against it:
//   single output: rows R = d0 (or prod d[:-1] with preserve_shape), softmax over the rest;
//     norm: null 1, batch R, valid #(label != ignore_label) (at least 1);
//   multi_output: softmax over axis 1 of (n, k, s); norm: null s, batch n*s, valid #valid;
//   a label shaped like the data is a probability: grad = (out - label) * grad_scale.
// use_ignore zeroes the gradient where label == ignore_label. The label's gradient is zero.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "SoftmaxOutput";

// The data as (rows, k, inner), softmax over k.
struct Layout {
  int64_t rows, k, inner;
};

// InvalidArgument for data with too few dims (0, or 1 with multi_output): it has no rows.
absl::Status CheckRank(const SoftmaxOutputParams& p, const Shape& d) {
  if (d.ndim() >= (p.multi_output ? 2 : 1)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      kOp, ": data shape ", d.ToString(), " has too few dims (at least ",
      p.multi_output ? "2 with multi_output" : "1", ")"));
}

absl::StatusOr<Layout> GetLayout(const SoftmaxOutputParams& p, const Shape& d) {
  MXGRID_RETURN_IF_ERROR(CheckRank(p, d));
  if (p.multi_output) return Layout{d[0], d[1], d.ProdRange(2, d.ndim())};
  if (p.preserve_shape) {
    const int64_t k = d[d.ndim() - 1];
    return Layout{k == 0 ? 0 : d.Size() / k, k, 1};
  }
  return Layout{d[0], d[0] == 0 ? 0 : d.Size() / d[0], 1};
}

// A label value as a class index; NaN, infinities and values beyond int64 (which no class
// or ignore_label equals) become kNoClass instead of an undefined conversion.
constexpr int64_t kNoClass = std::numeric_limits<int64_t>::min();
int64_t ClassOf(double v) {
  if (!(std::fabs(v) < 9.2e18)) return kNoClass;
  return static_cast<int64_t>(v);
}

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const AttrMap& attrs) {
  auto p = std::make_shared<SoftmaxOutputParams>();
  ParamReader r(kOp, attrs);
  MXGRID_RETURN_IF_ERROR(r.Float("grad_scale", &p->grad_scale, 1.0));
  MXGRID_RETURN_IF_ERROR(r.Float("ignore_label", &p->ignore_label, -1.0));
  MXGRID_RETURN_IF_ERROR(r.Bool("multi_output", &p->multi_output, false));
  MXGRID_RETURN_IF_ERROR(r.Bool("use_ignore", &p->use_ignore, false));
  MXGRID_RETURN_IF_ERROR(r.Bool("preserve_shape", &p->preserve_shape, false));
  MXGRID_RETURN_IF_ERROR(
      r.Enum("normalization", &p->normalization, {"null", "batch", "valid"}, "null"));
  MXGRID_RETURN_IF_ERROR(r.Bool("out_grad", &p->out_grad, false));
  MXGRID_RETURN_IF_ERROR(r.Float("smooth_alpha", &p->smooth_alpha, 0.0));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (p->multi_output && p->smooth_alpha != 0) {
    return r.Error("smooth_alpha with multi_output=True is not supported yet");
  }
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<SoftmaxOutputParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 2, out->size(), 1));
  if ((*out)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "data", *(*out)[0], &(*in)[0]));
  // As MXNet: the output and (non-multi_output) label follow once the data's rank is known.
  if (!(*in)[0] || (p.multi_output && !IsKnown((*in)[0]))) return absl::OkStatus();
  const Shape d = *(*in)[0];
  MXGRID_RETURN_IF_ERROR(CheckRank(p, d));
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "output", d, &(*out)[0]));
  InferShape& label = (*in)[1];
  if (label && *label == d) return absl::OkStatus();  // Probabilities.
  if (!p.multi_output) {
    return MergeShape(kOp, "label", Shape(absl::Span<const int64_t>(d.dims().data(), d.ndim() - 1)),
                      &label);
  }
  const Shape l1{d[0], d[1] == 0 ? 0 : d.Size() / d[0] / d[1]};
  Shape l2 = Shape(absl::Span<const int64_t>(d.dims().data(), d.ndim() - 1));
  for (int i = 2; i < d.ndim(); ++i) l2[i - 1] = d[i];
  Shape l3 = d;
  l3[1] = 1;
  if (!label) {
    label = l1;
  } else if (*label != l1 && *label != l2 && *label != l3) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": label shape ", label->ToString(), " conflicts with inferred ", l1.ToString(),
        " (or ", l2.ToString(), ", ", l3.ToString(), ") for multi_output data ", d.ToString()));
  }
  return absl::OkStatus();
}

template <typename T>
void ForwardT(const Layout& l, const T* x, OpReq req, T* y) {
  for (int64_t r = 0; r < l.rows; ++r) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = r * l.k * l.inner + i;
      T mx = x[base];
      for (int64_t c = 0; c < l.k; ++c) mx = std::max(mx, x[base + c * l.inner]);
      T sum = 0;
      for (int64_t c = 0; c < l.k; ++c) sum += std::exp(x[base + c * l.inner] - mx);
      for (int64_t c = 0; c < l.k; ++c) {
        Store(req, y, base + c * l.inner, std::exp(x[base + c * l.inner] - mx) / sum);
      }
    }
  }
}

template <typename T>
void BackwardT(const SoftmaxOutputParams& p, const Layout& l, const BackwardArgs& a) {
  const TensorView& out = a.outputs[0];
  const T* y = out.as<T>();
  const T* label = a.inputs[1].as<T>();
  const OpReq req = a.reqs[0];
  T* g = a.in_grads[0].as<T>();
  const T* head = p.out_grad && !a.out_grads.empty() && a.out_grads[0].data
                      ? a.out_grads[0].as<T>()
                      : nullptr;
  auto finish = [&](int64_t j, double v) {
    Store(req, g, j, static_cast<T>(head ? v * head[j] : v));
  };
  if (a.inputs[1].shape == out.shape) {  // Probability labels: no normalization.
    for (int64_t j = 0; j < out.size(); ++j) finish(j, (y[j] - label[j]) * p.grad_scale);
    return;
  }
  const int64_t ignore = ClassOf(p.ignore_label);
  const int64_t n_labels = l.rows * l.inner;
  int64_t valid = n_labels;
  for (int64_t j = 0; j < n_labels; ++j) valid -= ClassOf(label[j]) == ignore;
  double norm = 1;
  if (p.normalization == "batch") norm = p.multi_output ? n_labels : l.rows;
  if (p.normalization == "valid") norm = valid == 0 ? 1 : valid;
  if (p.multi_output && p.normalization == "null") norm = l.inner;
  const double scale = p.grad_scale / norm;
  const double on = 1 - p.smooth_alpha;
  const double off = l.k > 1 ? p.smooth_alpha / (l.k - 1) : 0.0;
  for (int64_t r = 0; r < l.rows; ++r) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t lab = ClassOf(label[r * l.inner + i]);
      const bool ignored = p.use_ignore && lab == ignore;
      for (int64_t c = 0; c < l.k; ++c) {
        const int64_t j = (r * l.k + c) * l.inner + i;
        const double target = c == lab ? on : off;
        finish(j, ignored ? 0.0 : (y[j] - target) * scale);
      }
    }
  }
}

}  // namespace

OpDef MakeSoftmaxOutputOp() {
  OpDef d = NewOp(kOp, "Softmax with a cross-entropy gradient (a loss layer).");
  d.aliases = {"Softmax"};
  d.params = {
      Spec("grad_scale", "float", "1", "Scales the gradient."),
      Spec("ignore_label", "float", "-1", "Label ignored when use_ignore is true."),
      Spec("multi_output", "boolean", "False", "Softmax over axis 1 of (n, k, x1, ...)."),
      Spec("use_ignore", "boolean", "False", "Zero the gradient of ignore_label entries."),
      Spec("preserve_shape", "boolean", "False", "Softmax over the last axis."),
      Spec("normalization", "{'batch', 'null', 'valid'}", "'null'", "Gradient normalization."),
      Spec("out_grad", "boolean", "False", "Multiply the gradient by the head gradient."),
      Spec("smooth_alpha", "float", "0", "Label smoothing.")};
  d.parse = Parse;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data", "label"}; };
  d.infer_shape = Infer;
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(const Layout l,
                            GetLayout(ParamsAs<SoftmaxOutputParams>(params), in[0].shape));
    return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      ForwardT<T>(l, in[0].as<T>(), reqs[0], out[0].as<T>());
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<SoftmaxOutputParams>(params);
    MXGRID_ASSIGN_OR_RETURN(const Layout l, GetLayout(p, a.outputs[0].shape));
    return DispatchFloat(kOp, a.outputs[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (a.reqs[0] != OpReq::kNull) BackwardT<T>(p, l, a);
      if (a.reqs[1] != OpReq::kNull && a.reqs[1] != OpReq::kAddTo) {
        for (int64_t j = 0; j < a.in_grads[1].size(); ++j) a.in_grads[1].as<T>()[j] = T(0);
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = {true, true};
  d.is_loss = true;
  d.inplace = {{0, 0}};
  return d;
}

}  // namespace mxgrid::ops::nn
