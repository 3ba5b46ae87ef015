// LRN, as MXNet 1.9.1 defines it: across-channel local response normalization of 4-D
// (N, C, H, W) data. norm = knorm + alpha / nsize * sum of x^2 over the nsize (odd)
// channels centred on c (zero beyond the edges); output x * norm^-beta; the hidden output
// tmp_norm holds norm. Backward, with s = alpha / nsize:
//   dx_j = dy_j norm_j^-beta - 2 beta s x_j sum_{c near j} dy_c x_c norm_c^(-beta-1).
// Plain loops (float32/float64); oneDNN's LRN would pay only for large feature maps.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "LRN";

absl::Status Infer(const OpParams&, std::vector<InferShape>* in, std::vector<InferShape>* out) {
  if ((*in)[0] && (*in)[0]->ndim() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": data must be 4-D (N, C, H, W), got ",
                                                   (*in)[0]->ToString()));
  }
  std::vector<InferShape> visible = {(*out)[0]};
  MXGRID_RETURN_IF_ERROR(InferSameShape(kOp, in, &visible));
  (*out)[0] = visible[0];
  if (!(*in)[0]) return absl::OkStatus();
  return MergeShape(kOp, "tmp_norm", *(*in)[0], &(*out)[1]);
}

// norm for every element of x (N, C, H, W).
template <typename T>
std::vector<double> Norms(const LRNParams& p, const Shape& s, const T* x) {
  const int64_t c = s[1], hw = s[2] * s[3], half = p.nsize / 2;
  const double salpha = p.alpha / static_cast<double>(p.nsize);
  std::vector<double> norm(s.Size());
  for (int64_t n = 0; n < s[0]; ++n) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t i = 0; i < hw; ++i) {
        double sum = 0;
        for (int64_t k = std::max<int64_t>(0, ch - half); k <= std::min(c - 1, ch + half); ++k) {
          const double v = x[(n * c + k) * hw + i];
          sum += v * v;
        }
        norm[(n * c + ch) * hw + i] = p.knorm + salpha * sum;
      }
    }
  }
  return norm;
}

absl::Status Forward(const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<LRNParams>(params);
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in[0].as<T>();
    const std::vector<double> norm = Norms(p, in[0].shape, x);
    for (size_t k = 0; k < norm.size(); ++k) {
      Store(reqs[0], out[0].as<T>(), k, static_cast<T>(x[k] * std::pow(norm[k], -p.beta)));
      Store(reqs[1], out[1].as<T>(), k, static_cast<T>(norm[k]));
    }
    return absl::OkStatus();
  });
}

absl::Status Backward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<LRNParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const Shape& s = a.inputs[0].shape;
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = a.inputs[0].as<T>();
    const T* dy = a.out_grads[0].as<T>();
    const std::vector<double> norm = Norms(p, s, x);
    const int64_t c = s[1], hw = s[2] * s[3], half = p.nsize / 2;
    const double salpha = p.alpha / static_cast<double>(p.nsize);
    std::vector<double> t(norm.size());
    for (size_t k = 0; k < t.size(); ++k) t[k] = dy[k] * x[k] * std::pow(norm[k], -p.beta - 1);
    for (int64_t n = 0; n < s[0]; ++n) {
      for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t i = 0; i < hw; ++i) {
          const int64_t j = (n * c + ch) * hw + i;
          double sum = 0;
          for (int64_t k = std::max<int64_t>(0, ch - half); k <= std::min(c - 1, ch + half);
               ++k) {
            sum += t[(n * c + k) * hw + i];
          }
          const double g = dy[j] * std::pow(norm[j], -p.beta) -
                           2 * p.beta * salpha * x[j] * sum;
          Store(a.reqs[0], a.in_grads[0].as<T>(), j, static_cast<T>(g));
        }
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

OpDef MakeLRNOp() {
  OpDef d = NewOp(kOp, "Local response normalization across channels.");
  d.params = {Spec("alpha", "float", "0.0001", "Variance scaling."),
              Spec("beta", "float", "0.75", "Power."),
              Spec("knorm", "float", "2", "The k in the normalization."),
              Spec("nsize", "int (non-negative)", "", "Channels summed (odd).")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<LRNParams>();
    ParamReader r(kOp, attrs);
    MXGRID_RETURN_IF_ERROR(r.Float("alpha", &p->alpha, 1e-4));
    MXGRID_RETURN_IF_ERROR(r.Float("beta", &p->beta, 0.75));
    MXGRID_RETURN_IF_ERROR(r.Float("knorm", &p->knorm, 2));
    MXGRID_RETURN_IF_ERROR(r.Int("nsize", &p->nsize));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->nsize < 1 || p->nsize % 2 != 1) return r.Error("nsize must be a positive odd number");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.num_outputs = [](const OpParams&) { return 2; };
  d.infer_shape = Infer;
  d.forward = Forward;
  d.backward = Backward;
  d.backward_deps = {true, false};
  return d;
}

}  // namespace mxgrid::ops::nn
