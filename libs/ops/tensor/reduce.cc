// sum [sum_axis], mean, max, min, prod, nansum, nanprod over axis (int or tuple; default
// all), keepdims, exclude; argmax, argmin and argmax_channel over one axis (or all),
// returning indices in the input's dtype (no gradient). Every MXNet dtype, forward and
// backward, integers with MXNet's integer arithmetic (wrapping sums, truncating mean);
// max, min, argmax and argmin propagate NaN as MXNet's reducers do.
#include <algorithm>
#include <limits>
#include <optional>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/reduce_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

// Which axes of `in` are reduced.
absl::StatusOr<std::vector<bool>> ReduceMask(const std::string& op, const ReduceParams& p,
                                             const Shape& in) {
  std::vector<bool> reduce(in.ndim(), !p.axis || (p.axis->empty() && !p.exclude));
  if (p.axis) {
    std::vector<bool> listed(in.ndim(), false);
    for (int64_t a : *p.axis) {
      MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis(op, a, in.ndim()));
      if (listed[ax]) return absl::InvalidArgumentError(absl::StrCat(op, ": duplicate axis ", a));
      listed[ax] = true;
    }
    if (!p.axis->empty() || p.exclude) {
      for (int i = 0; i < in.ndim(); ++i) reduce[i] = listed[i] != p.exclude;
    }
  }
  return reduce;
}

// The keepdims shape of the reduction of `in` (reduced dims are 1).
absl::StatusOr<Shape> KeptShape(const std::string& op, const ReduceParams& p, const Shape& in) {
  MXGRID_ASSIGN_OR_RETURN(std::vector<bool> reduce, ReduceMask(op, p, in));
  Shape kept = in;
  for (int i = 0; i < in.ndim(); ++i) {
    if (reduce[i]) kept[i] = 1;
  }
  return kept;
}

}  // namespace tensor_internal

namespace {

using tensor_internal::ArgmaxParams;
using tensor_internal::KeptShape;
using tensor_internal::ReduceMask;
using tensor_internal::ReduceParams;

using tensor_internal::Add;
using tensor_internal::DispatchNumeric;
using tensor_internal::Div;
using tensor_internal::kIsInt;
using tensor_internal::NormalizeAxis;
using ops::Store;
using tensor_internal::Unify;

enum class Kind { kSum, kMean, kMax, kMin, kProd, kNanSum, kNanProd };

bool IsProd(Kind k) { return k == Kind::kProd || k == Kind::kNanProd; }
bool IsNan(Kind k) { return k == Kind::kNanSum || k == Kind::kNanProd; }

// Folds x into the accumulator a (floats: NaNs are skipped by the nan kinds, and max and
// min propagate them, as MXNet's reducers: once NaN, the accumulator stays NaN).
template <typename T>
T Fold(Kind kind, T a, T x) {
  if constexpr (!kIsInt<T>) {
    if (IsNan(kind) && x != x) return a;
    if ((kind == Kind::kMax || kind == Kind::kMin) && a != a) return a;
  }
  switch (kind) {
    case Kind::kMax: return a >= x ? a : x;  // x when NaN
    case Kind::kMin: return a <= x ? a : x;
    case Kind::kProd:
    case Kind::kNanProd: return tensor_internal::Mul(a, x);
    default: return Add(a, x);
  }
}

// Reads an "axis" attribute that may be "None", an int or a tuple.
absl::Status ReadAxes(const AttrMap& attrs, ParamReader* r,
                      std::optional<std::vector<int64_t>>* axis) {
  std::vector<int64_t> v;
  auto it = attrs.find("axis");
  if (it != attrs.end() && it->second == "None") {
    std::optional<int64_t> ignored;
    return r->OptionalInt("axis", &ignored);
  }
  MXGRID_RETURN_IF_ERROR(r->Tuple("axis", &v));
  if (it != attrs.end()) *axis = v;
  return absl::OkStatus();
}

// The output shape: reduced dims dropped ((1,) when none is left) or kept as 1.
absl::StatusOr<Shape> OutShape(const std::string& op, const ReduceParams& p, const Shape& in) {
  MXGRID_ASSIGN_OR_RETURN(std::vector<bool> reduce, ReduceMask(op, p, in));
  std::vector<int64_t> dims;
  for (int i = 0; i < in.ndim(); ++i) {
    if (p.keepdims || !reduce[i]) dims.push_back(reduce[i] ? 1 : in[i]);
  }
  return dims.empty() ? Shape{1} : Shape(dims);
}

// The reduction of an integer tensor as MXNet computes it: sums wrap in the dtype, and mean
// divides the sum by the element count cast to the dtype, truncating (an int8 mean over 130
// elements divides by -126; a count that casts to 0, such as 256 uint8 elements, is MXNet's
// SIGFPE and here "integer division by zero").
template <typename T>
absl::Status ReduceInt(const std::string& name, Kind kind, const TensorView& in,
                       const tensor_internal::SlotMap& slot, int64_t slots, OpReq req,
                       const TensorView& out) {
  const int64_t n = in.size() / std::max<int64_t>(1, slots);
  const T count = static_cast<T>(static_cast<std::make_unsigned_t<T>>(n));
  if (kind == Kind::kMean && count == T(0)) {
    return tensor_internal::IntegerDivisionByZero(name, in.dtype);
  }
  const T init = kind == Kind::kMax   ? std::numeric_limits<T>::lowest()
                 : kind == Kind::kMin ? std::numeric_limits<T>::max()
                 : IsProd(kind)       ? T(1)
                                      : T(0);
  std::vector<T> acc(slots, init);
  const T* x = in.as<T>();
  for (size_t i = 0; i < slot.size(); ++i) acc[slot[i]] = Fold(kind, acc[slot[i]], x[i]);
  T* y = out.as<T>();
  for (size_t j = 0; j < acc.size(); ++j) {
    Store(req, y, j, kind == Kind::kMean ? Div(acc[j], count) : acc[j]);
  }
  return absl::OkStatus();
}

OpDef ReduceOp(const std::string& name, std::vector<std::string> aliases, Kind kind) {
  OpDef d;
  d.name = name;
  d.aliases = std::move(aliases);
  d.description = "Reduces by " + name + " over the given axes.";
  d.params = {{"axis", "Shape or None", "None", false, "Axes to reduce; all when None."},
              {"keepdims", "boolean", "0", false, "Keep reduced axes as size 1."},
              {"exclude", "boolean", "0", false, "Reduce the axes not listed instead."}};
  d.parse = [name](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ReduceParams>();
    ParamReader r(name, attrs);
    MXGRID_RETURN_IF_ERROR(ReadAxes(attrs, &r, &p->axis));
    MXGRID_RETURN_IF_ERROR(r.Bool("keepdims", &p->keepdims, false));
    MXGRID_RETURN_IF_ERROR(r.Bool("exclude", &p->exclude, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name](const OpParams& params, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) -> absl::Status {
    // Unknown dims pass through (MXNet infers reductions from the rank alone).
    if (!(*in)[0]) return absl::OkStatus();
    const auto& p = ParamsAs<ReduceParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Shape shape, OutShape(name, p, *(*in)[0]));
    return Unify(name, "output 0", shape, &(*out)[0]);
  };
  d.forward = [name, kind](const OpContext&, const OpParams& params,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Shape kept,
                            KeptShape(name, ParamsAs<ReduceParams>(params), in[0].shape));
    const tensor_internal::SlotMap slot(kept, in[0].shape);
    return DispatchNumeric(name, in[0].dtype, [&](auto tag) -> absl::Status {
      using T = typename decltype(tag)::type;
      if constexpr (kIsInt<T>) {
        return ReduceInt<T>(name, kind, in[0], slot, kept.Size(), reqs[0], out[0]);
      } else {
        const T init = kind == Kind::kMax   ? -std::numeric_limits<T>::infinity()
                       : kind == Kind::kMin ? std::numeric_limits<T>::infinity()
                       : IsProd(kind)       ? T(1)
                                            : T(0);
        std::vector<T> acc(kept.Size(), init);
        const T* x = in[0].as<T>();
        for (size_t i = 0; i < slot.size(); ++i) acc[slot[i]] = Fold(kind, acc[slot[i]], x[i]);
        const T count = static_cast<T>(in[0].size() / std::max<int64_t>(1, kept.Size()));
        T* y = out[0].as<T>();
        for (size_t j = 0; j < acc.size(); ++j) {
          Store(reqs[0], y, j, kind == Kind::kMean ? acc[j] / count : acc[j]);
        }
        return absl::OkStatus();
      }
    });
  };
  d.backward = [name, kind](const OpContext&, const OpParams& params,
                            const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const Shape& is = a.in_grads[0].shape;
    MXGRID_ASSIGN_OR_RETURN(Shape kept, KeptShape(name, ParamsAs<ReduceParams>(params), is));
    const tensor_internal::SlotMap slot(kept, is);
    return DispatchNumeric(name, a.out_grads[0].dtype, [&](auto tag) -> absl::Status {
      using T = typename decltype(tag)::type;
      const T* dy = a.out_grads[0].as<T>();
      const bool select = kind == Kind::kMax || kind == Kind::kMin;
      T* dx = a.in_grads[0].as<T>();
      if constexpr (kIsInt<T>) {
        // MXNet's integer gradients: the head gradient broadcast back (to the maxima or
        // minima only), mean's divided by the element count in the dtype and prod's times
        // out / x, both in integer division (a zero divisor is MXNet's SIGFPE: an error).
        const int64_t n = is.Size() / std::max<int64_t>(1, kept.Size());
        const T count = static_cast<T>(static_cast<std::make_unsigned_t<T>>(n));
        if (kind == Kind::kMean && count == T(0)) {
          return tensor_internal::IntegerDivisionByZero(name, a.out_grads[0].dtype);
        }
        const T* x = select || IsProd(kind) ? a.inputs[0].as<T>() : nullptr;
        const T* y = select || IsProd(kind) ? a.outputs[0].as<T>() : nullptr;
        if (IsProd(kind) && std::find(x, x + is.Size(), T(0)) != x + is.Size()) {
          return tensor_internal::IntegerDivisionByZero(name, a.inputs[0].dtype);
        }
        for (size_t i = 0; i < slot.size(); ++i) {
          T g = kind == Kind::kMean ? Div(dy[slot[i]], count) : dy[slot[i]];
          if (select && x[i] != y[slot[i]]) g = T(0);
          if (IsProd(kind)) g = tensor_internal::Mul(g, Div(y[slot[i]], x[i]));
          Store(a.reqs[0], dx, i, g);
        }
        return absl::OkStatus();
      } else {
        const bool uses_x = select || IsProd(kind) || IsNan(kind);
        const T* x = uses_x ? a.inputs[0].as<T>() : nullptr;
        const T* y = select || IsProd(kind) ? a.outputs[0].as<T>() : nullptr;
        const T scale = kind == Kind::kMean ? T(kept.Size()) / T(is.Size()) : T(1);
        for (size_t i = 0; i < slot.size(); ++i) {
          T g = dy[slot[i]] * scale;
          if (select && x[i] != y[slot[i]]) g = T(0);
          // MXNet's prod gradient: dy * out / x (inf or NaN where x is 0).
          if (IsProd(kind)) g = g * (y[slot[i]] / x[i]);
          if (IsNan(kind) && x[i] != x[i]) g = T(0);
          Store(a.reqs[0], dx, i, g);
        }
        return absl::OkStatus();
      }
    });
  };
  d.backward_deps = (kind == Kind::kMax || kind == Kind::kMin || IsProd(kind))
                        ? tensor_internal::kBothDeps
                    : kind == Kind::kNanSum ? tensor_internal::kInputDeps
                                                               : tensor_internal::kNoDeps;
  return d;
}

// argmax, or argmin when `is_min`.
OpDef ArgReduce(const char* name, bool is_min) {
  OpDef d;
  d.name = name;
  d.description = std::string("Index of the ") + (is_min ? "minimum" : "maximum") +
                  " along `axis` (all elements when None), as floats.";
  d.params = {{"axis", "int or None", "None", false, "The axis to reduce."},
              {"keepdims", "boolean", "0", false, "Keep the reduced axis as size 1."}};
  d.parse = [name](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ArgmaxParams>();
    ParamReader r(name, attrs);
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("axis", &p->axis));
    MXGRID_RETURN_IF_ERROR(r.Bool("keepdims", &p->keepdims, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  // As a sum with one axis (or all), so the shape and slot logic is shared.
  auto as_reduce = [](const OpParams& params) {
    const auto& p = ParamsAs<ArgmaxParams>(params);
    ReduceParams r;
    if (p.axis) r.axis = std::vector<int64_t>{*p.axis};
    r.keepdims = p.keepdims;
    return r;
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, as_reduce](const OpParams& params, std::vector<InferShape>* in,
                              std::vector<InferShape>* out) -> absl::Status {
    if (!(*in)[0]) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Shape shape, OutShape(name, as_reduce(params), *(*in)[0]));
    return Unify(name, "output 0", shape, &(*out)[0]);
  };
  d.forward = [name, is_min, as_reduce](const OpContext&, const OpParams& params,
                          absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const Shape& is = in[0].shape;
    MXGRID_ASSIGN_OR_RETURN(Shape kept, KeptShape(name, as_reduce(params), is));
    const tensor_internal::SlotMap slot(kept, is);
    // Position of element i along the reduced axis (or its flat index when reducing all).
    const auto& p = ParamsAs<ArgmaxParams>(params);
    int64_t inner = 1, len = is.Size();
    if (p.axis) {
      MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis(name, *p.axis, is.ndim()));
      inner = is.ProdRange(ax + 1, is.ndim());
      len = is[ax];
    }
    return DispatchNumeric(name, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      // MXNet's search: the running extreme starts at the dtype's lowest (highest) value and
      // the index moves when the extreme changes, so the first of equal extremes wins and
      // the first NaN wins for good (the extreme stays NaN).
      const T init = is_min ? std::numeric_limits<T>::has_infinity
                                  ? std::numeric_limits<T>::infinity()
                                  : std::numeric_limits<T>::max()
                            : std::numeric_limits<T>::has_infinity
                                  ? -std::numeric_limits<T>::infinity()
                                  : std::numeric_limits<T>::lowest();
      std::vector<T> best(kept.Size(), init);
      std::vector<int64_t> where(kept.Size(), 0);
      for (size_t i = 0; i < slot.size(); ++i) {
        T& b = best[slot[i]];
        if (b != b) continue;  // NaN already found
        const T v = x[i];
        if (v != v || (is_min ? !(b <= v) : !(b >= v))) {
          b = v;
          where[slot[i]] = (static_cast<int64_t>(i) / inner) % len;
        }
      }
      T* y = out[0].as<T>();
      for (size_t j = 0; j < where.size(); ++j) {
        Store(reqs[0], y, j, tensor_internal::MXCast<T>(static_cast<double>(where[j])));
      }
      return absl::OkStatus();
    });
  };
  return d;  // No gradient (MXNet's MakeZeroGradNodes).
}

// argmax_channel: argmax over axis 1 without keepdims, and no parameters.
OpDef ArgmaxChannel() {
  OpDef d = ArgReduce("argmax_channel", false);
  d.description = "Index of the maximum along axis 1, as floats.";
  d.params.clear();
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    ParamReader r("argmax_channel", attrs);
    MXGRID_RETURN_IF_ERROR(r.Finish());
    auto p = std::make_shared<ArgmaxParams>();
    p->axis = 1;
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  return d;
}

}  // namespace

absl::Status RegisterReduceOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("sum", {"sum_axis"}, Kind::kSum)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("mean", {}, Kind::kMean)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("max", {"max_axis"}, Kind::kMax)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("min", {"min_axis"}, Kind::kMin)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("prod", {}, Kind::kProd)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("nansum", {}, Kind::kNanSum)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ReduceOp("nanprod", {}, Kind::kNanProd)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ArgReduce("argmax", false)));
  MXGRID_RETURN_IF_ERROR(registry->Register(ArgmaxChannel()));
  return registry->Register(ArgReduce("argmin", true));
}

}  // namespace mxgrid::ops
