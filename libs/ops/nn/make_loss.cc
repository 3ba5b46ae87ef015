// MakeLoss [make_loss] and smooth_l1, as MXNet 1.9.1 defines them.
//
// MakeLoss(data, grad_scale=1, valid_thresh=0, normalization='null'|'batch'|'valid') is the
// identity forward; as a loss op its backward ignores the head gradient and writes
// grad_scale, divided by the row count of data flattened to 2-D (size / last dim) for
// 'batch', or by max(1, #elements > valid_thresh) for 'valid'.
// smooth_l1(data, scalar=1 [sigma]): 0.5 (sigma x)^2 where |x| < 1/sigma^2, else
// |x| - 0.5/sigma^2; gradient sigma^2 x there, else sign(x). float32/float64.
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

absl::Status Identity(const char* op, const TensorView& x, OpReq req, const TensorView& y) {
  if (req == OpReq::kNull) return absl::OkStatus();
  return DispatchFloat(op, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < x.size(); ++i) Store(req, y.as<T>(), i, x.as<T>()[i]);
    return absl::OkStatus();
  });
}

}  // namespace

OpDef MakeMakeLossOp() {
  OpDef d = NewUnaryOp("MakeLoss", "Marks data as a loss: backward writes grad_scale.");
  d.aliases = {"make_loss"};
  d.params = {Spec("grad_scale", "float", "1", "Gradient scale."),
              Spec("valid_thresh", "float", "0", "Threshold of 'valid' normalization."),
              Spec("normalization", "{'batch', 'null', 'valid'}", "'null'",
                   "How the gradient is normalized.")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<MakeLossParams>();
    ParamReader r("MakeLoss", attrs);
    MXGRID_RETURN_IF_ERROR(r.Float("grad_scale", &p->grad_scale, 1));
    MXGRID_RETURN_IF_ERROR(r.Float("valid_thresh", &p->valid_thresh, 0));
    MXGRID_RETURN_IF_ERROR(
        r.Enum("normalization", &p->normalization, {"null", "batch", "valid"}, "null"));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return Identity("MakeLoss", in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<MakeLossParams>(params);
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const TensorView& dx = a.in_grads[0];
    return DispatchFloat("MakeLoss", dx.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      double g = p.grad_scale;
      if (p.normalization == "batch") {
        const int64_t last = dx.shape.ndim() > 0 ? dx.shape[dx.shape.ndim() - 1] : 1;
        if (last > 0 && dx.size() > 0) g /= static_cast<double>(dx.size() / last);
      } else if (p.normalization == "valid") {
        const T* x = a.inputs[0].as<T>();
        double count = 0;
        for (int64_t i = 0; i < dx.size(); ++i) count += p.valid_thresh < x[i] ? 1 : 0;
        g /= std::max(1.0, count);
      }
      for (int64_t i = 0; i < dx.size(); ++i) Store(a.reqs[0], dx.as<T>(), i, static_cast<T>(g));
      return absl::OkStatus();
    });
  };
  d.backward_deps = {true, false};
  d.is_loss = true;
  d.inplace = {{0, 0}};
  return d;
}

OpDef MakeSmoothL1Op() {
  OpDef d = NewUnaryOp("smooth_l1", "Smooth L1 loss of each element (sigma = scalar).");
  d.params = {Spec("scalar", "double", "1", "sigma."),
              Spec("is_int", "boolean", "1", "Whether scalar was an integer (ignored).")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SmoothL1Params>();
    ParamReader r("smooth_l1", attrs);
    bool is_int = true;
    MXGRID_RETURN_IF_ERROR(r.Float("scalar", &p->sigma, 1));
    MXGRID_RETURN_IF_ERROR(r.Bool("is_int", &is_int, true));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const double bsq = ParamsAs<SmoothL1Params>(params).sigma *
                       ParamsAs<SmoothL1Params>(params).sigma;
    return DispatchFloat("smooth_l1", in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      for (int64_t i = 0; i < in[0].size(); ++i) {
        const double a = x[i];
        const double y = a > 1 / bsq ? a - 0.5 / bsq : a < -1 / bsq ? -a - 0.5 / bsq
                                                                    : 0.5 * a * a * bsq;
        Store(reqs[0], out[0].as<T>(), i, static_cast<T>(y));
      }
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const double bsq = ParamsAs<SmoothL1Params>(params).sigma *
                       ParamsAs<SmoothL1Params>(params).sigma;
    return DispatchFloat("smooth_l1", a.in_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = a.inputs[0].as<T>();
      const T* dy = a.out_grads[0].as<T>();
      for (int64_t i = 0; i < a.in_grads[0].size(); ++i) {
        const double v = x[i];
        const double g = v > 1 / bsq ? 1.0 : v < -1 / bsq ? -1.0 : bsq * v;
        Store(a.reqs[0], a.in_grads[0].as<T>(), i, static_cast<T>(g * dy[i]));
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = {true, false};
  d.inplace = {{0, 0}};
  return d;
}

}  // namespace mxgrid::ops::nn
