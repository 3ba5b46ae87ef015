// Shape-only ops (Flatten, Reshape, expand_dims, squeeze: a copy under a new shape) and
// transpose. Concat, SliceChannel and slice_axis are in concat_slice.cc.
#include <algorithm>
#include <optional>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/matrix_params.h"
#include "libs/ops/tensor/reshape.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

absl::StatusOr<std::vector<int>> TransposeAxes(const TransposeParams& p, int nd) {
  std::vector<int> axes(nd);
  if (p.axes.empty()) {
    for (int i = 0; i < nd; ++i) axes[i] = nd - 1 - i;
    return axes;
  }
  if (static_cast<int>(p.axes.size()) != nd) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transpose: axes has ", p.axes.size(), " entries for a ", nd, "-d input"));
  }
  std::vector<bool> seen(nd, false);
  for (int i = 0; i < nd; ++i) {
    MXGRID_ASSIGN_OR_RETURN(axes[i], NormalizeAxis("transpose", p.axes[i], nd));
    if (seen[axes[i]]) return absl::InvalidArgumentError("transpose: axes repeat an axis");
    seen[axes[i]] = true;
  }
  return axes;
}

}  // namespace tensor_internal

namespace {

using tensor_internal::TransposeParams;
using tensor_internal::TransposeAxes;

using tensor_internal::DispatchNumeric;
using tensor_internal::NoParamsParser;
using tensor_internal::ParseFn;
using tensor_internal::NormalizeAxis;
using ops::Store;
using tensor_internal::Unify;
using ShapeFn = std::function<absl::StatusOr<Shape>(const OpParams&, const Shape&)>;

// Copies src to dst (same element count), honouring req; a no-op when in place.
absl::Status CopyAs(const char* op, const TensorView& src, OpReq req, const TensorView& dst) {
  if (req == OpReq::kNull || (src.data == dst.data && req != OpReq::kAddTo)) {
    return absl::OkStatus();
  }
  return DispatchNumeric(op, src.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = src.as<T>();
    T* y = dst.as<T>();
    for (int64_t i = 0, n = dst.size(); i < n; ++i) Store(req, y, i, x[i]);
    return absl::OkStatus();
  });
}

OpDef ShapeOp(const char* name, std::vector<std::string> aliases, ParseFn parse,
              ShapeFn shape_fn) {
  OpDef d;
  d.name = name;
  d.aliases = std::move(aliases);
  d.description = std::string(name) + ": the input's elements under a new shape.";
  d.parse = std::move(parse);
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, shape_fn](const OpParams& p, std::vector<InferShape>* in,
                                   std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Shape shape, shape_fn(p, *(*in)[0]));
    return Unify(name, "output 0", shape, &(*out)[0]);
  };
  d.forward = [name](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return CopyAs(name, in[0], reqs[0], out[0]);
  };
  d.backward = [name](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return CopyAs(name, a.out_grads[0], a.reqs[0], a.in_grads[0]);
  };
  d.inplace = {{0, 0}};
  return d;
}

struct AxisParams : OpParams {
  int64_t axis = 0;
};
struct SqueezeParams : OpParams {
  std::optional<std::vector<int64_t>> axis;
};

OpDef Flatten() {
  return ShapeOp("Flatten", {"flatten"}, NoParamsParser("Flatten"),
                 [](const OpParams&, const Shape& s) -> absl::StatusOr<Shape> {
                   if (s.ndim() == 0) return Shape{1, 1};
                   return Shape{s[0], s.ProdRange(1, s.ndim())};
                 });
}

OpDef Reshape() {
  ParseFn parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<tensor_internal::ReshapeParams>();
    MXGRID_RETURN_IF_ERROR(tensor_internal::ParseReshape(attrs, p.get()));
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  OpDef d = ShapeOp("Reshape", {"reshape"}, parse, [](const OpParams& p, const Shape& s) {
    return tensor_internal::InferReshape(ParamsAs<tensor_internal::ReshapeParams>(p), s);
  });
  d.params = {{"shape", "Shape(tuple)", "()", false, "The target shape (codes 0,-1..-4)."},
              {"reverse", "boolean", "0", false, "Infer special values right to left."}};
  return d;
}

OpDef ExpandDims() {
  ParseFn parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<AxisParams>();
    ParamReader r("expand_dims", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  OpDef d = ShapeOp("expand_dims", {}, parse,
                    [](const OpParams& p, const Shape& s) -> absl::StatusOr<Shape> {
                      MXGRID_ASSIGN_OR_RETURN(
                          int ax, NormalizeAxis("expand_dims", ParamsAs<AxisParams>(p).axis,
                                                s.ndim(), /*extra=*/true));
                      std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
                      dims.insert(dims.begin() + ax, 1);
                      return Shape(dims);
                    });
  d.params = {{"axis", "int", "", true,
               "Position of the new axis; negative counts from the end, in [-ndim-1, ndim]."}};
  return d;
}

OpDef Squeeze() {
  ParseFn parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SqueezeParams>();
    ParamReader r("squeeze", attrs);
    auto it = attrs.find("axis");
    std::vector<int64_t> axes;
    if (it != attrs.end() && it->second == "None") {
      std::optional<int64_t> ignored;
      MXGRID_RETURN_IF_ERROR(r.OptionalInt("axis", &ignored));
    } else {
      MXGRID_RETURN_IF_ERROR(r.Tuple("axis", &axes));
      if (it != attrs.end()) p->axis = axes;
    }
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  return ShapeOp("squeeze", {}, parse,
                 [](const OpParams& params, const Shape& s) -> absl::StatusOr<Shape> {
                   const auto& p = ParamsAs<SqueezeParams>(params);
                   std::vector<bool> drop(s.ndim(), !p.axis);
                   for (int i = 0; !p.axis && i < s.ndim(); ++i) drop[i] = s[i] == 1;
                   for (int64_t a : p.axis.value_or(std::vector<int64_t>{})) {
                     MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("squeeze", a, s.ndim()));
                     if (s[ax] != 1) {
                       return absl::InvalidArgumentError(absl::StrCat(
                           "squeeze: axis ", a, " of shape ", s.ToString(), " is not 1"));
                     }
                     drop[ax] = true;
                   }
                   std::vector<int64_t> dims;
                   for (int i = 0; i < s.ndim(); ++i) {
                     if (!drop[i]) dims.push_back(s[i]);
                   }
                   return dims.empty() ? Shape{1} : Shape(dims);
                 });
}

// dst = src with its axes permuted: dst dim i is src dim axes[i].
absl::Status Permute(const TensorView& src, const std::vector<int>& axes, OpReq req,
                     const TensorView& dst) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const int nd = src.shape.ndim();
  const std::vector<int64_t> st = tensor_internal::Strides(src.shape);
  std::vector<int64_t> pstride(nd);
  for (int i = 0; i < nd; ++i) pstride[i] = st[axes[i]];
  return DispatchNumeric("transpose", src.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = src.as<T>();
    T* y = dst.as<T>();
    std::vector<int64_t> coord(nd, 0);
    int64_t cur = 0;
    for (int64_t k = 0, n = dst.size(); k < n; ++k) {
      Store(req, y, k, x[cur]);
      for (int i = nd - 1; i >= 0; --i) {
        cur += pstride[i];
        if (++coord[i] < dst.shape[i]) break;
        cur -= pstride[i] * dst.shape[i];
        coord[i] = 0;
      }
    }
    return absl::OkStatus();
  });
}

OpDef Transpose() {
  OpDef d;
  d.name = "transpose";
  d.description = "Permutes the axes (reversed by default).";
  d.params = {{"axes", "Shape(tuple)", "()", false, "Target axis order."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<TransposeParams>();
    ParamReader r("transpose", attrs);
    MXGRID_RETURN_IF_ERROR(r.Tuple("axes", &p->axes));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& p, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    // Both ways and dim by dim, as MXNet: unknown dims (-1) move with their axes.
    const InferShape& known = (*in)[0] ? (*in)[0] : (*out)[0];
    if (!known) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(auto axes, TransposeAxes(ParamsAs<TransposeParams>(p), known->ndim()));
    if ((*in)[0]) {
      Shape o = *(*in)[0];
      for (int i = 0; i < o.ndim(); ++i) o[i] = (*(*in)[0])[axes[i]];
      MXGRID_RETURN_IF_ERROR(Unify("transpose", "output 0", o, &(*out)[0]));
    }
    Shape back = *(*out)[0];
    for (int i = 0; i < back.ndim(); ++i) back[axes[i]] = (*(*out)[0])[i];
    return Unify("transpose", "input 0", back, &(*in)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& p, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(auto axes,
                            TransposeAxes(ParamsAs<TransposeParams>(p), in[0].shape.ndim()));
    return Permute(in[0], axes, reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams& p, const BackwardArgs& a) -> absl::Status {
    const int nd = a.in_grads[0].shape.ndim();
    MXGRID_ASSIGN_OR_RETURN(auto axes, TransposeAxes(ParamsAs<TransposeParams>(p), nd));
    std::vector<int> inverse(nd);
    for (int i = 0; i < nd; ++i) inverse[axes[i]] = i;
    return Permute(a.out_grads[0], inverse, a.reqs[0], a.in_grads[0]);
  };
  return d;
}

}  // namespace

absl::Status RegisterMatrixOps(Registry* registry) {
  for (OpDef d : {Flatten(), Reshape(), ExpandDims(), Squeeze(), Transpose()}) {
    MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
