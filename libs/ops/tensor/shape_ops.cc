// Copying shape ops: tile, repeat, reverse [flip], SwapAxis [swapaxes], broadcast_axis
// [broadcast_axes] and stack, as MXNet 1.9.1 defines them (parameters, defaults, shape
// rules). Built on GatherOp: backward sums the head gradient into each source element.
// Partial input shapes give partial outputs (unknown dims stay -1).
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/gather_op.h"
#include "libs/ops/tensor/shape_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::GatherOp;
using tensor_internal::Names;
using tensor_internal::NormalizeAxis;
using tensor_internal::ParseFn;
using tensor_internal::Source;
using tensor_internal::Strides;
using tensor_internal::AxesParams;
using tensor_internal::Normalized;
using tensor_internal::RepeatParams;
using tensor_internal::StackParams;
using tensor_internal::SwapParams;
using tensor_internal::TileParams;
using Coord = std::vector<int64_t>;

// Calls f(coord, k) for every coordinate of `s` in C order.
template <typename F>
void ForEachCoord(const Shape& s, F f) {
  Coord c(s.ndim(), 0);
  for (int64_t k = 0, n = s.Size(); k < n; ++k) {
    f(c, k);
    for (int i = s.ndim() - 1; i >= 0; --i) {
      if (++c[i] < s[i]) break;
      c[i] = 0;
    }
  }
}

// The sources of a single-input op whose input coordinate is src(output coordinate).
template <typename F>
std::vector<Source> MapCoords(const Shape& in, const Shape& out, F src) {
  const std::vector<int64_t> st = Strides(in);
  std::vector<Source> map(out.Size());
  Coord ic(in.ndim());
  ForEachCoord(out, [&](const Coord& c, int64_t k) {
    src(c, &ic);
    int64_t off = 0;
    for (int i = 0; i < in.ndim(); ++i) off += ic[i] * st[i];
    map[k] = {0, off};
  });
  return map;
}

int64_t Mul(int64_t a, int64_t b) { return a < 0 || b < 0 ? -1 : a * b; }

template <typename P>
ParseFn Parser(const char* op, absl::Status (*read)(ParamReader*, P*)) {
  return [op, read](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<P>();
    ParamReader r(op, attrs);
    MXGRID_RETURN_IF_ERROR(read(&r, p.get()));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
}

OpDef Tile() {
  auto read = +[](ParamReader* r, TileParams* p) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(r->Tuple("reps", &p->reps, /*required=*/true));
    for (int64_t v : p->reps) {
      if (v < 0) return r->Error("reps must be non-negative");
    }
    return absl::OkStatus();
  };
  OpDef d = GatherOp(
      "tile", {}, Names({"data"}), 0, Parser<TileParams>("tile", read),
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& reps = ParamsAs<TileParams>(op).reps;
        if (!(*in)[0]) return InferShape();
        const Shape& s = *(*in)[0];
        const int nd = std::max<int>(s.ndim(), reps.size());
        std::vector<int64_t> o(nd);
        for (int i = 0; i < nd; ++i) {
          const int a = i - (nd - s.ndim()), b = i - (nd - static_cast<int>(reps.size()));
          o[i] = Mul(a >= 0 ? s[a] : 1, b >= 0 ? reps[b] : 1);
        }
        return InferShape(Shape(o));
      },
      [](const OpParams&, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const Shape& s = in[0].shape;
        const int off = out.ndim() - s.ndim();
        return MapCoords(s, out, [&](const Coord& c, Coord* ic) {
          for (int i = 0; i < s.ndim(); ++i) (*ic)[i] = c[i + off] % s[i];
        });
      });
  d.params = {{"reps", "Shape(tuple)", "", true, "Repetitions per dimension."}};
  return d;
}

OpDef Repeat() {
  auto read = +[](ParamReader* r, RepeatParams* p) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(r->Int("repeats", &p->repeats));
    MXGRID_RETURN_IF_ERROR(r->OptionalInt("axis", &p->axis));
    if (p->repeats < 0) return r->Error("repeats cannot be a negative number");
    return absl::OkStatus();
  };
  OpDef d = GatherOp(
      "repeat", {}, Names({"data"}), 0, Parser<RepeatParams>("repeat", read),
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& p = ParamsAs<RepeatParams>(op);
        if (!(*in)[0]) return InferShape();
        const Shape& s = *(*in)[0];
        int axis = 0;
        if (p.axis) {
          MXGRID_ASSIGN_OR_RETURN(axis, NormalizeAxis("repeat", *p.axis, s.ndim()));
        }
        if (p.repeats == 0) return InferShape(Shape{0});
        if (!p.axis) return InferShape(Shape{IsKnown(s) ? s.Size() * p.repeats : -1});
        Shape o = s;
        o[axis] = Mul(s[axis], p.repeats);
        return InferShape(o);
      },
      [](const OpParams& op, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const auto& p = ParamsAs<RepeatParams>(op);
        const Shape& s = in[0].shape;
        if (!p.axis || p.repeats == 0) {
          std::vector<Source> map(out.Size());
          for (int64_t k = 0; k < out.Size(); ++k) map[k] = {0, k / p.repeats};
          return map;
        }
        MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("repeat", *p.axis, s.ndim()));
        return MapCoords(s, out, [&](const Coord& c, Coord* ic) {
          *ic = c;
          (*ic)[axis] = c[axis] / p.repeats;
        });
      });
  d.params = {{"repeats", "int", "", true, "Repetitions of each element."},
              {"axis", "int or None", "None", false, "Axis to repeat along (None: flat)."}};
  return d;
}

OpDef Reverse() {
  auto read = +[](ParamReader* r, AxesParams* p) -> absl::Status {
    return r->Tuple("axis", &p->axis, /*required=*/true);
  };
  OpDef d = GatherOp(
      "reverse", {"flip"}, Names({"data"}), 0, Parser<AxesParams>("reverse", read),
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        if (!(*in)[0]) return InferShape();
        MXGRID_RETURN_IF_ERROR(
            Normalized("reverse", ParamsAs<AxesParams>(op).axis, (*in)[0]->ndim()).status());
        return (*in)[0];
      },
      [](const OpParams& op, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const Shape& s = in[0].shape;
        MXGRID_ASSIGN_OR_RETURN(auto axes,
                                Normalized("reverse", ParamsAs<AxesParams>(op).axis, s.ndim()));
        std::vector<bool> flip(s.ndim(), false);
        for (int a : axes) flip[a] = !flip[a];
        return MapCoords(s, out, [&](const Coord& c, Coord* ic) {
          for (int i = 0; i < s.ndim(); ++i) (*ic)[i] = flip[i] ? s[i] - 1 - c[i] : c[i];
        });
      });
  d.params = {{"axis", "Shape(tuple)", "", true, "The axes to reverse."}};
  return d;
}

OpDef SwapAxis() {
  auto read = +[](ParamReader* r, SwapParams* p) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(r->Int("dim1", &p->dim1, 0));
    return r->Int("dim2", &p->dim2, 0);
  };
  auto axes = [](const OpParams& op, int nd) -> absl::StatusOr<std::pair<int, int>> {
    const auto& p = ParamsAs<SwapParams>(op);
    MXGRID_ASSIGN_OR_RETURN(int a, NormalizeAxis("SwapAxis", p.dim1, nd));
    MXGRID_ASSIGN_OR_RETURN(int b, NormalizeAxis("SwapAxis", p.dim2, nd));
    return std::make_pair(a, b);
  };
  OpDef d = GatherOp(
      "SwapAxis", {"swapaxes"}, Names({"data"}), 0, Parser<SwapParams>("SwapAxis", read),
      [axes](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        if (!(*in)[0]) return InferShape();
        Shape o = *(*in)[0];
        MXGRID_ASSIGN_OR_RETURN(auto ab, axes(op, o.ndim()));
        std::swap(o[ab.first], o[ab.second]);
        return InferShape(o);
      },
      [axes](const OpParams& op, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        MXGRID_ASSIGN_OR_RETURN(auto ab, axes(op, out.ndim()));
        return MapCoords(in[0].shape, out, [&](const Coord& c, Coord* ic) {
          *ic = c;
          std::swap((*ic)[ab.first], (*ic)[ab.second]);
        });
      });
  d.params = {{"dim1", "int", "0", false, "The first axis to swap."},
              {"dim2", "int", "0", false, "The second axis to swap."}};
  return d;
}

OpDef BroadcastAxis() {
  auto read = +[](ParamReader* r, AxesParams* p) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(r->Tuple("axis", &p->axis));
    MXGRID_RETURN_IF_ERROR(r->Tuple("size", &p->size));
    if (p->axis.size() != p->size.size()) {
      return r->Error("axis and size must have the same length");
    }
    for (int64_t v : p->size) {
      if (v < 0) return r->Error("size must be non-negative");
    }
    return absl::OkStatus();
  };
  OpDef d = GatherOp(
      "broadcast_axis", {"broadcast_axes"}, Names({"data"}), 0,
      Parser<AxesParams>("broadcast_axis", read),
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& p = ParamsAs<AxesParams>(op);
        if (!(*in)[0]) return InferShape();
        Shape o = *(*in)[0];
        MXGRID_ASSIGN_OR_RETURN(auto axes, Normalized("broadcast_axis", p.axis, o.ndim()));
        for (size_t i = 0; i < axes.size(); ++i) {
          if (o[axes[i]] != 1 && o[axes[i]] != -1) {
            return absl::InvalidArgumentError(
                absl::StrCat("broadcast_axis: broadcasting axis ", p.axis[i],
                             " must have size 1, input shape ", o.ToString()));
          }
          o[axes[i]] = p.size[i];
        }
        if ((*in)[0]) {
          for (int a : axes) (*(*in)[0])[a] = 1;
        }
        return InferShape(o);
      },
      [](const OpParams&, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const Shape& s = in[0].shape;
        return MapCoords(s, out, [&](const Coord& c, Coord* ic) {
          for (int i = 0; i < s.ndim(); ++i) (*ic)[i] = s[i] == 1 ? 0 : c[i];
        });
      });
  d.params = {{"axis", "Shape(tuple)", "[]", false, "The axes to broadcast."},
              {"size", "Shape(tuple)", "[]", false, "Target sizes of those axes."}};
  return d;
}

OpDef Stack() {
  auto read = +[](ParamReader* r, StackParams* p) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(r->Int("axis", &p->axis, 0));
    MXGRID_RETURN_IF_ERROR(r->Int("num_args", &p->num_args));
    return tensor_internal::CheckArity(*r, "num_args", p->num_args);
  };
  OpDef d = GatherOp(
      "stack", {}, [](const OpParams& p) {
        return tensor_internal::VariadicInputNames(ParamsAs<StackParams>(p).num_args);
      },
      0, Parser<StackParams>("stack", read),
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& p = ParamsAs<StackParams>(op);
        InferShape common;
        for (size_t i = 0; i < in->size(); ++i) {
          MXGRID_RETURN_IF_ERROR(tensor_internal::Unify(
              "stack", absl::StrCat("input ", i), (*in)[i], &common));
        }
        if (!common) return InferShape();
        for (auto& s : *in) s = common;
        MXGRID_ASSIGN_OR_RETURN(int axis,
                                NormalizeAxis("stack", p.axis, common->ndim(), true));
        std::vector<int64_t> dims(common->dims().begin(), common->dims().end());
        dims.insert(dims.begin() + axis, p.num_args);
        return InferShape(Shape(dims));
      },
      [](const OpParams& op, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const auto& p = ParamsAs<StackParams>(op);
        MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("stack", p.axis, out.ndim()));
        const std::vector<int64_t> st = Strides(in[0].shape);
        std::vector<Source> map(out.Size());
        ForEachCoord(out, [&](const Coord& c, int64_t k) {
          int64_t off = 0;
          for (int i = 0, j = 0; i < out.ndim(); ++i) {
            if (i != axis) off += c[i] * st[j++];
          }
          map[k] = {static_cast<int32_t>(c[axis]), off};
        });
        return map;
      });
  d.params = {{"axis", "int", "0", false, "The new axis in the result."},
              {"num_args", "int", "", true, "Number of inputs to stack."}};
  return d;
}

}  // namespace

absl::Status RegisterShapeOps(Registry* registry) {
  for (OpDef d : {Tile(), Repeat(), Reverse(), SwapAxis(), BroadcastAxis(), Stack()}) {
    MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
