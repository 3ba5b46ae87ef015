// The SGD-family update operators on the GPU (sgd_ops.cc's kernels, element for element):
// sgd_update, sgd_mom_update, mp_sgd_update, mp_sgd_mom_update, nag_mom_update,
// mp_nag_mom_update, signsgd_update and signum_update.
#include "libs/ops/optimizer/optimizer_cuda_util.h"

namespace mxgrid::ops::optimizer {
namespace {

using Span = absl::Span<const TensorView>;
using cu::Assign;
using cu::Ld;
using cu::Ptr;
using cu::St;

// sgd_ops.cc's Sgd<C>: the hyperparameters in the host compute type H.
template <typename H>
struct Sgd {
  H lr, wd, rescale, clip, momentum;
  Sgd(const UpdateParams& p, bool with_momentum)
      : lr(p.Param<H>("lr")), wd(p.Param<H>("wd")), rescale(p.Param<H>("rescale_grad")),
        clip(p.Param<H>("clip_gradient")),
        momentum(with_momentum ? p.Param<H>("momentum") : H(0)) {}
};

// Weight w (storage W) or master copy w32 (storage S); mom in S; grad in W.
template <typename W, typename S, typename C>
struct SgdOp {
  const W* w;
  const W* g;
  S* mom;  // null: plain SGD
  S* w32;  // null: no master copy
  bool nag;
  const W* w_after;  // nag_mom_update: the weight read again after the output is written
  W* out;
  int req;
  Sgd<typename C::Raw> h;
  __device__ void operator()(int64_t i) const {
    const C lr = h.lr, wd = h.wd, rescale = h.rescale, clip = h.clip, momentum = h.momentum;
    const C w0 = w32 != nullptr ? Ld<C, S>(w32, i) : Ld<C, W>(w, i);
    const C gi = Ld<C, W>(g, i);
    if (mom == nullptr) {
      const C nw = rules::SgdStep<C>(w0, gi, lr, wd, rescale, clip);
      if (w32 != nullptr) St<C, S>(w32, i, nw);
      Assign<C, W>(req, out, i, nw);
      return;
    }
    C m = Ld<C, S>(mom, i);
    if (!nag) {
      const C nw = rules::SgdMomStep<C>(w0, gi, &m, momentum, lr, wd, rescale, clip);
      St<C, S>(mom, i, m);
      if (w32 != nullptr) St<C, S>(w32, i, nw);
      Assign<C, W>(req, out, i, nw);
      return;
    }
    const C nw = rules::NagMomStep<C>(w0, gi, &m, momentum, lr, wd, rescale, clip);
    if (w32 != nullptr) {
      // mp_nag_mom_update: the master weight is updated first.
      rules::NagMomFinish<C>(nw, gi, &m, lr, wd, rescale, clip);
      St<C, S>(mom, i, m);
      St<C, S>(w32, i, nw);
      Assign<C, W>(req, out, i, nw);
    } else {
      // nag_mom_update: the momentum's second half reads the weight after the output is
      // written (the updated weight when out aliases it).
      Assign<C, W>(req, out, i, nw);
      rules::NagMomFinish<C>(Ld<C, W>(w_after, i), gi, &m, lr, wd, rescale, clip);
      St<C, S>(mom, i, m);
    }
  }
};

// sgd_update, sgd_mom_update, nag_mom_update (same-dtype variants).
GpuUpdateKernel PlainSgd(const char* name, bool momentum, bool nag) {
  return [=](const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
             const TensorView& out) {
    return cu::RunPlain(ctx, name, in, [&](auto wt, auto ht) {
      using W = typename decltype(wt)::type;
      using C = cu::Dev<typename decltype(ht)::type>;
      SgdOp<W, W, C> op{Ptr<const W>(in[0]), Ptr<const W>(in[1]),
                        momentum ? Ptr<W>(in[2]) : nullptr, nullptr, nag,
                        Ptr<const W>(in[0]), Ptr<W>(out), cu::Req(req),
                        Sgd<typename C::Raw>(p, momentum)};
      cu::Launch(ctx, in[0].size(), op);
    });
  };
}

// mp_sgd_update (weight32 at 2), mp_sgd_mom_update / mp_nag_mom_update (mom 2, weight32 3).
GpuUpdateKernel MixedSgd(const char* name, bool momentum, bool nag) {
  return [=](const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
             const TensorView& out) {
    return cu::RunMixed(ctx, name, in, 2, [&](auto wt, auto st, auto ht) {
      using W = typename decltype(wt)::type;
      using S = typename decltype(st)::type;
      using C = cu::Dev<typename decltype(ht)::type>;
      SgdOp<W, S, C> op{Ptr<const W>(in[0]), Ptr<const W>(in[1]),
                        momentum ? Ptr<S>(in[2]) : nullptr, Ptr<S>(in[momentum ? 3 : 2]), nag,
                        nullptr, Ptr<W>(out), cu::Req(req), Sgd<typename C::Raw>(p, momentum)};
      cu::Launch(ctx, in[0].size(), op);
    });
  };
}

template <typename W, typename C>
struct SignSgdOp {
  const W* w;
  const W* g;
  W* out;
  int req;
  typename C::Raw lr, wd;
  __device__ void operator()(int64_t i) const {
    Assign<C, W>(req, out, i, rules::SignSgdStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), lr, wd));
  }
};

absl::Status SignSgd(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                     const TensorView& out) {
  return cu::RunPlain(ctx, "signsgd_update", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    using C = cu::Dev<H>;
    cu::Launch(ctx, in[0].size(),
               SignSgdOp<W, C>{Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<W>(out),
                               cu::Req(req), p.Param<H>("lr"), p.Param<H>("wd")});
  });
}

template <typename W, typename C>
struct SignumOp {
  const W* w;
  const W* g;
  W* mom;
  W* out;
  int req;
  Sgd<typename C::Raw> h;
  typename C::Raw wd_lh;
  __device__ void operator()(int64_t i) const {
    C m = Ld<C, W>(mom, i);
    const C nw = rules::SignumStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), &m, h.momentum, h.lr,
                                      h.wd, h.rescale, h.clip, wd_lh);
    St<C, W>(mom, i, m);
    Assign<C, W>(req, out, i, nw);
  }
};

absl::Status Signum(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                    const TensorView& out) {
  return cu::RunPlain(ctx, "signum_update", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    using C = cu::Dev<H>;
    cu::Launch(ctx, in[0].size(),
               SignumOp<W, C>{Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<W>(in[2]),
                              Ptr<W>(out), cu::Req(req), Sgd<H>(p, true),
                              p.Param<H>("wd_lh")});
  });
}

}  // namespace

void AddSgdGpuKernels(std::map<std::string, GpuUpdateKernel>* kernels) {
  (*kernels)["sgd_update"] = PlainSgd("sgd_update", false, false);
  (*kernels)["sgd_mom_update"] = PlainSgd("sgd_mom_update", true, false);
  (*kernels)["nag_mom_update"] = PlainSgd("nag_mom_update", true, true);
  (*kernels)["mp_sgd_update"] = MixedSgd("mp_sgd_update", false, false);
  (*kernels)["mp_sgd_mom_update"] = MixedSgd("mp_sgd_mom_update", true, false);
  (*kernels)["mp_nag_mom_update"] = MixedSgd("mp_nag_mom_update", true, true);
  (*kernels)["signsgd_update"] = SignSgd;
  (*kernels)["signum_update"] = Signum;
}

}  // namespace mxgrid::ops::optimizer
