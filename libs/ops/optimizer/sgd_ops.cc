// SGD-family update operators: sgd_update, sgd_mom_update, their mixed-precision variants
// mp_sgd_update / mp_sgd_mom_update, nag_mom_update / mp_nag_mom_update, signsgd_update and
// signum_update (MXNet 1.9.1's src/operator/optimizer_op.cc).
#include <vector>

#include "libs/ops/optimizer/optimizer_ops_internal.h"

namespace mxgrid::ops::optimizer {
namespace {

using rules::Rescaled;

UpdateParam Momentum() {
  return {"momentum", "float", "0", "The decay rate of momentum estimates at each epoch."};
}

// Hyperparameters every SGD kernel reads, in compute type C.
template <typename C>
struct Sgd {
  C lr, wd, rescale, clip, momentum;
  explicit Sgd(const UpdateParams& p, bool with_momentum)
      : lr(p.Param<C>("lr")), wd(p.Param<C>("wd")), rescale(p.Param<C>("rescale_grad")),
        clip(p.Param<C>("clip_gradient")),
        momentum(with_momentum ? p.Param<C>("momentum") : C(0)) {}
};

absl::Status SgdKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("sgd_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, false);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const C nw = rules::SgdStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), h.lr, h.wd,
                                       h.rescale, h.clip);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

absl::Status SgdMomKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("sgd_mom_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, true);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mom = Ld<C, W>(in[2], i);
        const C nw = rules::SgdMomStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &mom,
                                          h.momentum, h.lr, h.wd, h.rescale, h.clip);
        St<C, W>(in[2], i, mom);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

// mp_sgd_update: weight32 (input 2) is the master copy; the output is its cast.
absl::Status MpSgdKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Mixed("mp_sgd_update", in, 2, [&](auto w, auto s, auto c) {
    using W = typename decltype(w)::type;
    using S = typename decltype(s)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, false);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const C nw = rules::SgdStep<C>(Ld<C, S>(in[2], i), Ld<C, W>(in[1], i), h.lr, h.wd,
                                       h.rescale, h.clip);
        St<C, S>(in[2], i, nw);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

// mp_sgd_mom_update: mom (2) and weight32 (3) float32.
absl::Status MpSgdMomKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Mixed("mp_sgd_mom_update", in, 2, [&](auto w, auto s, auto c) {
    using W = typename decltype(w)::type;
    using S = typename decltype(s)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, true);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mom = Ld<C, S>(in[2], i);
        const C nw = rules::SgdMomStep<C>(Ld<C, S>(in[3], i), Ld<C, W>(in[1], i), &mom,
                                          h.momentum, h.lr, h.wd, h.rescale, h.clip);
        St<C, S>(in[2], i, mom);
        St<C, S>(in[3], i, nw);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

// nag_mom_update: the momentum's second half reads the weight after the output is written
// (the updated weight when out=weight, as in MXNet).
absl::Status NagMomKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("nag_mom_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, true);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mom = Ld<C, W>(in[2], i);
        const C g = Ld<C, W>(in[1], i);
        const C nw = rules::NagMomStep<C>(Ld<C, W>(in[0], i), g, &mom, h.momentum, h.lr, h.wd,
                                          h.rescale, h.clip);
        Assign<C, W>(req, out, i, nw);
        rules::NagMomFinish<C>(Ld<C, W>(in[0], i), g, &mom, h.lr, h.wd, h.rescale, h.clip);
        St<C, W>(in[2], i, mom);
      }
    });
  });
}

// mp_nag_mom_update: the float32 master weight is updated first, so the momentum always
// sees the new weight.
absl::Status MpNagMomKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Mixed("mp_nag_mom_update", in, 2, [&](auto w, auto s, auto c) {
    using W = typename decltype(w)::type;
    using S = typename decltype(s)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, true);
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mom = Ld<C, S>(in[2], i);
        const C g = Ld<C, W>(in[1], i);
        const C nw = rules::NagMomStep<C>(Ld<C, S>(in[3], i), g, &mom, h.momentum, h.lr, h.wd,
                                          h.rescale, h.clip);
        rules::NagMomFinish<C>(nw, g, &mom, h.lr, h.wd, h.rescale, h.clip);
        St<C, S>(in[2], i, mom);
        St<C, S>(in[3], i, nw);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

absl::Status SignSgdKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("signsgd_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const C lr = p.Param<C>("lr"), wd = p.Param<C>("wd");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        Assign<C, W>(req, out, i,
                     rules::SignSgdStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), lr, wd));
      }
    });
  });
}

absl::Status SignumKernel(const UpdateParams& p, Span in, OpReq req, const TensorView& out) {
  return Plain("signum_update", in, [&](auto w, auto c) {
    using W = typename decltype(w)::type;
    using C = typename decltype(c)::type;
    const Sgd<C> h(p, true);
    const C wd_lh = p.Param<C>("wd_lh");
    ForEachElement(in[0].size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C mom = Ld<C, W>(in[2], i);
        const C nw = rules::SignumStep<C>(Ld<C, W>(in[0], i), Ld<C, W>(in[1], i), &mom,
                                          h.momentum, h.lr, h.wd, h.rescale, h.clip, wd_lh);
        St<C, W>(in[2], i, mom);
        Assign<C, W>(req, out, i, nw);
      }
    });
  });
}

}  // namespace

std::vector<UpdateOpSpec> SgdOpSpecs() {
  const std::vector<UpdateParam> sgd = {Lr(), Wd(), RescaleGrad(), ClipGradient(),
                                        LazyUpdate()};
  const std::vector<UpdateParam> sgd_mom = {Lr(), Momentum(), Wd(), RescaleGrad(),
                                            ClipGradient(), LazyUpdate()};
  const std::vector<UpdateParam> nag = {Lr(), Momentum(), Wd(), RescaleGrad(), ClipGradient()};
  std::vector<UpdateOpSpec> specs;
  specs.push_back({"sgd_update", "weight = weight - lr * (rescale_grad * grad + wd * weight)",
                   {"weight", "grad"}, sgd, {}, {}, {}, {}, false, SgdKernel});
  specs.push_back({"sgd_mom_update",
                   "mom = momentum * mom - lr * (rescale_grad * grad + wd * weight); "
                   "weight += mom",
                   {"weight", "grad", "mom"}, sgd_mom, {2}, {}, {}, {}, false, SgdMomKernel});
  specs.push_back({"mp_sgd_update", "sgd_update on a float32 master copy weight32",
                   {"weight", "grad", "weight32"}, sgd, {2}, {}, {2}, {}, false, MpSgdKernel});
  specs.push_back({"mp_sgd_mom_update", "sgd_mom_update on a float32 master copy weight32",
                   {"weight", "grad", "mom", "weight32"}, sgd_mom, {2, 3}, {}, {2, 3}, {},
                   false, MpSgdMomKernel});
  specs.push_back({"nag_mom_update", "Nesterov accelerated gradient update",
                   {"weight", "grad", "mom"}, nag, {2}, {}, {}, {}, false, NagMomKernel});
  specs.push_back({"mp_nag_mom_update", "nag_mom_update on a float32 master copy weight32",
                   {"weight", "grad", "mom", "weight32"}, nag, {2, 3}, {}, {2, 3}, {}, false,
                   MpNagMomKernel});
  specs.push_back({"signsgd_update", "weight = (1 - lr * wd) * weight - lr * sign(grad)",
                   {"weight", "grad"}, {Lr(), Wd(), RescaleGrad(), ClipGradient()}, {}, {}, {},
                   {}, false, SignSgdKernel});
  std::vector<UpdateParam> signum = nag;
  signum.push_back({"wd_lh", "float", "0", "The amount of weight decay that does not go into "
                    "gradient/momentum calculations otherwise do weight decay algorithmically "
                    "only."});
  specs.push_back({"signum_update", "SIGN momentUM: weight moves by lr * sign(momentum)",
                   {"weight", "grad", "mom"}, signum, {2}, {}, {}, {}, false, SignumKernel});
  return specs;
}

}  // namespace mxgrid::ops::optimizer
