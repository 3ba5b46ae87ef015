// LAMB's phases on the GPU (lamb_ops.cc's kernels, element for element):
// lamb_update_phase1, lamb_update_phase2 and their mixed-precision variants. Phase 2's
// learning rate reads the norms r1, r2 (device arrays of one element) in every thread.
#include <cmath>

#include "libs/ops/optimizer/optimizer_cuda_util.h"

namespace mxgrid::ops::optimizer {
namespace {

using Span = absl::Span<const TensorView>;
using cu::Assign;
using cu::Ld;
using cu::Ptr;
using cu::St;

// lamb_ops.cc's Phase1<C>, in the host compute type H.
template <typename H>
struct Phase1 {
  H wd, rescale, clip, beta1, beta2, beta1_t, beta2_t, eps;
  bool bias_correction;
  explicit Phase1(const UpdateParams& p)
      : wd(p.Param<H>("wd")), rescale(p.Param<H>("rescale_grad")),
        clip(p.Param<H>("clip_gradient")), beta1(p.Param<H>("beta1")),
        beta2(p.Param<H>("beta2")),
        beta1_t(static_cast<H>(std::pow(static_cast<double>(static_cast<float>(p.Get("beta1"))),
                                        static_cast<int>(p.Get("t"))))),
        beta2_t(static_cast<H>(std::pow(static_cast<double>(static_cast<float>(p.Get("beta2"))),
                                        static_cast<int>(p.Get("t"))))),
        eps(p.Param<H>("epsilon")), bias_correction(p.Get("bias_correction") != 0) {}
};

// Weight w (W) or master copy w32 (S); mean, var and the output g in S (W when plain).
template <typename W, typename S, typename C>
struct Phase1Op {
  const W* w;
  const W* grad;
  S* mean;
  S* var;
  const S* w32;  // null: lamb_update_phase1
  S* out;
  int req;
  Phase1<typename C::Raw> h;
  __device__ void operator()(int64_t i) const {
    C m = Ld<C, S>(mean, i), v = Ld<C, S>(var, i);
    const C w0 = w32 != nullptr ? Ld<C, S>(w32, i) : Ld<C, W>(w, i);
    const C g = rules::LambPhase1<C>(w0, Ld<C, W>(grad, i), &m, &v, h.wd, h.rescale, h.clip,
                                     h.beta1, h.beta2, h.beta1_t, h.beta2_t, h.eps,
                                     h.bias_correction);
    St<C, S>(mean, i, m);
    St<C, S>(var, i, v);
    Assign<C, S>(req, out, i, g);
  }
};

absl::Status LambPhase1Plain(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                             const TensorView& out) {
  return cu::RunPlain(ctx, "lamb_update_phase1", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               Phase1Op<W, W, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]),
                                          Ptr<W>(in[2]), Ptr<W>(in[3]), nullptr, Ptr<W>(out),
                                          cu::Req(req), Phase1<H>(p)});
  });
}

absl::Status LambPhase1Mixed(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                             const TensorView& out) {
  return cu::RunMixed(ctx, "mp_lamb_update_phase1", in, 2, [&](auto wt, auto st, auto ht) {
    using W = typename decltype(wt)::type;
    using S = typename decltype(st)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               Phase1Op<W, S, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]),
                                          Ptr<S>(in[2]), Ptr<S>(in[3]), Ptr<const S>(in[4]),
                                          Ptr<S>(out), cu::Req(req), Phase1<H>(p)});
  });
}

// Weight w (W) or master copy w32 (S, updated too); g, r1, r2 in S (W when plain).
template <typename W, typename S, typename C>
struct Phase2Op {
  const W* w;
  const S* g;
  const S* r1;
  const S* r2;
  S* w32;  // null: lamb_update_phase2
  W* out;
  int req;
  typename C::Raw lr, lower, upper;
  __device__ void operator()(int64_t i) const {
    const C rate = rules::LambRate<C>(lr, Ld<C, S>(r1, 0), Ld<C, S>(r2, 0), lower, upper);
    if (w32 == nullptr) {
      Assign<C, W>(req, out, i, Ld<C, W>(w, i) - rate * Ld<C, S>(g, i));
      return;
    }
    const C nw = Ld<C, S>(w32, i) - rate * Ld<C, S>(g, i);
    St<C, S>(w32, i, nw);
    Assign<C, W>(req, out, i, nw);
  }
};

absl::Status LambPhase2Plain(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                             const TensorView& out) {
  return cu::RunPlain(ctx, "lamb_update_phase2", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               Phase2Op<W, W, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]),
                                          Ptr<const W>(in[2]), Ptr<const W>(in[3]), nullptr,
                                          Ptr<W>(out), cu::Req(req), p.Param<H>("lr"),
                                          p.Param<H>("lower_bound"),
                                          p.Param<H>("upper_bound")});
  });
}

absl::Status LambPhase2Mixed(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                             const TensorView& out) {
  return cu::RunMixed(ctx, "mp_lamb_update_phase2", in, 1, [&](auto wt, auto st, auto ht) {
    using W = typename decltype(wt)::type;
    using S = typename decltype(st)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               Phase2Op<W, S, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const S>(in[1]),
                                          Ptr<const S>(in[2]), Ptr<const S>(in[3]),
                                          Ptr<S>(in[4]), Ptr<W>(out), cu::Req(req),
                                          p.Param<H>("lr"), p.Param<H>("lower_bound"),
                                          p.Param<H>("upper_bound")});
  });
}

}  // namespace

void AddLambGpuKernels(std::map<std::string, GpuUpdateKernel>* kernels) {
  (*kernels)["lamb_update_phase1"] = LambPhase1Plain;
  (*kernels)["mp_lamb_update_phase1"] = LambPhase1Mixed;
  (*kernels)["lamb_update_phase2"] = LambPhase2Plain;
  (*kernels)["mp_lamb_update_phase2"] = LambPhase2Mixed;
}

}  // namespace mxgrid::ops::optimizer
