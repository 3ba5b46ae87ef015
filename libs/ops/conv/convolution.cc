// Convolution (1-D NCW, 2-D NCHW, 3-D NCDHW): float32 through oneDNN, float64 through direct loops.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {

namespace {

constexpr char kOp[] = "Convolution";

absl::Status InferConvShape(const OpParams& params, std::vector<InferShape>* in,
                            std::vector<InferShape>* out) {
  const auto& p = ParamsAs<ConvParams>(params);
  const int nd = static_cast<int>(p.kernel.size());
  InferShape& data = (*in)[0];
  if (!data) return absl::OkStatus();
  if (data->ndim() != nd + 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": data ", data->ToString(), " must have ", nd + 2,
                     " dimensions for kernel ", TupleString(p.kernel)));
  }
  const int64_t c = (*data)[1];
  if (c >= 0 && (c % p.num_group != 0 || p.num_filter % p.num_group != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": channels ", c, " of data ", data->ToString(), " and num_filter ",
        p.num_filter, " must be divisible by num_group ", p.num_group));
  }
  // With the channels unknown the weight is still partly known: (num_filter, -1, kernel),
  // as MXNet's infer_shape_partial reports it ((64, 0, 7, 7)).
  std::vector<int64_t> w = {p.num_filter, c >= 0 ? c / p.num_group : -1};
  w.insert(w.end(), p.kernel.begin(), p.kernel.end());
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "weight", Shape(w), &(*in)[1]));
  if (!p.no_bias) MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "bias", Shape{p.num_filter}, &(*in)[2]));
  // Back-infer batch (and spatial dims when stride is 1) from a known output.
  const InferShape& o = (*out)[0];
  if (o && o->ndim() == nd + 2) {
    if ((*data)[0] < 0) (*data)[0] = (*o)[0];
    for (int i = 0; i < nd; ++i) {
      const int64_t dk = 1 + (p.kernel[i] - 1) * p.dilate[i];
      if ((*data)[i + 2] < 0 && (*o)[i + 2] >= 0 && p.stride[i] == 1) {
        (*data)[i + 2] = (*o)[i + 2] - 2 * p.pad[i] + dk - 1;
      }
    }
  }
  std::vector<int64_t> y = {(*data)[0], p.num_filter};
  for (int i = 0; i < nd; ++i) {
    const int64_t in_sp = (*data)[i + 2];
    const int64_t dk = 1 + (p.kernel[i] - 1) * p.dilate[i];
    if (in_sp < 0) {
      y.push_back(-1);
      continue;
    }
    if (dk > in_sp + 2 * p.pad[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": kernel ", TupleString(p.kernel), " with dilate ", TupleString(p.dilate),
          " is larger than data ", data->ToString(), " padded by ", TupleString(p.pad)));
    }
    y.push_back((in_sp + 2 * p.pad[i] - dk) / p.stride[i] + 1);
  }
  return MergeShape(kOp, "output", Shape(y), &(*out)[0]);
}

template <typename T>
absl::Status ForwardT(const ConvParams& p, const ConvGeom& g, absl::Span<const TensorView> in,
                      OpReq req, const TensorView& out) {
  const T* bias = p.no_bias ? nullptr : in[2].as<T>();
  if constexpr (std::is_same_v<T, float>) {
    // oneDNN writes the output itself: no scratch unless the request adds.
    return WriteFloats(req, out.size(), out.as<float>(), [&](float* y) {
      return DnnlConvForward(g, in[0].as<float>(), in[1].as<float>(), bias, y);
    });
  } else {
    std::vector<T> y(out.size(), T(0));
    ConvForwardLoops(g, in[0].as<T>(), in[1].as<T>(), y.data());
    if (bias != nullptr) {
      const int64_t plane = g.out_plane();
      for (int64_t i = 0; i < out.size(); ++i) y[i] += bias[(i / plane) % g.f];
    }
    ApplyReq(req, y.data(), out.size(), out.as<T>());
    return absl::OkStatus();
  }
}

// float32 gradients on oneDNN, written straight into the gradient arrays (scratch only for
// kAddTo); dw and db come from one weight pass, and both passes share one reorder of dy.
absl::Status BackwardDnnl(const ConvParams& p, const ConvGeom& g, const BackwardArgs& a) {
  const float* x = a.inputs[0].as<float>();
  const float* w = a.inputs[1].as<float>();
  const float* dy = a.out_grads[0].as<float>();
  const OpReq req_x = a.reqs[0], req_w = a.reqs[1];
  const OpReq req_b = p.no_bias ? OpReq::kNull : a.reqs[2];
  // Where a request adds, its pass writes into scratch that is added afterwards.
  std::vector<float> dx_add, dw_add, db_add;
  // in_grads has no bias entry under no_bias: index only wanted gradients.
  auto target = [&a](OpReq req, size_t i, int64_t n, std::vector<float>* add) {
    if (req == OpReq::kNull) return static_cast<float*>(nullptr);
    if (req != OpReq::kAddTo) return a.in_grads[i].as<float>();
    add->resize(static_cast<size_t>(n));
    return add->data();
  };
  float* dx = target(req_x, 0, a.inputs[0].size(), &dx_add);
  float* dw = target(req_w, 1, a.inputs[1].size(), &dw_add);
  // Without a weight pass, db is a plain sum over dy.
  float* db = req_w == OpReq::kNull ? nullptr : target(req_b, 2, g.f, &db_add);
  if (dx != nullptr || dw != nullptr) {
    MXGRID_RETURN_IF_ERROR(DnnlConvBackward(g, x, w, dy, dx, dw, db));
  }
  if (!dx_add.empty()) ApplyReq(OpReq::kAddTo, dx_add.data(), a.inputs[0].size(),
                                a.in_grads[0].as<float>());
  if (!dw_add.empty()) ApplyReq(OpReq::kAddTo, dw_add.data(), a.inputs[1].size(),
                                a.in_grads[1].as<float>());
  if (!db_add.empty()) ApplyReq(OpReq::kAddTo, db_add.data(), g.f, a.in_grads[2].as<float>());
  if (req_w == OpReq::kNull && req_b != OpReq::kNull) {
    std::vector<float> sum(static_cast<size_t>(g.f), 0.0f);
    AccumulateBiasGrad(dy, g.n, g.f, g.out_plane(), sum.data());
    ApplyReq(req_b, sum.data(), g.f, a.in_grads[2].as<float>());
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status BackwardLoops(const ConvParams& p, const ConvGeom& g, const BackwardArgs& a);

// Computes only the wanted gradients (MXNet's ConvolutionOp::Backward skips kNull ones):
// dx without a weight pass, db by a sum over dy when dw is not wanted.
template <typename T>
absl::Status BackwardT(const ConvParams& p, const ConvGeom& g, const BackwardArgs& a) {
  if constexpr (std::is_same_v<T, float>) {
    return BackwardDnnl(p, g, a);
  } else {
    return BackwardLoops<T>(p, g, a);
  }
}

template <typename T>
absl::Status BackwardLoops(const ConvParams& p, const ConvGeom& g, const BackwardArgs& a) {
  const T* x = a.inputs[0].as<T>();
  const T* w = a.inputs[1].as<T>();
  const T* dy = a.out_grads[0].as<T>();
  const OpReq req_b = p.no_bias ? OpReq::kNull : a.reqs[2];
  std::vector<T> dx = GradScratch<T>(a.reqs[0], a.inputs[0].size());
  std::vector<T> dw = GradScratch<T>(a.reqs[1], a.inputs[1].size());
  std::vector<T> db = GradScratch<T>(req_b, g.f);
  if (!dx.empty()) ConvBackwardDataLoops(g, dy, w, dx.data());
  if (!dw.empty()) ConvBackwardWeightLoops(g, x, dy, dw.data());
  if (!db.empty()) AccumulateBiasGrad(dy, g.n, g.f, g.out_plane(), db.data());
  ApplyReq(a.reqs[0], dx.data(), static_cast<int64_t>(dx.size()), a.in_grads[0].as<T>());
  ApplyReq(a.reqs[1], dw.data(), static_cast<int64_t>(dw.size()), a.in_grads[1].as<T>());
  if (!db.empty()) ApplyReq(req_b, db.data(), g.f, a.in_grads[2].as<T>());
  return absl::OkStatus();
}

absl::Status ConvForward(const OpContext&, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<ConvParams>(params);
  const ConvGeom g = ConvGeomOf(p, in[0].shape, out[0].shape);
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    return ForwardT<typename decltype(tag)::type>(p, g, in, reqs[0], out[0]);
  });
}

absl::Status ConvBackward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<ConvParams>(params);
  const ConvGeom g = ConvGeomOf(p, a.inputs[0].shape, a.out_grads[0].shape);
  return DispatchFloat(kOp, a.inputs[0].dtype, [&](auto tag) {
    return BackwardT<typename decltype(tag)::type>(p, g, a);
  });
}

}  // namespace

ConvGeom ConvGeomOf(const ConvParams& p, const Shape& x, const Shape& y) {
  std::vector<int64_t> in_sp(x.dims().begin() + 2, x.dims().end());
  std::vector<int64_t> out_sp(y.dims().begin() + 2, y.dims().end());
  return MakeGeom(x[0], x[1], y[1], in_sp, out_sp, p);
}

absl::Status RegisterConvolution(Registry* registry) {
  OpDef def = NewConvOpDef(kOp,
                           "1-D/2-D/3-D convolution over NCW/NCHW/NCDHW data (MXNet Convolution).",
                           /*deconv=*/false);
  def.infer_shape = InferConvShape;
  def.forward = ConvForward;
  def.backward = ConvBackward;
  return registry->Register(std::move(def));
}

}  // namespace mxgrid::ops::conv_internal
