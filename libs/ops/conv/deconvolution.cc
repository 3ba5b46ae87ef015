// Deconvolution (transposed convolution, 1-D NCW, 2-D NCHW, 3-D NCDHW) through the direct loops.
//
// A deconvolution of x (n, c, in...) with weight (c, f / groups, k...) is the backward-data
// pass of the convolution whose input is the deconvolution's output y (n, f, out...) and whose
// output is x, with the same weight: forward = ConvBackwardData, backward-data = ConvForward,
// weight gradient = ConvBackwardWeight with (x, dy) as (dy, x).
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {

namespace {

constexpr char kOp[] = "Deconvolution";

bool HasTarget(const ConvParams& p) {
  for (int64_t t : p.target_shape) {
    if (t != 0) return true;
  }
  return false;
}

// MXNet's InferPad: with a target shape, pad and adj are derived from it.
void EffectivePadAdj(const ConvParams& p, int i, int64_t in_sp, int64_t* pad, int64_t* adj) {
  if (!HasTarget(p)) {
    *pad = p.pad[i];
    *adj = p.adj[i];
    return;
  }
  const int64_t dk = 1 + (p.kernel[i] - 1) * p.dilate[i];
  const int64_t total = p.stride[i] * (in_sp - 1) + dk - p.target_shape[i];
  *adj = total % 2;
  *pad = (total + 1) / 2;
}

absl::Status InferDeconvShape(const OpParams& params, std::vector<InferShape>* in,
                              std::vector<InferShape>* out) {
  const auto& p = ParamsAs<ConvParams>(params);
  const int nd = static_cast<int>(p.kernel.size());
  InferShape& data = (*in)[0];
  if (!p.no_bias) MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "bias", Shape{p.num_filter}, &(*in)[2]));
  if (!data) return absl::OkStatus();
  if (data->ndim() != nd + 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": data ", data->ToString(), " must have ", nd + 2,
                     " dimensions for kernel ", TupleString(p.kernel)));
  }
  // MXNet 1.9.1 has no dilated 3-D Deconvolution (its shape function refuses any dilate
  // but 1).
  if (nd == 3) {
    for (int64_t d : p.dilate) {
      if (d != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            kOp, ": dilate ", TupleString(p.dilate),
            " is not supported for 3-D kernels (MXNet has no dilated 3-D Deconvolution)"));
      }
    }
  }
  const int64_t c = (*data)[1];
  if (p.num_filter % p.num_group != 0 || (c >= 0 && c % p.num_group != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": channels ", c, " of data ", data->ToString(), " and num_filter ", p.num_filter,
        " must be divisible by num_group ", p.num_group));
  }
  if (c >= 0) {
    std::vector<int64_t> w = {c, p.num_filter / p.num_group};
    w.insert(w.end(), p.kernel.begin(), p.kernel.end());
    MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "weight", Shape(w), &(*in)[1]));
  }
  const InferShape& o = (*out)[0];
  if (o && o->ndim() == nd + 2 && (*data)[0] < 0) (*data)[0] = (*o)[0];
  std::vector<int64_t> y = {(*data)[0], p.num_filter};
  for (int i = 0; i < nd; ++i) {
    const int64_t in_sp = (*data)[i + 2];
    if (in_sp < 0) {
      y.push_back(HasTarget(p) ? p.target_shape[i] : -1);
      continue;
    }
    const int64_t dk = 1 + (p.kernel[i] - 1) * p.dilate[i];
    // stride * (in - 1) + dk must fit int64 (the data's length comes from the request).
    if (in_sp > 1 && in_sp - 1 > (std::numeric_limits<int64_t>::max() - dk) / p.stride[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": data ", data->ToString(), " with stride ", TupleString(p.stride),
          " gives an output too large to represent"));
    }
    const int64_t full = p.stride[i] * (in_sp - 1) + dk;
    if (HasTarget(p)) {
      if (p.target_shape[i] > full) {
        return absl::InvalidArgumentError(absl::StrCat(
            kOp, ": target_shape ", TupleString(p.target_shape), " is too big for data ",
            data->ToString(), " (at most ", full, " in dimension ", i, ")"));
      }
      // The adj a target implies (the parity of the cut) must be below the stride too.
      if ((full - p.target_shape[i]) % 2 >= p.stride[i]) {
        return absl::InvalidArgumentError(absl::StrCat(
            kOp, ": target_shape ", TupleString(p.target_shape), " needs an adj of 1 in dimension ",
            i, " but stride ", TupleString(p.stride), " allows none there"));
      }
      y.push_back(p.target_shape[i]);
      continue;
    }
    if (p.adj[i] >= p.stride[i]) {
      return absl::InvalidArgumentError(absl::StrCat(kOp, ": adj ", TupleString(p.adj),
                                                     " must be smaller than stride ",
                                                     TupleString(p.stride)));
    }
    const int64_t sp = full - 2 * p.pad[i] + p.adj[i];
    if (sp < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": pad ", TupleString(p.pad), " leaves no output for data ", data->ToString()));
    }
    y.push_back(sp);
  }
  return MergeShape(kOp, "output", Shape(y), &(*out)[0]);
}

template <typename T>
absl::Status ForwardT(const ConvParams& p, const ConvGeom& g, absl::Span<const TensorView> in,
                      OpReq req, const TensorView& out) {
  std::vector<T> y(out.size(), T(0));
  ConvBackwardDataLoops(g, in[0].as<T>(), in[1].as<T>(), y.data());
  if (!p.no_bias) {
    const T* bias = in[2].as<T>();
    const int64_t plane = g.in_plane();
    for (int64_t i = 0; i < out.size(); ++i) y[i] += bias[(i / plane) % g.c];
  }
  ApplyReq(req, y.data(), out.size(), out.as<T>());
  return absl::OkStatus();
}

// Computes only the wanted gradients (a kNull one gets no buffer and no pass).
template <typename T>
absl::Status BackwardT(const ConvParams& p, const ConvGeom& g, const BackwardArgs& a) {
  const T* x = a.inputs[0].as<T>();
  const T* w = a.inputs[1].as<T>();
  const T* dy = a.out_grads[0].as<T>();
  const OpReq req_b = p.no_bias ? OpReq::kNull : a.reqs[2];
  std::vector<T> dx = GradScratch<T>(a.reqs[0], a.inputs[0].size());
  std::vector<T> dw = GradScratch<T>(a.reqs[1], a.inputs[1].size());
  std::vector<T> db = GradScratch<T>(req_b, g.c);
  if (!dx.empty()) ConvForwardLoops(g, dy, w, dx.data());
  if (!dw.empty()) ConvBackwardWeightLoops(g, dy, x, dw.data());
  // The deconvolution's output y is the loop geometry's input: (n, c, h, w).
  if (!db.empty()) AccumulateBiasGrad(dy, g.n, g.c, g.in_plane(), db.data());
  ApplyReq(a.reqs[0], dx.data(), static_cast<int64_t>(dx.size()), a.in_grads[0].as<T>());
  ApplyReq(a.reqs[1], dw.data(), static_cast<int64_t>(dw.size()), a.in_grads[1].as<T>());
  if (!db.empty()) ApplyReq(req_b, db.data(), g.c, a.in_grads[2].as<T>());
  return absl::OkStatus();
}

absl::Status DeconvForward(const OpContext&, const OpParams& params,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<ConvParams>(params);
  const ConvGeom g = DeconvGeomOf(p, in[0].shape, out[0].shape);
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    return ForwardT<typename decltype(tag)::type>(p, g, in, reqs[0], out[0]);
  });
}

absl::Status DeconvBackward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<ConvParams>(params);
  const ConvGeom g = DeconvGeomOf(p, a.inputs[0].shape, a.out_grads[0].shape);
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
    return BackwardT<typename decltype(tag)::type>(p, g, a);
  });
}

}  // namespace

// The convolution y -> x (y: deconv output, x: deconv input) as loop geometry.
ConvGeom DeconvGeomOf(const ConvParams& p, const Shape& x, const Shape& y) {
  ConvParams q = p;
  std::vector<int64_t> in_sp(x.dims().begin() + 2, x.dims().end());
  std::vector<int64_t> out_sp(y.dims().begin() + 2, y.dims().end());
  for (size_t i = 0; i < q.pad.size(); ++i) {
    int64_t adj = 0;
    EffectivePadAdj(p, static_cast<int>(i), in_sp[i], &q.pad[i], &adj);
  }
  return MakeGeom(x[0], y[1], x[1], out_sp, in_sp, q);
}

absl::Status RegisterDeconvolution(Registry* registry) {
  OpDef def = NewConvOpDef(
      kOp, "1-D/2-D/3-D transposed convolution over NCW/NCHW/NCDHW data (MXNet Deconvolution).",
      /*deconv=*/true);
  def.infer_shape = InferDeconvShape;
  def.forward = DeconvForward;
  def.backward = DeconvBackward;
  return registry->Register(std::move(def));
}

}  // namespace mxgrid::ops::conv_internal
