// multi_sgd_update, multi_sgd_mom_update, multi_mp_sgd_update and multi_mp_sgd_mom_update
// on the GPU (multi_sgd_ops.cc's arithmetic: MultiSGDKernel's SgdMomStep with a zero
// momentum state when there is none), one kernel launch per weight after the whole call is
// checked.
#include "libs/base/status_macros.h"
#include "libs/ops/optimizer/multi_sgd_params.h"
#include "libs/ops/optimizer/optimizer_cuda_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::optimizer {
namespace {

using cu::Assign;
using cu::Ld;
using cu::Ptr;
using cu::St;

// One weight's update: weight w (W) or master copy w32 (S); mom in S (null: none).
template <typename W, typename S, typename C>
struct MultiSgdOp {
  const W* w;
  const W* g;
  S* mom;
  S* w32;
  W* out;
  int req;
  typename C::Raw lr, wd, momentum, rescale, clip;
  __device__ void operator()(int64_t i) const {
    const C w0 = w32 != nullptr ? Ld<C, S>(w32, i) : Ld<C, W>(w, i);
    C m = mom != nullptr ? Ld<C, S>(mom, i) : C(0);
    const C nw = rules::SgdMomStep<C>(w0, Ld<C, W>(g, i), &m, momentum, lr, wd, rescale, clip);
    if (mom != nullptr) St<C, S>(mom, i, m);
    if (w32 != nullptr) St<C, S>(w32, i, nw);
    Assign<C, W>(req, out, i, nw);
  }
};

absl::Status Forward(const MultiSgdVariant& v, const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<MultiSgdParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckMultiSgdCall(v, p, in, reqs, out));
  const int g = v.group();
  for (size_t w = 0; w < out.size(); ++w) {
    const absl::Span<const TensorView> group = in.subspan(w * g, g);
    auto run = [&](auto wt, auto st, auto ht) {
      using W = typename decltype(wt)::type;
      using S = typename decltype(st)::type;
      using H = typename decltype(ht)::type;
      MultiSgdOp<W, S, cu::Dev<H>> op{Ptr<const W>(group[0]),
                                      Ptr<const W>(group[1]),
                                      v.momentum ? Ptr<S>(group[2]) : nullptr,
                                      v.mixed ? Ptr<S>(group[g - 1]) : nullptr,
                                      Ptr<W>(out[w]),
                                      cu::Req(reqs[w]),
                                      rules::OpParam<H>(p.lrs[w]),
                                      rules::OpParam<H>(p.wds[w]),
                                      rules::OpParam<H>(p.momentum),
                                      rules::OpParam<H>(p.rescale_grad),
                                      rules::OpParam<H>(p.clip_gradient)};
      cu::Launch(ctx, group[0].size(), op);
    };
    MXGRID_RETURN_IF_ERROR(
        v.mixed ? cu::RunMixed(ctx, v.name.c_str(), group, 2, run)
                : cu::RunPlain(ctx, v.name.c_str(), group,
                               [&](auto wt, auto ht) { run(wt, wt, ht); }));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterMultiSgdCuda(Registry* registry) {
  for (const MultiSgdVariant& v : {MultiSgdVariant{"multi_sgd_update", false, false},
                                   MultiSgdVariant{"multi_sgd_mom_update", true, false},
                                   MultiSgdVariant{"multi_mp_sgd_update", false, true},
                                   MultiSgdVariant{"multi_mp_sgd_mom_update", true, true}}) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(v.name));
    d->gpu_forward = [v](const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
      return Forward(v, ctx, params, in, reqs, out);
    };
    d->gpu_dtypes = {DType::kFloat16, DType::kFloat32, DType::kFloat64};
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::optimizer
