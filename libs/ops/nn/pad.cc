// Pad [pad], as MXNet 1.9.1 defines it: 4-D or 5-D data padded on the spatial axes only
// (pad_width has 2 * ndim entries, before/after per axis, the first four zero), mode
// 'constant' (constant_value), 'edge' (repeat the border) or 'reflect' (mirror without
// repeating the border; each pad smaller than its axis; edge padding needs a non-empty axis).
// Every output element is a data element or the constant, so backward sums the head gradient
// into the sources. Plain loops; float32/float64 (CUDA kernels: pad_sequence.cu).
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "Pad";

}  // namespace

absl::Status CheckPad(const PadParams& p, const Shape& s) {
  if (s.ndim() != 4 && s.ndim() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, ": only 4-D or 5-D input is supported, got ", s.ToString()));
  }
  if (static_cast<int>(p.pad.size()) != 2 * s.ndim()) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": pad_width has ", p.pad.size(),
                                                   " entries for a ", s.ndim(),
                                                   "-d input (2 per axis)"));
  }
  for (int i = 0; i < 4; ++i) {
    if (p.pad[i] != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": padding on the first two axes must be zero"));
    }
  }
  for (int i = 4; i < 2 * s.ndim() && p.mode == "reflect"; ++i) {
    if (s[i / 2] >= 0 && p.pad[i] >= s[i / 2]) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": reflection padding must be smaller than the axis, got ", p.pad[i],
          " for an axis of ", s[i / 2]));
    }
  }
  for (int i = 4; i < 2 * s.ndim() && p.mode == "edge"; ++i) {
    if (s[i / 2] == 0 && p.pad[i] > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": edge padding needs a non-empty axis, got axis ", i / 2,
                       " of length 0"));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<PadParams>(params);
  if (!(*in)[0]) return absl::OkStatus();
  const Shape& s = *(*in)[0];
  MXGRID_RETURN_IF_ERROR(CheckPad(p, s));
  Shape o = s;
  for (int i = 0; i < s.ndim(); ++i) o[i] = s[i] < 0 ? -1 : s[i] + p.pad[2 * i] + p.pad[2 * i + 1];
  return MergeShape(kOp, "output", o, &(*out)[0]);
}

// The source coordinate along an axis of length n for padded position j (-1: constant).
int64_t SourceIndex(const std::string& mode, int64_t j, int64_t before, int64_t n) {
  int64_t i = j - before;
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  return i < 0 ? -i : 2 * (n - 1) - i;  // reflect (pads < n)
}

// For each output element, the data element it copies (-1: the constant).
std::vector<int64_t> Map(const PadParams& p, const Shape& s, const Shape& o) {
  std::vector<int64_t> map(o.Size());
  std::vector<int64_t> c(o.ndim(), 0);
  for (int64_t k = 0; k < o.Size(); ++k) {
    int64_t off = 0;
    for (int i = 0; i < o.ndim() && off >= 0; ++i) {
      const int64_t src = SourceIndex(p.mode, c[i], p.pad[2 * i], s[i]);
      off = src < 0 ? -1 : off * s[i] + src;
    }
    map[k] = off;
    for (int i = o.ndim() - 1; i >= 0; --i) {
      if (++c[i] < o[i]) break;
      c[i] = 0;
    }
  }
  return map;
}

absl::Status Forward(const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<PadParams>(params);
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  MXGRID_RETURN_IF_ERROR(CheckPad(p, in[0].shape));
  const std::vector<int64_t> map = Map(p, in[0].shape, out[0].shape);
  return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in[0].as<T>();
    for (size_t k = 0; k < map.size(); ++k) {
      Store(reqs[0], out[0].as<T>(), k, map[k] < 0 ? static_cast<T>(p.value) : x[map[k]]);
    }
    return absl::OkStatus();
  });
}

absl::Status Backward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<PadParams>(params);
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& dx = a.in_grads[0];
  MXGRID_RETURN_IF_ERROR(CheckPad(p, dx.shape));
  const std::vector<int64_t> map = Map(p, dx.shape, a.out_grads[0].shape);
  return DispatchFloat(kOp, dx.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> acc(dx.size(), T(0));
    const T* dy = a.out_grads[0].as<T>();
    for (size_t k = 0; k < map.size(); ++k) {
      if (map[k] >= 0) acc[map[k]] += dy[k];
    }
    for (int64_t i = 0; i < dx.size(); ++i) Store(a.reqs[0], dx.as<T>(), i, acc[i]);
    return absl::OkStatus();
  });
}

}  // namespace

OpDef MakePadOp() {
  OpDef d = NewOp(kOp, "Pads the spatial axes of 4-D/5-D data (constant, edge or reflect).");
  d.aliases = {"pad"};
  d.params = {Spec("mode", "{'constant', 'edge', 'reflect'}", "", "Padding type."),
              Spec("pad_width", "Shape(tuple)", "", "Before/after widths per axis."),
              Spec("constant_value", "double", "0", "The value of constant padding.")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<PadParams>();
    ParamReader r(kOp, attrs);
    MXGRID_RETURN_IF_ERROR(r.Enum("mode", &p->mode, {"constant", "edge", "reflect"}));
    MXGRID_RETURN_IF_ERROR(r.Tuple("pad_width", &p->pad, /*required=*/true));
    MXGRID_RETURN_IF_ERROR(r.Float("constant_value", &p->value, 0));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    for (int64_t v : p->pad) {
      if (v < 0) return r.Error("pad_width entries must be non-negative");
    }
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.infer_shape = Infer;
  d.forward = Forward;
  d.backward = Backward;
  return d;
}

}  // namespace mxgrid::ops::nn
