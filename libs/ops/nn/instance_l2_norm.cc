// InstanceNorm and L2Normalization, as MXNet 1.9.1 defines them.
//
// InstanceNorm(data, gamma, beta, eps=1e-3): data (N, C, ...) normalized per (n, c) over the
// remaining axes with the biased variance, then scaled by gamma[c] and shifted by beta[c];
// hidden outputs mean and var, (N, C).
// L2Normalization(data, eps=1e-10, mode='instance'|'channel'|'spatial'): data divided by
// sqrt(sum(x^2) + eps) over all but axis 0 (instance), over axis 1 (channel) or over axes
// 2.. (spatial); hidden output norm, shaped (N,), data with axis 1 at 1, or (N, C).
// Both views are (groups, length, stride): each group reduces `length` elements spaced
// `stride` apart. Plain loops; float32/float64.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {

const char* NormName(const NormParams& p) { return p.l2 ? "L2Normalization" : "InstanceNorm"; }

absl::StatusOr<NormView> NormViewOf(const NormParams& p, const Shape& s) {
  const bool need3 = !p.l2 || p.mode != "instance";
  if (s.ndim() < (need3 ? 3 : 1)) {
    return absl::InvalidArgumentError(absl::StrCat(NormName(p), ": data ", s.ToString(),
                                                   " needs at least ", need3 ? 3 : 1,
                                                   " dimensions"));
  }
  if (p.l2 && p.mode == "instance") return NormView{s[0], s.ProdRange(1, s.ndim()), 1};
  if (p.l2 && p.mode == "channel") return NormView{s[0], s[1], s.ProdRange(2, s.ndim())};
  return NormView{s[0] * s[1], s.ProdRange(2, s.ndim()), 1};
}

namespace {

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<NormParams>(params);
  const char* op = NormName(p);
  std::vector<InferShape> data = {(*in)[0]}, res = {(*out)[0]};
  MXGRID_RETURN_IF_ERROR(InferSameShape(op, &data, &res));
  (*in)[0] = data[0];
  (*out)[0] = res[0];
  if (!(*in)[0]) return absl::OkStatus();
  const Shape& s = *(*in)[0];
  MXGRID_RETURN_IF_ERROR(NormViewOf(p, s).status());
  if (!p.l2) {
    MXGRID_RETURN_IF_ERROR(MergeShape(op, "gamma", Shape{s[1]}, &(*in)[1]));
    MXGRID_RETURN_IF_ERROR(MergeShape(op, "beta", Shape{s[1]}, &(*in)[2]));
    MXGRID_RETURN_IF_ERROR(MergeShape(op, "mean", Shape{s[0], s[1]}, &(*out)[1]));
    return MergeShape(op, "var", Shape{s[0], s[1]}, &(*out)[2]);
  }
  Shape norm = Shape{s[0], s[1]};
  if (p.mode == "instance") norm = Shape{s[0]};
  if (p.mode == "channel") {
    norm = s;
    norm[1] = 1;
  }
  return MergeShape(op, "norm", norm, &(*out)[1]);
}

// Per group: mean and variance (InstanceNorm) or 0 and sum of squares (L2).
template <typename T>
void Stats(const NormParams& p, const NormView& v, const T* x, std::vector<double>* mean,
           std::vector<double>* var) {
  mean->assign(v.groups(), 0.0);
  var->assign(v.groups(), 0.0);
  for (int64_t g = 0; g < v.groups(); ++g) {
    double m = 0, q = 0;
    if (!p.l2) {
      for (int64_t j = 0; j < v.length; ++j) m += x[v.At(g, j)];
      m /= static_cast<double>(v.length);
    }
    for (int64_t j = 0; j < v.length; ++j) q += (x[v.At(g, j)] - m) * (x[v.At(g, j)] - m);
    (*mean)[g] = m;
    (*var)[g] = p.l2 ? q : q / static_cast<double>(v.length);
  }
}

absl::Status Forward(const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<NormParams>(params);
  MXGRID_ASSIGN_OR_RETURN(NormView v, NormViewOf(p, in[0].shape));
  const int64_t channels = p.l2 ? 1 : in[0].shape[1];
  return DispatchFloat(NormName(p), in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in[0].as<T>();
    std::vector<double> mean, var;
    Stats(p, v, x, &mean, &var);
    for (int64_t g = 0; g < v.groups(); ++g) {
      const double sd = std::sqrt(var[g] + p.eps);
      const double scale = p.l2 ? 1.0 : in[1].as<T>()[g % channels];
      const double shift = p.l2 ? 0.0 : in[2].as<T>()[g % channels];
      for (int64_t j = 0; j < v.length; ++j) {
        const int64_t k = v.At(g, j);
        Store(reqs[0], out[0].as<T>(), k, static_cast<T>((x[k] - mean[g]) / sd * scale + shift));
      }
      if (p.l2) {
        Store(reqs[1], out[1].as<T>(), g, static_cast<T>(sd));
      } else {
        Store(reqs[1], out[1].as<T>(), g, static_cast<T>(mean[g]));
        Store(reqs[2], out[2].as<T>(), g, static_cast<T>(var[g]));
      }
    }
    return absl::OkStatus();
  });
}

absl::Status Backward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<NormParams>(params);
  MXGRID_ASSIGN_OR_RETURN(NormView v, NormViewOf(p, a.inputs[0].shape));
  const int64_t channels = p.l2 ? 1 : a.inputs[0].shape[1];
  return DispatchFloat(NormName(p), a.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = a.inputs[0].as<T>();
    const T* dy = a.out_grads[0].as<T>();
    std::vector<double> mean, var;
    Stats(p, v, x, &mean, &var);
    std::vector<double> dgamma(channels, 0.0), dbeta(channels, 0.0), xhat(v.length),
        dxhat(v.length);
    for (int64_t g = 0; g < v.groups(); ++g) {
      const double sd = std::sqrt(var[g] + p.eps);
      const int64_t c = g % channels;
      const double scale = p.l2 ? 1.0 : a.inputs[1].as<T>()[c];
      double m1 = 0, m2 = 0;
      for (int64_t j = 0; j < v.length; ++j) {
        const int64_t k = v.At(g, j);
        xhat[j] = (x[k] - mean[g]) / sd;
        dxhat[j] = dy[k] * scale;
        dgamma[c] += dy[k] * xhat[j];
        dbeta[c] += dy[k];
        m1 += dxhat[j];
        m2 += dxhat[j] * xhat[j];
      }
      // L2: y = x / sd with sd^2 = sum x^2 + eps, so dx = (dy - y * sum(dy y)) / sd.
      const double n = p.l2 ? 1.0 : static_cast<double>(v.length);
      if (p.l2) m1 = 0;
      if (a.reqs[0] == OpReq::kNull) continue;
      for (int64_t j = 0; j < v.length; ++j) {
        Store(a.reqs[0], a.in_grads[0].as<T>(), v.At(g, j),
              static_cast<T>((dxhat[j] - m1 / n - xhat[j] * m2 / n) / sd));
      }
    }
    for (int64_t c = 0; c < channels && !p.l2; ++c) {
      if (a.reqs[1] != OpReq::kNull) {
        Store(a.reqs[1], a.in_grads[1].as<T>(), c, static_cast<T>(dgamma[c]));
      }
      if (a.reqs[2] != OpReq::kNull) {
        Store(a.reqs[2], a.in_grads[2].as<T>(), c, static_cast<T>(dbeta[c]));
      }
    }
    return absl::OkStatus();
  });
}

OpDef NormOp(bool l2) {
  OpDef d = NewOp(l2 ? "L2Normalization" : "InstanceNorm",
                  l2 ? "Divides by the L2 norm over instance, channel or spatial axes."
                     : "Instance normalization with per-channel gamma and beta.");
  if (l2) {
    d.params = {Spec("eps", "float", "1e-10", "Added to the squared norm."),
                Spec("mode", "{'channel', 'instance', 'spatial'}", "'instance'",
                     "The axes to normalize over.")};
  } else {
    d.params = {Spec("eps", "float", "0.001", "Added to the variance.")};
  }
  d.parse = [l2](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<NormParams>();
    p->l2 = l2;
    ParamReader r(NormName(*p), attrs);
    MXGRID_RETURN_IF_ERROR(r.Float("eps", &p->eps, l2 ? 1e-10 : 1e-3));
    if (l2) {
      MXGRID_RETURN_IF_ERROR(
          r.Enum("mode", &p->mode, {"instance", "channel", "spatial"}, "instance"));
    }
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (!(p->eps >= 0)) return r.Error("eps must be non-negative");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [l2](const OpParams&) {
    return l2 ? std::vector<std::string>{"data"}
              : std::vector<std::string>{"data", "gamma", "beta"};
  };
  d.num_outputs = [l2](const OpParams&) { return l2 ? 2 : 3; };
  d.infer_shape = Infer;
  d.forward = Forward;
  d.backward = Backward;
  d.backward_deps = {true, false};
  return d;
}

}  // namespace

OpDef MakeInstanceNormOp() { return NormOp(false); }
OpDef MakeL2NormalizationOp() { return NormOp(true); }

}  // namespace mxgrid::ops::nn
