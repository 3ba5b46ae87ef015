// The adaptive-rate update operators on the GPU (adaptive_ops.cc's kernels, element for
// element): adam_update, _adamw_update / _mp_adamw_update, rmsprop_update,
// rmspropalex_update, ftrl_update, _sparse_adagrad_update (dense arrays) and ftml_update.
#include <cmath>

#include "libs/ops/optimizer/optimizer_cuda_util.h"

namespace mxgrid::ops::optimizer {
namespace {

using Span = absl::Span<const TensorView>;
using cu::Assign;
using cu::Ld;
using cu::Ptr;
using cu::St;

template <typename W, typename C>
struct AdamOp {
  const W* w;
  const W* g;
  W* mean;
  W* var;
  W* out;
  int req;
  typename C::Raw lr, wd, rescale, clip, beta1, beta2, eps;
  __device__ void operator()(int64_t i) const {
    C m = Ld<C, W>(mean, i), v = Ld<C, W>(var, i);
    const C nw = rules::AdamStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), &m, &v, lr, wd, rescale,
                                    clip, beta1, beta2, eps);
    St<C, W>(mean, i, m);
    St<C, W>(var, i, v);
    Assign<C, W>(req, out, i, nw);
  }
};

absl::Status Adam(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                  const TensorView& out) {
  return cu::RunPlain(ctx, "adam_update", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               AdamOp<W, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<W>(in[2]),
                                     Ptr<W>(in[3]), Ptr<W>(out), cu::Req(req),
                                     p.Param<H>("lr"), p.Param<H>("wd"),
                                     p.Param<H>("rescale_grad"), p.Param<H>("clip_gradient"),
                                     p.Param<H>("beta1"), p.Param<H>("beta2"),
                                     p.Param<H>("epsilon")});
  });
}

// The rescale_grad array's dtype: 0 float32, 1 float64, 2 float16.
int ScaleKind(DType d) { return d == DType::kFloat64 ? 1 : d == DType::kFloat16 ? 2 : 0; }

// AdamW: the weight (or master copy w32) moves unless rescale_grad (read on the device, as
// adaptive_ops.cc's ReadScale) is 0 or not finite; then the output gets the weight as is.
template <typename W, typename S, typename C>
struct AdamWOp {
  const W* w;
  const W* g;
  S* mean;
  S* var;
  S* w32;  // null: _adamw_update
  const void* scale;
  int scale_kind;
  W* out;
  int req;
  typename C::Raw lr, wd, eta, clip, beta1, beta2, eps;
  __device__ void operator()(int64_t i) const {
    double s;
    if (scale_kind == 1) {
      s = static_cast<const double*>(scale)[0];
    } else if (scale_kind == 2) {
      s = Ld<cu::F32, Half>(static_cast<const Half*>(scale), 0).v;
    } else {
      s = static_cast<const float*>(scale)[0];
    }
    const C w0 = w32 != nullptr ? Ld<C, S>(w32, i) : Ld<C, W>(w, i);
    if (!isfinite(s) || s == 0) {
      Assign<C, W>(req, out, i, w0);
      return;
    }
    // rules::OpParam<C>(scale): MXNet's float parameter.
    const C rescale = static_cast<typename C::Raw>(static_cast<float>(s));
    C m = Ld<C, S>(mean, i), v = Ld<C, S>(var, i);
    const C nw = rules::AdamWStep<C>(w0, Ld<C, W>(g, i), &m, &v, lr, wd, eta, rescale, clip,
                                     beta1, beta2, eps);
    St<C, S>(mean, i, m);
    St<C, S>(var, i, v);
    if (w32 != nullptr) St<C, S>(w32, i, nw);
    Assign<C, W>(req, out, i, nw);
  }
};

template <bool kMixed>
absl::Status AdamW(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                   const TensorView& out) {
  const char* name = kMixed ? "_mp_adamw_update" : "_adamw_update";
  const TensorView& scale = in[kMixed ? 5 : 4];
  if (scale.dtype != DType::kFloat32 && scale.dtype != DType::kFloat64 &&
      scale.dtype != DType::kFloat16) {
    return absl::InvalidArgumentError(std::string(name) + ": rescale_grad must be a float array");
  }
  auto body = [&](auto wt, auto st, auto ht) {
    using W = typename decltype(wt)::type;
    using S = typename decltype(st)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               AdamWOp<W, S, cu::Dev<H>>{
                   Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<S>(in[2]), Ptr<S>(in[3]),
                   kMixed ? Ptr<S>(in[4]) : nullptr, scale.data, ScaleKind(scale.dtype),
                   Ptr<W>(out), cu::Req(req), p.Param<H>("lr"), p.Param<H>("wd"),
                   p.Param<H>("eta"), p.Param<H>("clip_gradient"), p.Param<H>("beta1"),
                   p.Param<H>("beta2"), p.Param<H>("epsilon")});
  };
  if (kMixed) return cu::RunMixed(ctx, name, in, 2, body);
  return cu::RunPlain(ctx, name, in, [&](auto wt, auto ht) { body(wt, wt, ht); });
}

template <typename W, typename C>
struct RmsPropOp {
  const W* w;
  const W* g;
  W* n;
  W* gs;     // rmspropalex only
  W* delta;  // rmspropalex only
  W* out;
  int req;
  typename C::Raw lr, wd, rescale, clip, gamma1, gamma2, eps, clip_w;
  __device__ void operator()(int64_t i) const {
    C ni = Ld<C, W>(n, i);
    if (gs == nullptr) {
      const C nw = rules::RmsPropStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), &ni, lr, wd, rescale,
                                         clip, gamma1, eps, clip_w);
      St<C, W>(n, i, ni);
      Assign<C, W>(req, out, i, nw);
      return;
    }
    C gi = Ld<C, W>(gs, i), di = Ld<C, W>(delta, i);
    const C nw = rules::RmsPropAlexStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), &ni, &gi, &di, lr,
                                           wd, rescale, clip, gamma1, gamma2, eps, clip_w);
    St<C, W>(n, i, ni);
    St<C, W>(gs, i, gi);
    St<C, W>(delta, i, di);
    Assign<C, W>(req, out, i, nw);
  }
};

GpuUpdateKernel RmsProp(const char* name, bool alex) {
  return [=](const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
             const TensorView& out) {
    return cu::RunPlain(ctx, name, in, [&](auto wt, auto ht) {
      using W = typename decltype(wt)::type;
      using H = typename decltype(ht)::type;
      cu::Launch(ctx, in[0].size(),
                 RmsPropOp<W, cu::Dev<H>>{
                     Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<W>(in[2]),
                     alex ? Ptr<W>(in[3]) : nullptr, alex ? Ptr<W>(in[4]) : nullptr,
                     Ptr<W>(out), cu::Req(req), p.Param<H>("lr"), p.Param<H>("wd"),
                     p.Param<H>("rescale_grad"), p.Param<H>("clip_gradient"),
                     p.Param<H>("gamma1"), alex ? p.Param<H>("gamma2") : H(0),
                     p.Param<H>("epsilon"), p.Param<H>("clip_weights")});
    });
  };
}

template <typename W, typename C>
struct FtrlOp {
  const W* w;
  const W* g;
  W* z;
  W* n;
  W* out;
  int req;
  typename C::Raw lr, wd, rescale, clip, lamda1, beta;
  __device__ void operator()(int64_t i) const {
    C zi = Ld<C, W>(z, i), ni = Ld<C, W>(n, i);
    const C nw = rules::FtrlStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), &zi, &ni, lr, wd, rescale,
                                    clip, lamda1, beta);
    St<C, W>(z, i, zi);
    St<C, W>(n, i, ni);
    Assign<C, W>(req, out, i, nw);
  }
};

absl::Status Ftrl(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                  const TensorView& out) {
  return cu::RunPlain(ctx, "ftrl_update", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               FtrlOp<W, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<W>(in[2]),
                                     Ptr<W>(in[3]), Ptr<W>(out), cu::Req(req),
                                     p.Param<H>("lr"), p.Param<H>("wd"),
                                     p.Param<H>("rescale_grad"), p.Param<H>("clip_gradient"),
                                     p.Param<H>("lamda1"), p.Param<H>("beta")});
  });
}

template <typename W, typename C>
struct AdaGradOp {
  const W* w;
  const W* g;
  W* history;
  W* out;
  int req;
  typename C::Raw lr, rescale, clip, eps;
  __device__ void operator()(int64_t i) const {
    const C c = clip;
    C gi = Ld<C, W>(g, i) * C(rescale);
    if (c >= C(0)) {
      // std::max(-clip, std::min(clip, g)).
      const C lo = gi < c ? gi : c;
      gi = -c < lo ? lo : -c;
    }
    const C h = Ld<C, W>(history, i) + gi * gi;
    St<C, W>(history, i, h);
    Assign<C, W>(req, out, i, Ld<C, W>(w, i) - gi / rules::Sqrt(h + C(eps)) * C(lr));
  }
};

absl::Status SparseAdaGrad(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                           const TensorView& out) {
  if (p.Get("wd") != 0) {
    return absl::InvalidArgumentError("_sparse_adagrad_update does not support wd (set wd=0)");
  }
  return cu::RunPlain(ctx, "_sparse_adagrad_update", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    cu::Launch(ctx, in[0].size(),
               AdaGradOp<W, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]),
                                        Ptr<W>(in[2]), Ptr<W>(out), cu::Req(req),
                                        p.Param<H>("lr"), p.Param<H>("rescale_grad"),
                                        p.Param<H>("clip_gradient"), p.Param<H>("epsilon")});
  });
}

template <typename W, typename C>
struct FtmlOp {
  const W* w;
  const W* g;
  W* d;
  W* v;
  W* z;
  W* out;
  int req;
  typename C::Raw lr, wd, rescale, clip, beta1, beta2, beta1_t, beta2_t, eps;
  __device__ void operator()(int64_t i) const {
    C di = Ld<C, W>(d, i), vi = Ld<C, W>(v, i), zi = Ld<C, W>(z, i);
    const C nw = rules::FtmlStep<C>(Ld<C, W>(w, i), Ld<C, W>(g, i), &di, &vi, &zi, lr, wd,
                                    rescale, clip, beta1, beta2, beta1_t, beta2_t, eps);
    St<C, W>(d, i, di);
    St<C, W>(v, i, vi);
    St<C, W>(z, i, zi);
    Assign<C, W>(req, out, i, nw);
  }
};

absl::Status Ftml(const OpContext& ctx, const UpdateParams& p, Span in, OpReq req,
                  const TensorView& out) {
  return cu::RunPlain(ctx, "ftml_update", in, [&](auto wt, auto ht) {
    using W = typename decltype(wt)::type;
    using H = typename decltype(ht)::type;
    // As adaptive_ops.cc's FtmlKernel (epsilon and t cast straight to H; pow on the host).
    const H beta1 = p.Param<H>("beta1"), beta2 = p.Param<H>("beta2");
    const H t = static_cast<H>(p.Get("t"));
    const H beta1_t = std::pow(beta1, t), beta2_t = std::pow(beta2, t);
    cu::Launch(ctx, in[0].size(),
               FtmlOp<W, cu::Dev<H>>{Ptr<const W>(in[0]), Ptr<const W>(in[1]), Ptr<W>(in[2]),
                                     Ptr<W>(in[3]), Ptr<W>(in[4]), Ptr<W>(out), cu::Req(req),
                                     p.Param<H>("lr"), p.Param<H>("wd"),
                                     p.Param<H>("rescale_grad"), p.Param<H>("clip_grad"), beta1,
                                     beta2, beta1_t, beta2_t,
                                     static_cast<H>(p.Get("epsilon"))});
  });
}

}  // namespace

void AddAdaptiveGpuKernels(std::map<std::string, GpuUpdateKernel>* kernels) {
  (*kernels)["adam_update"] = Adam;
  (*kernels)["_adamw_update"] = AdamW<false>;
  (*kernels)["_mp_adamw_update"] = AdamW<true>;
  (*kernels)["rmsprop_update"] = RmsProp("rmsprop_update", false);
  (*kernels)["rmspropalex_update"] = RmsProp("rmspropalex_update", true);
  (*kernels)["ftrl_update"] = Ftrl;
  (*kernels)["_sparse_adagrad_update"] = SparseAdaGrad;
  (*kernels)["ftml_update"] = Ftml;
}

}  // namespace mxgrid::ops::optimizer
