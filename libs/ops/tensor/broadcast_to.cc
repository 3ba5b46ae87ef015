// broadcast_to (shape; a 0 keeps the input's dim) and broadcast_like (lhs to rhs's shape, or
// only lhs_axes to rhs's rhs_axes): the input repeated along its length-1 dims. The shape
// rules are MXNet 1.9.1's BroadcastToShape / BroadcastLikeShape: same ndim, and each input
// dim equal to the target or 1. The backward sums the head gradient over the broadcast
// axes; broadcast_like's rhs gets a zero gradient. Every numeric dtype.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::BroadcastIndex;
using tensor_internal::DispatchNumeric;
using tensor_internal::NormalizeAxis;
using tensor_internal::Unify;

// InvalidArgument unless `in` broadcasts to `out` (same ndim, each dim equal or 1).
absl::Status CheckBroadcast(absl::string_view op, const Shape& in, const Shape& out) {
  bool ok = in.ndim() == out.ndim();
  for (int i = 0; ok && i < in.ndim(); ++i) ok = in[i] == out[i] || in[i] == 1;
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(op, ": cannot broadcast ", in.ToString(),
                                                 " to ", out.ToString()));
}

absl::Status BroadcastForward(const char* op, const TensorView& in, OpReq req,
                              const TensorView& out) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const std::vector<int64_t> idx = BroadcastIndex(in.shape, out.shape);
  return DispatchNumeric(op, out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in.as<T>();
    T* y = out.as<T>();
    for (size_t k = 0; k < idx.size(); ++k) Store(req, y, k, x[idx[k]]);
    return absl::OkStatus();
  });
}

// dx = dy summed over the axes dx was broadcast along.
absl::Status BroadcastBackward(const char* op, const TensorView& dy, OpReq req,
                               const TensorView& dx) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const std::vector<int64_t> idx = BroadcastIndex(dx.shape, dy.shape);
  return DispatchNumeric(op, dx.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* g = dy.as<T>();
    std::vector<T> sum(dx.size(), T(0));
    for (size_t k = 0; k < idx.size(); ++k) sum[idx[k]] += g[k];
    T* out = dx.as<T>();
    for (size_t i = 0; i < sum.size(); ++i) Store(req, out, i, sum[i]);
    return absl::OkStatus();
  });
}

struct BroadcastToParams : OpParams {
  std::vector<int64_t> shape;
};

OpDef BroadcastTo() {
  OpDef d;
  d.name = "broadcast_to";
  d.description = "Broadcasts the input to `shape` (0 keeps the input's dim).";
  d.params = {{"shape", "Shape(tuple)", "[]", false,
               "The target shape; same ndim as the input, 0 keeps that dim."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<BroadcastToParams>();
    ParamReader r("broadcast_to", attrs);
    MXGRID_RETURN_IF_ERROR(r.Tuple("shape", &p->shape));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    for (int64_t d : p->shape) {
      if (d < 0) return r.Error(absl::StrCat("shape ", Shape(p->shape).ToString(),
                                             " has a negative dim (0 keeps the input's)"));
    }
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    const Shape& s = *(*in)[0];
    const std::vector<int64_t>& target = ParamsAs<BroadcastToParams>(params).shape;
    if (static_cast<int>(target.size()) != s.ndim()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "broadcast_to: shape has ", target.size(), " dims for input ", s.ToString(),
          " (give every dim; 0 keeps one)"));
    }
    Shape o = s;
    for (int i = 0; i < s.ndim(); ++i) {
      if (target[i] != 0) o[i] = target[i];
    }
    MXGRID_RETURN_IF_ERROR(CheckBroadcast("broadcast_to", s, o));
    return Unify("broadcast_to", "output 0", o, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return BroadcastForward("broadcast_to", in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return BroadcastBackward("broadcast_to", a.out_grads[0], a.reqs[0], a.in_grads[0]);
  };
  return d;
}

struct BroadcastLikeParams : OpParams {
  std::optional<std::vector<int64_t>> lhs_axes, rhs_axes;
};

absl::Status ReadAxes(ParamReader* r, const AttrMap& attrs, const char* key,
                      std::optional<std::vector<int64_t>>* out) {
  auto it = attrs.find(key);
  if (it != attrs.end() && it->second == "None") {
    std::optional<int64_t> none;
    return r->OptionalInt(key, &none);
  }
  std::vector<int64_t> axes;
  MXGRID_RETURN_IF_ERROR(r->Tuple(key, &axes));
  if (it != attrs.end()) *out = axes;
  return absl::OkStatus();
}

// The output shape of broadcast_like for lhs `l` and rhs `r`.
absl::StatusOr<Shape> LikeShape(const BroadcastLikeParams& p, const Shape& l, const Shape& r) {
  constexpr char kOp[] = "broadcast_like";
  Shape o = l;
  if (!p.lhs_axes) {
    if (l.ndim() != r.ndim()) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": lhs ", l.ToString(), " and rhs ", r.ToString(), " differ in ndim"));
    }
    o = r;
  } else {
    for (size_t i = 0; i < p.lhs_axes->size(); ++i) {
      MXGRID_ASSIGN_OR_RETURN(int from, NormalizeAxis(kOp, (*p.lhs_axes)[i], l.ndim()));
      MXGRID_ASSIGN_OR_RETURN(int to, NormalizeAxis(kOp, (*p.rhs_axes)[i], r.ndim()));
      o[from] = r[to];
    }
  }
  MXGRID_RETURN_IF_ERROR(CheckBroadcast(kOp, l, o));
  return o;
}

OpDef BroadcastLike() {
  OpDef d;
  d.name = "broadcast_like";
  d.description = "Broadcasts lhs to rhs's shape (or only lhs_axes to rhs's rhs_axes).";
  d.params = {{"lhs_axes", "Shape or None", "None", false, "Axes of lhs to broadcast."},
              {"rhs_axes", "Shape or None", "None", false, "Axes of rhs giving their sizes."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<BroadcastLikeParams>();
    ParamReader r("broadcast_like", attrs);
    MXGRID_RETURN_IF_ERROR(ReadAxes(&r, attrs, "lhs_axes", &p->lhs_axes));
    MXGRID_RETURN_IF_ERROR(ReadAxes(&r, attrs, "rhs_axes", &p->rhs_axes));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->lhs_axes.has_value() != p->rhs_axes.has_value() ||
        (p->lhs_axes && p->lhs_axes->size() != p->rhs_axes->size())) {
      return r.Error("lhs_axes and rhs_axes must both be given, with the same length");
    }
    if (p->lhs_axes && p->lhs_axes->empty()) {
      return r.Error("lhs_axes and rhs_axes must not be empty (give None to broadcast all)");
    }
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0]) || !IsKnown((*in)[1])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(
        Shape o, LikeShape(ParamsAs<BroadcastLikeParams>(params), *(*in)[0], *(*in)[1]));
    return Unify("broadcast_like", "output 0", o, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return BroadcastForward("broadcast_like", in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(
        BroadcastBackward("broadcast_like", a.out_grads[0], a.reqs[0], a.in_grads[0]));
    const TensorView& drhs = a.in_grads[1];
    if (a.reqs[1] == OpReq::kNull || a.reqs[1] == OpReq::kAddTo) return absl::OkStatus();
    std::fill_n(static_cast<uint8_t*>(drhs.data), drhs.size() * DTypeSize(drhs.dtype), 0);
    return absl::OkStatus();
  };
  return d;
}

}  // namespace

absl::Status RegisterBroadcastToOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(BroadcastTo()));
  return registry->Register(BroadcastLike());
}

}  // namespace mxgrid::ops
