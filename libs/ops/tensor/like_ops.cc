// Operators that take a shape from another array or report one, as MXNet 1.9.1
// (src/operator/tensor/elemwise_unary_op_basic.cc): reshape_like (lhs's data with rhs's
// shape, or only the dims lhs[lhs_begin:lhs_end] replaced by rhs[rhs_begin:rhs_end]),
// _identity_with_attr_like_rhs (lhs copied; lhs, rhs and the output share one shape, which
// lets inference run backwards from rhs), shape_array and size_array (int64 arrays of the
// input's dims and element count).
//
// The copies take every numeric dtype; the rhs of the two `like` ops only lends its shape
// and gets a zero gradient. shape_array and size_array have no gradient. Their forward
// writes whatever dtype the caller allocated (inference says int64).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::CopyWithReq;
using tensor_internal::DispatchNumeric;
using tensor_internal::ElemwiseShapes;
using tensor_internal::kNoDeps;
using tensor_internal::ParseNoParams;
using tensor_internal::Unify;

// Writes zeros into a wanted gradient (kAddTo adds nothing).
void ZeroGrad(const TensorView& g, OpReq req) {
  if (req == OpReq::kNull || req == OpReq::kAddTo || g.size() == 0) return;
  std::memset(g.data, 0, g.size() * DTypeSize(g.dtype));
}

// Backward of the `like` copies: lhs gets the head gradient, rhs zero.
absl::Status LikeBackward(const char* op, const BackwardArgs& a) {
  MXGRID_RETURN_IF_ERROR(CopyWithReq(op, a.out_grads[0], a.reqs[0], a.in_grads[0]));
  ZeroGrad(a.in_grads[1], a.reqs[1]);
  return absl::OkStatus();
}

struct ReshapeLikeParams : OpParams {
  std::optional<int64_t> lhs_begin, lhs_end, rhs_begin, rhs_end;
};

// [begin, end) of `side` over `ndim` dims: defaults 0 and ndim, negatives count from the end.
absl::Status Range(const char* side, std::optional<int64_t> begin, std::optional<int64_t> end,
                   int ndim, int* b, int* e) {
  int64_t lo = begin.value_or(0), hi = end.value_or(ndim);
  if (lo < 0) lo += ndim;
  if (hi < 0) hi += ndim;
  if (lo < 0 || hi > ndim || lo >= hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reshape_like: ", side, "_begin/", side, "_end select [", lo, ", ", hi, ") of ", ndim,
        " dims; the range must be non-empty and within the dims"));
  }
  *b = static_cast<int>(lo);
  *e = static_cast<int>(hi);
  return absl::OkStatus();
}

absl::StatusOr<Shape> ReshapeLikeShape(const ReshapeLikeParams& p, const Shape& l,
                                       const Shape& r) {
  int lb, le, rb, re;
  MXGRID_RETURN_IF_ERROR(Range("lhs", p.lhs_begin, p.lhs_end, l.ndim(), &lb, &le));
  MXGRID_RETURN_IF_ERROR(Range("rhs", p.rhs_begin, p.rhs_end, r.ndim(), &rb, &re));
  std::vector<int64_t> dims(l.dims().begin(), l.dims().begin() + lb);
  dims.insert(dims.end(), r.dims().begin() + rb, r.dims().begin() + re);
  dims.insert(dims.end(), l.dims().begin() + le, l.dims().end());
  MXGRID_ASSIGN_OR_RETURN(Shape o, Shape::Make(dims));
  if (o.Size() != l.Size()) {
    return absl::InvalidArgumentError(absl::StrCat("reshape_like: cannot reshape lhs ",
                                                   l.ToString(), " to ", o.ToString(),
                                                   ": the sizes differ"));
  }
  return o;
}

OpDef ReshapeLike() {
  OpDef d;
  d.name = "reshape_like";
  d.description = "lhs's data with rhs's shape (or lhs[lhs_begin:lhs_end] replaced by "
                  "rhs[rhs_begin:rhs_end]).";
  for (const char* key : {"lhs_begin", "lhs_end", "rhs_begin", "rhs_end"}) {
    d.params.push_back({key, "int or None", "None", false,
                        "Range of dims (negative: from the end; None: the whole side)."});
  }
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ReshapeLikeParams>();
    ParamReader r("reshape_like", attrs);
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("lhs_begin", &p->lhs_begin));
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("lhs_end", &p->lhs_end));
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("rhs_begin", &p->rhs_begin));
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("rhs_end", &p->rhs_end));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0]) || !IsKnown((*in)[1])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Shape o, ReshapeLikeShape(ParamsAs<ReshapeLikeParams>(params),
                                                      *(*in)[0], *(*in)[1]));
    return Unify("reshape_like", "output 0", o, &(*out)[0]);
  };
  // The output takes lhs's dtype; rhs's may differ (it lends only its shape).
  d.infer_type = [](const OpParams&, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    if (!(*in)[0]) (*in)[0] = (*out)[0];
    if (!(*out)[0]) (*out)[0] = (*in)[0];
    if ((*in)[0] && *(*in)[0] != *(*out)[0]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reshape_like: lhs dtype ", DTypeName(*(*in)[0]), " conflicts with output dtype ",
          DTypeName(*(*out)[0])));
    }
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return CopyWithReq("reshape_like", in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return LikeBackward("reshape_like", a);
  };
  d.backward_deps = kNoDeps;
  d.inplace = {{0, 0}};
  return d;
}

OpDef IdentityLikeRhs() {
  OpDef d;
  d.name = "_identity_with_attr_like_rhs";
  d.description = "lhs copied; lhs, rhs and the output share one shape (for inference).";
  d.parse = [](const AttrMap& attrs) {
    return ParseNoParams("_identity_with_attr_like_rhs", attrs);
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) {
    return ElemwiseShapes("_identity_with_attr_like_rhs", in, out);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return CopyWithReq("_identity_with_attr_like_rhs", in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return LikeBackward("_identity_with_attr_like_rhs", a);
  };
  d.backward_deps = kNoDeps;
  d.inplace = {{0, 0}};
  return d;
}

// shape_array (size = false) or size_array: a 1-D int64 array of the data's dims or of its
// element count.
OpDef ShapeInfo(const char* name, bool size) {
  OpDef d;
  d.name = name;
  d.description = size ? "A 1-element int64 array holding the data's element count."
                       : "A 1-D int64 array holding the data's shape.";
  d.parse = [name](const AttrMap& attrs) { return ParseNoParams(name, attrs); };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, size](const OpParams&, std::vector<InferShape>* in,
                               std::vector<InferShape>* out) -> absl::Status {
    if (size) return Unify(name, "output 0", Shape{1}, &(*out)[0]);
    if (!(*in)[0]) return absl::OkStatus();
    return Unify(name, "output 0", Shape{(*in)[0]->ndim()}, &(*out)[0]);
  };
  d.infer_type = [name](const OpParams&, std::vector<InferType>*,
                        std::vector<InferType>* out) -> absl::Status {
    if ((*out)[0] && *(*out)[0] != DType::kInt64) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": the output is int64, not ",
                                                     DTypeName(*(*out)[0])));
    }
    (*out)[0] = DType::kInt64;
    return absl::OkStatus();
  };
  d.forward = [name, size](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                           absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    std::vector<int64_t> values;
    if (size) {
      values.push_back(in[0].shape.Size());
    } else {
      values.assign(in[0].shape.dims().begin(), in[0].shape.dims().end());
    }
    if (out[0].size() != static_cast<int64_t>(values.size())) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": output has ", out[0].size(),
                                                     " elements, expected ", values.size()));
    }
    return DispatchNumeric(name, out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* y = out[0].as<T>();
      for (size_t i = 0; i < values.size(); ++i) Store(reqs[0], y, i, static_cast<T>(values[i]));
      return absl::OkStatus();
    });
  };
  return d;  // No gradient (MXNet's MakeZeroGradNodes).
}

}  // namespace

absl::Status RegisterLikeOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(ReshapeLike()));
  MXGRID_RETURN_IF_ERROR(registry->Register(IdentityLikeRhs()));
  MXGRID_RETURN_IF_ERROR(registry->Register(ShapeInfo("shape_array", false)));
  return registry->Register(ShapeInfo("size_array", true));
}

}  // namespace mxgrid::ops
