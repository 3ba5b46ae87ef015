// LAMB's two phases: lamb_update_phase1 (moments and the direction g) and
// lamb_update_phase2 (the step scaled by the trust ratio ||w|| / ||g||), and their
// mixed-precision variants (MXNet 1.9.1's src/operator/optimizer_op.cc).
//
// Deliberate difference: MXNet 1.9.1's mp_lamb_update_phase2 declares weight32 mutated but
// never writes it, so a float16 weight's master copy never moves; here it is updated with the
// weight (as MXNet's aggregated multi_mp_lamb_update, which its LAMB optimizer uses, does).
#include <cmath>
#include <vector>

#include "libs/ops/optimizer/optimizer_ops_internal.h"

namespace mxgrid::ops::optimizer {
namespace {

// Phase 1's hyperparameters; beta^t as MXNet computes it (pow of float and int: double).
template <typename C>
struct Phase1 {
  C wd, rescale, clip, beta1, beta2, beta1_t, beta2_t, eps;
  bool bias_correction;
  explicit Phase1(const UpdateParams& p)
      : wd(p.Param<C>("wd")), rescale(p.Param<C>("rescale_grad")),
        clip(p.Param<C>("clip_gradient")), beta1(p.Param<C>("beta1")),
        beta2(p.Param<C>("beta2")),
        beta1_t(static_cast<C>(std::pow(static_cast<double>(static_cast<float>(p.Get("beta1"))),
                                        static_cast<int>(p.Get("t"))))),
        beta2_t(static_cast<C>(std::pow(static_cast<double>(static_cast<float>(p.Get("beta2"))),
                                        static_cast<int>(p.Get("t"))))),
        eps(p.Param<C>("epsilon")), bias_correction(p.Get("bias_correction") != 0) {}
};

absl::Status Phase1Kernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("lamb_update_phase1", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const Phase1<C> h(p);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mean = Ld<C, W>(in[2], i), var = Ld<C, W>(in[3], i);
        const C g = rules::LambPhase1<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &mean, &var,
                                         h.wd, h.rescale, h.clip, h.beta1, h.beta2, h.beta1_t,
                                         h.beta2_t, h.eps, h.bias_correction);
        St<C, W>(in[2], i, mean);
        St<C, W>(in[3], i, var);
        Assign<C, W>(req, out, i, g);
      }
    });
  });
}

// mp_lamb_update_phase1: mean (2), var (3) and weight32 (4) float32; g is float32.
absl::Status MpPhase1Kernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Mixed("mp_lamb_update_phase1", in, 2, [&](auto w, auto s, auto c) {
    using W = typename decltype(w)::type;
    using S = typename decltype(s)::type;
    using C = typename decltype(c)::type;
    const Phase1<C> h(p);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mean = Ld<C, S>(in[2], i), var = Ld<C, S>(in[3], i);
        const C g = rules::LambPhase1<C>(Ld<C, S>(in[4], i), Ld<C, W>(in[1], i), &mean, &var,
                                         h.wd, h.rescale, h.clip, h.beta1, h.beta2, h.beta1_t,
                                         h.beta2_t, h.eps, h.bias_correction);
        St<C, S>(in[2], i, mean);
        St<C, S>(in[3], i, var);
        Assign<C, S>(req, out, i, g);
      }
    });
  });
}

absl::Status Phase2Kernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("lamb_update_phase2", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = rules::LambRate<C>(p.Param<C>("lr"), Ld<C, W>(in[2], 0), Ld<C, W>(in[3], 0),
                                    p.Param<C>("lower_bound"), p.Param<C>("upper_bound"));
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        Assign<C, W>(req, out, i, Ld<C, W>(in[0], i) - lr * Ld<C, W>(in[1], i));
      }
    });
  });
}

// mp_lamb_update_phase2: g (1), r1 (2), r2 (3), weight32 (4) float32.
absl::Status MpPhase2Kernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Mixed("mp_lamb_update_phase2", in, 1, [&](auto w, auto s, auto c) {
    using W = typename decltype(w)::type;
    using S = typename decltype(s)::type;
    using C = typename decltype(c)::type;
    const C lr = rules::LambRate<C>(p.Param<C>("lr"), Ld<C, S>(in[2], 0), Ld<C, S>(in[3], 0),
                                    p.Param<C>("lower_bound"), p.Param<C>("upper_bound"));
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const C nw = Ld<C, S>(in[4], i) - lr * Ld<C, S>(in[1], i);
        St<C, S>(in[4], i, nw);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

}  // namespace

std::vector<UpdateOpSpec> LambOpSpecs() {
  const std::vector<UpdateParam> phase1 = {
      {"beta1", "float", "0.9", "The decay rate for the 1st moment estimates."},
      {"beta2", "float", "0.999", "The decay rate for the 2nd moment estimates."},
      {"epsilon", "float", "1e-06", "A small constant for numerical stability."},
      {"t", "int", "", "Index update count."},
      {"bias_correction", "boolean", "true", "Whether to use bias correction."},
      {"wd", "float", "", "Weight decay."},
      RescaleGrad(),
      ClipGradient()};
  const std::vector<UpdateParam> phase2 = {
      Lr(),
      {"lower_bound", "float", "-1", "Lower limit of norm of weight; none when <= 0."},
      {"upper_bound", "float", "-1", "Upper limit of norm of weight; none when <= 0."}};
  std::vector<UpdateOpSpec> specs;
  specs.push_back({"lamb_update_phase1", "LAMB phase 1: moments and the update direction g",
                   {"weight", "grad", "mean", "var"}, phase1, {2, 3}, {}, {}, {}, false,
                   Phase1Kernel});
  specs.push_back({"lamb_update_phase2", "LAMB phase 2: weight -= lr * (r1 / r2) * g",
                   {"weight", "g", "r1", "r2"}, phase2, {}, {}, {}, {2, 3}, false,
                   Phase2Kernel});
  specs.push_back({"mp_lamb_update_phase1", "lamb_update_phase1 on a float32 master copy",
                   {"weight", "grad", "mean", "var", "weight32"}, phase1, {}, {2, 3}, {2, 3, 4},
                   {}, true, MpPhase1Kernel});
  specs.push_back({"mp_lamb_update_phase2", "lamb_update_phase2 on a float32 master copy",
                   {"weight", "g", "r1", "r2", "weight32"}, phase2, {4}, {}, {1, 2, 3, 4},
                   {2, 3}, false, MpPhase2Kernel});
  return specs;
}

}  // namespace mxgrid::ops::optimizer
