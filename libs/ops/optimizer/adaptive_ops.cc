// Adaptive-rate update operators: adam_update, _adamw_update / _mp_adamw_update (contrib),
// rmsprop_update, rmspropalex_update, ftrl_update and ftml_update (MXNet 1.9.1's
// src/operator/optimizer_op.cc and contrib/adamw.cc).
#include <algorithm>
#include <cmath>
#include <vector>

#include "libs/ops/optimizer/optimizer_ops_internal.h"

namespace mxgrid::ops::optimizer {
namespace {

UpdateParam F(const char* name, const char* def, const char* description) {
  return {name, "float", def, description};
}

absl::Status AdamKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("adam_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd"), rescale = p.Param<C>("rescale_grad");
    const C clip = p.Param<C>("clip_gradient"), beta1 = p.Param<C>("beta1");
    const C beta2 = p.Param<C>("beta2"), eps = p.Param<C>("epsilon");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mean = Ld<C, W>(in[2], i), var = Ld<C, W>(in[3], i);
        const C nw = rules::AdamStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &mean, &var, lr,
                                        wd, rescale, clip, beta1, beta2, eps);
        St<C, W>(in[2], i, mean);
        St<C, W>(in[3], i, var);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

// The rescale_grad input of the AdamW ops: one element of a float dtype.
double ReadScale(const TensorView& v) {
  switch (v.dtype) {
    case DType::kFloat64: return v.as<double>()[0];
    case DType::kFloat16: return HalfToFloat(v.as<Half>()[0]);
    default: return v.as<float>()[0];
  }
}

// _adamw_update (mixed: _mp_adamw_update with weight32 at input 4). A rescale_grad that is
// 0 or not finite skips the step (MXNet's PrepareInputBlobs): states stay, the output gets
// the weight unchanged.
template <bool kMixed>
absl::Status AdamWKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  const char* name = kMixed ? "_mp_adamw_update" : "_adamw_update";
  const int scale_input = kMixed ? 5 : 4;
  if (in[scale_input].dtype != DType::kFloat32 && in[scale_input].dtype != DType::kFloat64 &&
      in[scale_input].dtype != DType::kFloat16) {
    return absl::InvalidArgumentError(std::string(name) + ": rescale_grad must be a float array");
  }
  const double scale = ReadScale(in[scale_input]);
  const bool skip = !std::isfinite(scale) || scale == 0;
  auto body = [&](auto w, auto s, auto c) {
    using W = typename decltype(w)::type;
    using S = typename decltype(s)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd"), eta = p.Param<C>("eta");
    const C rescale = rules::OpParam<C>(scale), clip = p.Param<C>("clip_gradient");
    const C beta1 = p.Param<C>("beta1"), beta2 = p.Param<C>("beta2");
    const C eps = p.Param<C>("epsilon");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const C w0 = kMixed ? Ld<C, S>(in[4], i) : Ld<C, W>(in[0], i);
        if (skip) {
          Assign<C, W>(req, out, i, w0);
          continue;
        }
        C mean = Ld<C, S>(in[2], i), var = Ld<C, S>(in[3], i);
        const C nw = rules::AdamWStep<C>(w0, Ld<C, W>(in[1], i), &mean, &var, lr, wd, eta,
                                         rescale, clip, beta1, beta2, eps);
        St<C, S>(in[2], i, mean);
        St<C, S>(in[3], i, var);
        if (kMixed) St<C, S>(in[4], i, nw);
        Assign<C, W>(req, out, i, nw);
      }
    });
  };
  if (kMixed) return Mixed(name, in, 2, body);
  return Plain(name, in, [&](auto w, auto c) { body(w, w, c); });
}

absl::Status RmsPropKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("rmsprop_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd"), rescale = p.Param<C>("rescale_grad");
    const C clip = p.Param<C>("clip_gradient"), gamma1 = p.Param<C>("gamma1");
    const C eps = p.Param<C>("epsilon"), clip_w = p.Param<C>("clip_weights");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C n = Ld<C, W>(in[2], i);
        const C nw = rules::RmsPropStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &n, lr, wd,
                                           rescale, clip, gamma1, eps, clip_w);
        St<C, W>(in[2], i, n);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

absl::Status RmsPropAlexKernel(const UpdateParams& p, Span in, OpReq req,
                               const TensorView& out) {
  return Plain("rmspropalex_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd"), rescale = p.Param<C>("rescale_grad");
    const C clip = p.Param<C>("clip_gradient"), gamma1 = p.Param<C>("gamma1");
    const C gamma2 = p.Param<C>("gamma2"), eps = p.Param<C>("epsilon");
    const C clip_w = p.Param<C>("clip_weights");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C n = Ld<C, W>(in[2], i), g = Ld<C, W>(in[3], i), delta = Ld<C, W>(in[4], i);
        const C nw = rules::RmsPropAlexStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &n, &g,
                                               &delta, lr, wd, rescale, clip, gamma1, gamma2,
                                               eps, clip_w);
        St<C, W>(in[2], i, n);
        St<C, W>(in[3], i, g);
        St<C, W>(in[4], i, delta);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

absl::Status FtrlKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("ftrl_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd"), rescale = p.Param<C>("rescale_grad");
    const C clip = p.Param<C>("clip_gradient"), lamda1 = p.Param<C>("lamda1");
    const C beta = p.Param<C>("beta");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C z = Ld<C, W>(in[2], i), n = Ld<C, W>(in[3], i);
        const C nw = rules::FtrlStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &z, &n, lr, wd,
                                        rescale, clip, lamda1, beta);
        St<C, W>(in[2], i, z);
        St<C, W>(in[3], i, n);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

// MXNet's _sparse_adagrad_update: history += g^2, w -= g / sqrt(history + epsilon) * lr,
// g the rescaled and clipped gradient; weight decay is refused, as in MXNet.
absl::Status SparseAdaGradKernel(const UpdateParams& p, Span in, OpReq req,
                                 const TensorView& out) {
  if (p.Get("wd") != 0) {
    return absl::InvalidArgumentError("_sparse_adagrad_update does not support wd (set wd=0)");
  }
  return Plain("_sparse_adagrad_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), rescale = p.Param<C>("rescale_grad");
    const C clip = p.Param<C>("clip_gradient"), eps = p.Param<C>("epsilon");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C g = Ld<C, W>(in[1], i) * rescale;
        if (clip >= 0) g = std::max(-clip, std::min(clip, g));
        const C h = Ld<C, W>(in[2], i) + g * g;
        St<C, W>(in[2], i, h);
        Assign<C, W>(req, out, i, Ld<C, W>(in[0], i) - g / std::sqrt(h + eps) * lr);
      }
    });
  });
}

absl::Status FtmlKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("ftml_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd"), rescale = p.Param<C>("rescale_grad");
    const C clip = p.Param<C>("clip_grad"), beta1 = p.Param<C>("beta1");
    const C beta2 = p.Param<C>("beta2"), eps = static_cast<C>(p.Get("epsilon"));
    const C t = static_cast<C>(p.Get("t"));
    const C beta1_t = std::pow(beta1, t), beta2_t = std::pow(beta2, t);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C d = Ld<C, W>(in[2], i), v = Ld<C, W>(in[3], i), z = Ld<C, W>(in[4], i);
        const C nw = rules::FtmlStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &d, &v, &z, lr,
                                        wd, rescale, clip, beta1, beta2, beta1_t, beta2_t, eps);
        St<C, W>(in[2], i, d);
        St<C, W>(in[3], i, v);
        St<C, W>(in[4], i, z);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

}  // namespace

std::vector<UpdateOpSpec> AdaptiveOpSpecs() {
  const UpdateParam beta1 = F("beta1", "0.9", "The decay rate for the 1st moment estimates.");
  const UpdateParam beta2 = F("beta2", "0.999", "The decay rate for the 2nd moment estimates.");
  const UpdateParam eps = F("epsilon", "1e-08", "A small constant for numerical stability.");
  const UpdateParam gamma1 = F("gamma1", "0.95", "The decay rate of the squared-gradient "
                               "average.");
  const UpdateParam clip_w = F("clip_weights", "-1", "Clip weights to [-clip_weights, "
                               "clip_weights]; turned off when <= 0.");
  const std::vector<UpdateParam> adamw = {
      Lr(), beta1, beta2, eps, Wd(),
      F("eta", "", "Learning rate schedule multiplier"), ClipGradient()};
  std::vector<UpdateOpSpec> specs;
  specs.push_back({"adam_update", "Adam: moving averages of the gradient and its square",
                   {"weight", "grad", "mean", "var"},
                   {Lr(), beta1, beta2, eps, Wd(), RescaleGrad(), ClipGradient(), LazyUpdate()},
                   {2, 3}, {}, {}, {}, false, AdamKernel});
  specs.push_back({"_adamw_update", "AdamW: Adam with weight decay decoupled, scaled by eta; "
                   "rescale_grad is an array (a step is skipped when it is 0 or not finite)",
                   {"weight", "grad", "mean", "var", "rescale_grad"}, adamw, {}, {2, 3}, {4},
                   {4}, false, AdamWKernel<false>});
  specs.push_back({"_mp_adamw_update", "_adamw_update on a float32 master copy weight32",
                   {"weight", "grad", "mean", "var", "weight32", "rescale_grad"}, adamw, {},
                   {2, 3, 4}, {2, 3, 4, 5}, {5}, false, AdamWKernel<true>});
  specs.push_back({"rmsprop_update", "RMSProp (Tieleman & Hinton, 2012)",
                   {"weight", "grad", "n"},
                   {Lr(), gamma1, eps, Wd(), RescaleGrad(), ClipGradient(), clip_w}, {2}, {},
                   {}, {}, false, RmsPropKernel});
  specs.push_back({"rmspropalex_update", "Centered RMSProp (Graves, 2013, Eq. 38-45)",
                   {"weight", "grad", "n", "g", "delta"},
                   {Lr(), gamma1, F("gamma2", "0.9", "Decay rate of the update."), eps, Wd(),
                    RescaleGrad(), ClipGradient(), clip_w},
                   {2, 3, 4}, {}, {}, {}, false, RmsPropAlexKernel});
  specs.push_back({"ftrl_update", "Follow the Regularized Leader (McMahan et al., 2013)",
                   {"weight", "grad", "z", "n"},
                   {Lr(), F("lamda1", "0.01", "The L1 regularization coefficient."),
                    F("beta", "1", "Per-coordinate learning rate correlation parameter."),
                    Wd(), RescaleGrad(), ClipGradient()},
                   {2, 3}, {}, {}, {}, false, FtrlKernel});
  specs.push_back({"_sparse_adagrad_update", "AdaGrad (Duchi et al., 2011) as MXNet's sparse "
                   "update; row_sparse gradients update only their rows",
                   {"weight", "grad", "history"},
                   {Lr(), F("epsilon", "1e-07", "Epsilon for numerical stability."), Wd(),
                    RescaleGrad(), ClipGradient()},
                   {2}, {}, {}, {}, false, SparseAdaGradKernel});
  specs.push_back({"ftml_update", "Follow the Moving Leader (Zheng & Kwok, 2017)",
                   {"weight", "grad", "d", "v", "z"},
                   {Lr(), F("beta1", "0.6", "Generally close to 0.5."),
                    F("beta2", "0.999", "Generally close to 1."),
                    F("epsilon", "1e-08", "Epsilon to prevent div 0."),
                    {"t", "int", "", "Number of update."}, Wd(), RescaleGrad(),
                    F("clip_grad", "-1", "Clip gradient to [-clip_grad, clip_grad]; turned "
                      "off when < 0.")},
                   {2, 3, 4}, {}, {}, {}, false, FtmlKernel});
  return specs;
}

}  // namespace mxgrid::ops::optimizer
