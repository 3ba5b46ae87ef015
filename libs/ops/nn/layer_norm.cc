// LayerNorm [MXNet 1.9.1]: normalizes over one axis (default -1) with per-channel gamma and
// beta; eps (1e-5) inside the square root. Outputs output, mean and std (the latter two,
// shaped like data with the axis at 1, are visible only with output_mean_var=True).
// Backward gives data, gamma and beta gradients (head gradients of mean/std are ignored,
// as MXNet's do). Plain loops over (outer, channel, inner); float32/float64.
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

constexpr char kOp[] = "LayerNorm";

struct Geometry {
  int64_t outer = 1, c = 1, inner = 1;
};

absl::StatusOr<int> Axis(const LayerNormParams& p, int ndim) {
  const int64_t a = p.axis < 0 ? p.axis + ndim : p.axis;
  if (a < 0 || a >= ndim) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": channel axis ", p.axis,
                                                   " is out of range for a ", ndim,
                                                   "-d input"));
  }
  return static_cast<int>(a);
}

absl::StatusOr<Geometry> Geom(const LayerNormParams& p, const Shape& s) {
  MXGRID_ASSIGN_OR_RETURN(int a, Axis(p, s.ndim()));
  return Geometry{s.ProdRange(0, a), s[a], s.ProdRange(a + 1, s.ndim())};
}

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<LayerNormParams>(params);
  std::vector<InferShape> data = {(*in)[0]}, res = {(*out)[0]};
  MXGRID_RETURN_IF_ERROR(InferSameShape(kOp, &data, &res));
  (*in)[0] = data[0];
  (*out)[0] = res[0];
  if (!(*in)[0]) return absl::OkStatus();
  const Shape& s = *(*in)[0];
  MXGRID_ASSIGN_OR_RETURN(int a, Axis(p, s.ndim()));
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "gamma", Shape{s[a]}, &(*in)[1]));
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "beta", Shape{s[a]}, &(*in)[2]));
  Shape moments = s;
  moments[a] = 1;
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "mean", moments, &(*out)[1]));
  return MergeShape(kOp, "std", moments, &(*out)[2]);
}

// Mean and std of every (outer, inner) row.
template <typename T>
void Moments(const Geometry& g, double eps, const T* x, std::vector<double>* mean,
             std::vector<double>* sd) {
  mean->assign(g.outer * g.inner, 0.0);
  sd->assign(g.outer * g.inner, 0.0);
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i) {
      const int64_t r = o * g.inner + i;
      double m = 0, v = 0;
      for (int64_t c = 0; c < g.c; ++c) m += x[(o * g.c + c) * g.inner + i];
      m /= static_cast<double>(g.c);
      for (int64_t c = 0; c < g.c; ++c) {
        const double d = x[(o * g.c + c) * g.inner + i] - m;
        v += d * d;
      }
      (*mean)[r] = m;
      (*sd)[r] = std::sqrt(v / static_cast<double>(g.c) + eps);
    }
  }
}

absl::Status Forward(const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<LayerNormParams>(params);
  MXGRID_ASSIGN_OR_RETURN(Geometry g, Geom(p, in[0].shape));
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in[0].as<T>();
    const T* gamma = in[1].as<T>();
    const T* beta = in[2].as<T>();
    std::vector<double> mean, sd;
    Moments(g, p.eps, x, &mean, &sd);
    for (int64_t o = 0; o < g.outer; ++o) {
      for (int64_t c = 0; c < g.c; ++c) {
        for (int64_t i = 0; i < g.inner; ++i) {
          const int64_t k = (o * g.c + c) * g.inner + i, r = o * g.inner + i;
          const double y = (x[k] - mean[r]) / sd[r] * gamma[c] + beta[c];
          Store(reqs[0], out[0].as<T>(), k, static_cast<T>(y));
        }
      }
    }
    for (size_t r = 0; r < mean.size(); ++r) {
      Store(reqs[1], out[1].as<T>(), r, static_cast<T>(mean[r]));
      Store(reqs[2], out[2].as<T>(), r, static_cast<T>(sd[r]));
    }
    return absl::OkStatus();
  });
}

absl::Status Backward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<LayerNormParams>(params);
  MXGRID_ASSIGN_OR_RETURN(Geometry g, Geom(p, a.inputs[0].shape));
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = a.inputs[0].as<T>();
    const T* gamma = a.inputs[1].as<T>();
    const T* dy = a.out_grads[0].as<T>();
    std::vector<double> mean, sd;
    Moments(g, p.eps, x, &mean, &sd);
    std::vector<double> dgamma(g.c, 0.0), dbeta(g.c, 0.0);
    std::vector<double> xhat(g.c), dxhat(g.c);
    for (int64_t o = 0; o < g.outer; ++o) {
      for (int64_t i = 0; i < g.inner; ++i) {
        const int64_t r = o * g.inner + i;
        double m1 = 0, m2 = 0;
        for (int64_t c = 0; c < g.c; ++c) {
          const int64_t k = (o * g.c + c) * g.inner + i;
          xhat[c] = (x[k] - mean[r]) / sd[r];
          dxhat[c] = dy[k] * gamma[c];
          dgamma[c] += dy[k] * xhat[c];
          dbeta[c] += dy[k];
          m1 += dxhat[c];
          m2 += dxhat[c] * xhat[c];
        }
        m1 /= static_cast<double>(g.c);
        m2 /= static_cast<double>(g.c);
        if (a.reqs[0] == OpReq::kNull) continue;
        for (int64_t c = 0; c < g.c; ++c) {
          const int64_t k = (o * g.c + c) * g.inner + i;
          Store(a.reqs[0], a.in_grads[0].as<T>(), k,
                static_cast<T>((dxhat[c] - m1 - xhat[c] * m2) / sd[r]));
        }
      }
    }
    for (int64_t c = 0; c < g.c; ++c) {
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

}  // namespace

OpDef MakeLayerNormOp() {
  OpDef d = NewOp(kOp, "Layer normalization over one axis, scaled by gamma and shifted by beta.");
  d.params = {Spec("axis", "int", "-1", "The axis to normalize over."),
              Spec("eps", "float", "1e-05", "Added to the variance."),
              Spec("output_mean_var", "boolean", "0", "Also output the mean and std.")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<LayerNormParams>();
    ParamReader r(kOp, attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, -1));
    MXGRID_RETURN_IF_ERROR(r.Float("eps", &p->eps, 1e-5));
    MXGRID_RETURN_IF_ERROR(r.Bool("output_mean_var", &p->output_mean_var, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (!(p->eps >= 0)) return r.Error("eps must be non-negative");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) {
    return std::vector<std::string>{"data", "gamma", "beta"};
  };
  d.output_names = [](const OpParams& p) {
    if (ParamsAs<LayerNormParams>(p).output_mean_var) {
      return std::vector<std::string>{"output", "mean", "std"};
    }
    return std::vector<std::string>{"output"};
  };
  d.variable_outputs = true;
  d.num_outputs = [](const OpParams&) { return 3; };
  d.infer_shape = Infer;
  d.forward = Forward;
  d.backward = Backward;
  d.backward_deps = {true, false};
  return d;
}

}  // namespace mxgrid::ops::nn
