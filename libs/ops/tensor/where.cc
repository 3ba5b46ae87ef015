// where(condition, x, y): x where condition is non-zero, else y. condition has x's shape or
// is 1-d with x's first dim (selecting whole rows). Gradients flow to x and y only.
#include <algorithm>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::DispatchReal;
using ops::Store;
using tensor_internal::Unify;

// Whether each element of x selects x (condition broadcast over rows when 1-d).
absl::StatusOr<std::vector<bool>> Selection(const TensorView& cond, const Shape& x) {
  std::vector<bool> pick(x.Size());
  const int64_t per = cond.shape == x ? 1 : x.Size() / std::max<int64_t>(cond.size(), 1);
  MXGRID_RETURN_IF_ERROR(DispatchNumeric("where", cond.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* c = cond.as<T>();
    for (size_t i = 0; i < pick.size(); ++i) pick[i] = c[i / per] != T(0);
    return absl::OkStatus();
  }));
  return pick;
}

OpDef Where() {
  OpDef d;
  d.name = "where";
  d.description = "Elements of x where condition is true, else of y.";
  d.parse = tensor_internal::NoParamsParser("where");
  d.input_names = [](const OpParams&) {
    return std::vector<std::string>{"condition", "x", "y"};
  };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    // As MXNet: nothing is inferred until the condition's shape is fully known.
    const InferShape& c = (*in)[0];
    if (!IsKnown(c)) return absl::OkStatus();
    InferShape common;
    MXGRID_RETURN_IF_ERROR(Unify("where", "input 1", (*in)[1], &common));
    MXGRID_RETURN_IF_ERROR(Unify("where", "input 2", (*in)[2], &common));
    MXGRID_RETURN_IF_ERROR(Unify("where", "output 0", (*out)[0], &common));
    if (common && c->ndim() == common->ndim()) {
      MXGRID_RETURN_IF_ERROR(Unify("where", "input 0", c, &common));
    }
    (*in)[1] = (*in)[2] = (*out)[0] = common;
    if (!IsKnown(common)) return absl::OkStatus();
    if (*c != *common && !(c->ndim() == 1 && common->ndim() >= 1 && (*c)[0] == (*common)[0])) {
      return absl::InvalidArgumentError(
          absl::StrCat("where: condition shape ", c->ToString(), " must equal x's ",
                       common->ToString(), " or be 1-d of length x.shape[0]"));
    }
    return absl::OkStatus();
  };
  d.infer_type = [](const OpParams&, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    InferType t = (*in)[1] ? (*in)[1] : (*in)[2] ? (*in)[2] : (*out)[0];
    for (InferType* s : {&(*in)[1], &(*in)[2], &(*out)[0]}) {
      if (*s && t && **s != *t) {
        return absl::InvalidArgumentError(absl::StrCat(
            "where: dtype ", DTypeName(**s), " conflicts with ", DTypeName(*t)));
      }
      *s = t;
    }
    if (!(*in)[0]) (*in)[0] = t;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(auto pick, Selection(in[0], in[1].shape));
    return DispatchReal("where", in[1].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T *x = in[1].as<T>(), *y = in[2].as<T>();
      T* o = out[0].as<T>();
      for (size_t i = 0; i < pick.size(); ++i) Store(reqs[0], o, i, pick[i] ? x[i] : y[i]);
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] != OpReq::kNull && a.reqs[0] != OpReq::kAddTo) {
      const TensorView& g = a.in_grads[0];
      std::fill_n(static_cast<uint8_t*>(g.data), g.size() * DTypeSize(g.dtype), 0);
    }
    if (a.reqs[1] == OpReq::kNull && a.reqs[2] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(auto pick, Selection(a.inputs[0], a.in_grads[1].shape));
    return DispatchReal("where", a.out_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* dy = a.out_grads[0].as<T>();
      for (size_t i = 0; i < pick.size(); ++i) {
        if (a.reqs[1] != OpReq::kNull) {
          Store(a.reqs[1], a.in_grads[1].as<T>(), i, pick[i] ? dy[i] : T(0));
        }
        if (a.reqs[2] != OpReq::kNull) {
          Store(a.reqs[2], a.in_grads[2].as<T>(), i, pick[i] ? T(0) : dy[i]);
        }
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = tensor_internal::kInputDeps;
  return d;
}

}  // namespace

absl::Status RegisterWhere(Registry* registry) { return registry->Register(Where()); }

}  // namespace mxgrid::ops
