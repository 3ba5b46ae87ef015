// norm (ord 1 or 2, axis None/int/tuple, out_dtype, keepdims), as MXNet 1.9.1 defines it:
// the elementwise L1 (sum of |x|) or L2 (sqrt of the sum of squares) norm over the axes,
// all of them by default (the output then (1,), or all ones with keepdims). Gradient: ord 1
// dy * sign(x); ord 2 dy * x / norm. Forward on every dtype MXNet takes (integers with its
// integer arithmetic, below); gradients in float32/float64; out_dtype converts the result.
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/reduce_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

absl::Status NormShapes(const NormParams& p, const Shape& in, Shape* kept, Shape* out) {
  std::vector<bool> red(in.ndim(), !p.axis);
  if (p.axis) {
    for (int64_t a : *p.axis) {
      MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("norm", a, in.ndim()));
      if (red[ax]) return absl::InvalidArgumentError(absl::StrCat("norm: duplicate axis ", a));
      red[ax] = true;
    }
  }
  *kept = in;
  std::vector<int64_t> dims;
  for (int i = 0; i < in.ndim(); ++i) {
    if (red[i]) (*kept)[i] = 1;
    if (p.keepdims || !red[i]) dims.push_back(red[i] ? 1 : in[i]);
  }
  *out = dims.empty() ? Shape{1} : Shape(dims);
  return absl::OkStatus();
}

}  // namespace tensor_internal

namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::DispatchReal;
using tensor_internal::NormalizeAxis;
using tensor_internal::NormParams;
using tensor_internal::NormShapes;
using tensor_internal::Unify;

// The L1 norm of integers as MXNet computes it: |x| (DType(fabs(x))) summed with wrapping in
// the dtype.
template <typename T>
std::vector<double> IntL1(const T* x, const tensor_internal::SlotMap& slot, int64_t slots) {
  std::vector<T> sum(slots, T(0));
  for (size_t i = 0; i < slot.size(); ++i) {
    sum[slot[i]] = tensor_internal::Add(sum[slot[i]], tensor_internal::AbsInt(x[i]));
  }
  return std::vector<double>(sum.begin(), sum.end());
}

// The L2 norm of integers as MXNet computes it: its overflow-safe scaled sum of squares
// (scale = the largest |x| so far, ssq += (|x| / scale)^2) carried out in integer
// arithmetic, so that every ratio below 1 truncates to 0, then scale * sqrtf(ssq) truncated
// to the dtype. [1, 2, 3, 3] gives 3 * sqrt(2) -> 4. The dtype's minimum first in a block
// (its |x| wraps to itself) divides by a zero scale: MXNet's SIGFPE, here an error.
template <typename T>
absl::StatusOr<std::vector<double>> IntL2(DType dtype, const T* x,
                                          const tensor_internal::SlotMap& slot, int64_t slots) {
  using tensor_internal::Add;
  using tensor_internal::Div;
  using tensor_internal::Mul;
  std::vector<T> ssq(slots, T(0)), scale(slots, T(0));
  for (size_t i = 0; i < slot.size(); ++i) {
    if (x[i] == T(0)) continue;
    T& q = ssq[slot[i]];
    T& sc = scale[slot[i]];
    const T a = tensor_internal::AbsInt(x[i]);
    if (sc < a) {
      const T r = Div(sc, a);
      q = Add(T(1), Mul(Mul(q, r), r));
      sc = a;
    } else {
      if (sc == T(0)) return tensor_internal::IntegerDivisionByZero("norm", dtype);
      const T r = Div(a, sc);
      q = Add(q, Mul(r, r));
    }
  }
  std::vector<double> out(slots);
  for (int64_t j = 0; j < slots; ++j) {
    const float root = std::sqrt(static_cast<float>(ssq[j]));
    out[j] = static_cast<double>(
        tensor_internal::MXCast<T>(static_cast<float>(scale[j]) * root));
  }
  return out;
}

OpDef Norm() {
  OpDef d;
  d.name = "norm";
  d.description = "L1 or L2 norm over the given axes (all by default).";
  d.params = {{"ord", "int", "2", false, "1 or 2."},
              {"axis", "Shape or None", "None", false, "Axes to reduce; all when None."},
              {"out_dtype", "{None, 'float16', 'float32', 'float64', 'int32', 'int64', 'int8'}",
               "None", false, "DType of the output."},
              {"keepdims", "boolean", "0", false, "Keep reduced axes as size 1."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<NormParams>();
    ParamReader r("norm", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("ord", &p->ord, 2));
    auto it = attrs.find("axis");
    if (it != attrs.end() && it->second == "None") {
      std::optional<int64_t> none;
      MXGRID_RETURN_IF_ERROR(r.OptionalInt("axis", &none));
    } else if (it != attrs.end()) {
      std::vector<int64_t> v;
      MXGRID_RETURN_IF_ERROR(r.Tuple("axis", &v));
      p->axis = v;
    }
    auto od = attrs.find("out_dtype");
    if (od != attrs.end() && od->second != "None") {
      std::string name;
      MXGRID_RETURN_IF_ERROR(r.Enum("out_dtype", &name, {"float16", "float32", "float64",
                                                         "int64", "int32", "int8"}));
      MXGRID_ASSIGN_OR_RETURN(DType t, DTypeFromName(name));
      p->out_dtype = t;
    } else if (od != attrs.end()) {
      std::optional<int64_t> none;
      MXGRID_RETURN_IF_ERROR(r.OptionalInt("out_dtype", &none));
    }
    MXGRID_RETURN_IF_ERROR(r.Bool("keepdims", &p->keepdims, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->ord != 1 && p->ord != 2) return r.Error("only ord=1 and ord=2 are supported");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& op, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!(*in)[0]) return absl::OkStatus();
    Shape kept, o;
    MXGRID_RETURN_IF_ERROR(NormShapes(ParamsAs<NormParams>(op), *(*in)[0], &kept, &o));
    return Unify("norm", "output 0", o, &(*out)[0]);
  };
  d.infer_type = [](const OpParams& op, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    const auto& p = ParamsAs<NormParams>(op);
    if (p.out_dtype) {
      (*out)[0] = p.out_dtype;
      return absl::OkStatus();
    }
    if (!(*in)[0]) (*in)[0] = (*out)[0];
    (*out)[0] = (*in)[0];
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams& op, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<NormParams>(op);
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    Shape kept, o;
    MXGRID_RETURN_IF_ERROR(NormShapes(p, in[0].shape, &kept, &o));
    const tensor_internal::SlotMap slot(kept, in[0].shape);
    std::vector<double> acc(kept.Size(), 0.0);
    MXGRID_RETURN_IF_ERROR(DispatchNumeric("norm", in[0].dtype, [&](auto tag) -> absl::Status {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      if constexpr (tensor_internal::kIsInt<T>) {
        if (p.ord == 1) {
          acc = IntL1(x, slot, kept.Size());
        } else {
          MXGRID_ASSIGN_OR_RETURN(acc, IntL2(in[0].dtype, x, slot, kept.Size()));
        }
      } else {
        for (size_t i = 0; i < slot.size(); ++i) {
          acc[slot[i]] += p.ord == 1 ? std::abs(static_cast<double>(x[i]))
                                     : static_cast<double>(x[i]) * x[i];
        }
        if (p.ord == 2) {
          for (double& v : acc) v = std::sqrt(v);
        }
      }
      return absl::OkStatus();
    }));
    return VisitDType(out[0].dtype, [&](auto tag) -> absl::Status {
      using O = typename decltype(tag)::type;
      if constexpr (std::is_same_v<O, bool>) {
        return absl::InvalidArgumentError("norm: bool output is not supported");
      } else {
        O* y = out[0].as<O>();
        for (size_t j = 0; j < acc.size(); ++j) {
          if (reqs[0] == OpReq::kAddTo) {
            y[j] = FromDouble<O>(ToDouble(y[j]) + acc[j]);
          } else {
            y[j] = FromDouble<O>(acc[j]);
          }
        }
        return absl::OkStatus();
      }
    });
  };
  d.backward = [](const OpContext&, const OpParams& op, const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<NormParams>(op);
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    Shape kept, o;
    MXGRID_RETURN_IF_ERROR(NormShapes(p, a.in_grads[0].shape, &kept, &o));
    const tensor_internal::SlotMap slot(kept, a.in_grads[0].shape);
    return DispatchReal("norm", a.in_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = a.inputs[0].as<T>();
      std::vector<double> dy(kept.Size()), y(kept.Size());
      for (size_t j = 0; j < dy.size(); ++j) {
        VisitDType(a.out_grads[0].dtype, [&](auto t) {
          using O = typename decltype(t)::type;
          dy[j] = ToDouble(a.out_grads[0].as<O>()[j]);
          y[j] = ToDouble(a.outputs[0].as<O>()[j]);
        });
      }
      T* dx = a.in_grads[0].as<T>();
      for (size_t i = 0; i < slot.size(); ++i) {
        const double xi = x[i];
        const double g = p.ord == 1 ? (xi > 0 ? 1.0 : xi < 0 ? -1.0 : 0.0) : xi / y[slot[i]];
        Store(a.reqs[0], dx, i, static_cast<T>(dy[slot[i]] * g));
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = {true, true};
  return d;
}

}  // namespace

absl::Status RegisterNormOp(Registry* registry) { return registry->Register(Norm()); }

}  // namespace mxgrid::ops
