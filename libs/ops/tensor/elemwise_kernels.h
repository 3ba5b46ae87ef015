// Builders of elementwise OpDefs from per-element functors (internal to libs/ops/tensor).
//
//   defs.push_back(UnaryOp<NoParams>("exp", {}, ParseFn,
//       [](auto x, const NoParams&) { return std::exp(x); },
//       [](auto x, auto y, auto dy, const NoParams&) { return dy * y; }, {.outputs = true}));
//
// Functors are generic over the element type T (float or double; with Dtypes::kNumeric also
// the integer dtypes in the forward, whose MXNet semantics int_math.h spells out). The backward functor gets x (input) and y (output) only
// when `deps` asks for them (otherwise zero). Backward kernels are float32/float64 only.
#ifndef MXGRID_LIBS_OPS_TENSOR_ELEMWISE_KERNELS_H_
#define MXGRID_LIBS_OPS_TENSOR_ELEMWISE_KERNELS_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/op.h"
#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/int_math.h"

namespace mxgrid::ops::tensor_internal {

// MXNet's power for element type T: std::pow in double, powf (float) for every other type,
// integers converting the float result as MXNet's DType(powf(a, b)) does on x86 (MXCast:
// int32 3^25 is INT32_MIN).
template <typename T>
T Pow(T a, T b) {
  if constexpr (std::is_same_v<T, double>) {
    return std::pow(a, b);
  } else if constexpr (std::is_floating_point_v<T>) {
    return std::pow(static_cast<float>(a), static_cast<float>(b));
  } else {
    return MXCast<T>(std::pow(static_cast<float>(a), static_cast<float>(b)));
  }
}

// 1 where `c` holds, else 0, in the element type (MXNet's comparison ops keep the dtype).
template <typename T>
T Flag(bool c) {
  return c ? T(1) : T(0);
}

using ParseFn = std::function<absl::StatusOr<std::shared_ptr<const OpParams>>(const AttrMap&)>;

inline ParseFn NoParamsParser(const std::string& op) {
  return [op](const AttrMap& attrs) { return ParseNoParams(op, attrs); };
}

// Which dtypes a forward kernel accepts: float32/float64, or also MXNet's integer dtypes.
enum class Dtypes { kReal, kNumeric };

// DispatchReal or DispatchNumeric, chosen at compile time so that functors written for
// floats only are never instantiated with integers.
template <Dtypes kDtypes, typename Fn>
absl::Status DispatchFor(absl::string_view op, DType dtype, Fn&& fn) {
  if constexpr (kDtypes == Dtypes::kNumeric) {
    return DispatchNumeric(op, dtype, std::forward<Fn>(fn));
  } else {
    return DispatchReal(op, dtype, std::forward<Fn>(fn));
  }
}

// InvalidArgument for an integer division (or modulo) by zero in `op`.
inline absl::Status IntegerDivisionByZero(absl::string_view op, DType dtype) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": integer division by zero (a ",
                                                 DTypeName(dtype), " divisor holds 0)"));
}

// True when some element of the integer tensor `t` is zero (always false for floats).
inline absl::StatusOr<bool> HasIntegerZero(absl::string_view op, const TensorView& t) {
  bool zero = false;
  absl::Status s = DispatchNumeric(op, t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsInt<T>) {
      const T* v = t.as<T>();
      for (int64_t i = 0, n = t.size(); i < n && !zero; ++i) zero = v[i] == T(0);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return zero;
}

// Makes d's forward fail with IntegerDivisionByZero, before writing anything, when input
// `divisor` has an integer dtype and holds a zero (MXNet traps with SIGFPE there). Float
// inputs go straight to the kernel.
inline void RejectIntegerZeroDivisor(OpDef* d, int divisor) {
  auto inner = std::move(d->forward);
  d->forward = [inner, divisor, name = d->name](
                   const OpContext& ctx, const OpParams& params, absl::Span<const TensorView> in,
                   absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    const DType dtype = in[divisor].dtype;
    if (reqs[0] != OpReq::kNull && dtype != DType::kFloat32 && dtype != DType::kFloat64) {
      MXGRID_ASSIGN_OR_RETURN(bool zero, HasIntegerZero(name, in[divisor]));
      if (zero) return IntegerDivisionByZero(name, dtype);
    }
    return inner(ctx, params, in, reqs, out);
  };
}

template <typename P, Dtypes kDtypes = Dtypes::kReal, typename Fwd, typename Bwd>
OpDef UnaryOp(const std::string& name, std::vector<std::string> aliases, ParseFn parse,
              Fwd fwd, Bwd bwd, BackwardDeps deps, bool has_grad = true) {
  OpDef d;
  d.name = name;
  d.aliases = std::move(aliases);
  d.description = "Elementwise " + name + " (MXNet-compatible).";
  d.parse = std::move(parse);
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) { return ElemwiseShapes(name, in, out); };
  d.forward = [name, fwd](const OpContext&, const OpParams& params,
                          absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const P& p = ParamsAs<P>(params);
    return DispatchFor<kDtypes>(name, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      T* y = out[0].as<T>();
      for (int64_t i = 0, n = out[0].size(); i < n; ++i) {
        Store(reqs[0], y, i, static_cast<T>(fwd(x[i], p)));
      }
      return absl::OkStatus();
    });
  };
  if (has_grad) {
    d.backward = [name, bwd, deps](const OpContext&, const OpParams& params,
                                   const BackwardArgs& a) -> absl::Status {
      if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
      const P& p = ParamsAs<P>(params);
      return DispatchReal(name, a.out_grads[0].dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* x = deps.inputs ? a.inputs[0].as<T>() : nullptr;
        const T* y = deps.outputs ? a.outputs[0].as<T>() : nullptr;
        const T* dy = a.out_grads[0].as<T>();
        T* dx = a.in_grads[0].as<T>();
        for (int64_t i = 0, n = a.in_grads[0].size(); i < n; ++i) {
          const T xi = x ? x[i] : T(0);
          const T yi = y ? y[i] : T(0);
          Store(a.reqs[0], dx, i, static_cast<T>(bwd(xi, yi, dy[i], p)));
        }
        return absl::OkStatus();
      });
    };
    d.backward_deps = deps;
  }
  d.inplace = {{0, 0}};
  return d;
}

// y = fwd(a, b) element by element, stored per `req`: the forward of BinaryOp, and of the
// broadcast ops when both inputs have the output's shape. REQUIRES: a, b and y have one size
// and a's dtype.
template <Dtypes kDtypes, typename Fwd>
absl::Status SameShapeBinaryForward(absl::string_view name, const Fwd& fwd, const TensorView& a,
                                    const TensorView& b, OpReq req, const TensorView& y) {
  return DispatchFor<kDtypes>(name, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = a.as<T>();
    const T* pb = b.as<T>();
    T* py = y.as<T>();
    for (int64_t i = 0, n = y.size(); i < n; ++i) {
      Store(req, py, i, static_cast<T>(fwd(pa[i], pb[i])));
    }
    return absl::OkStatus();
  });
}

// Binary elementwise op over equal shapes: fwd(a, b), da(a, b, dy), db(a, b, dy). a and b are
// zero unless deps.inputs.
template <Dtypes kDtypes = Dtypes::kReal, typename Fwd, typename GradA, typename GradB>
OpDef BinaryOp(const std::string& name, std::vector<std::string> aliases, Fwd fwd, GradA ga,
               GradB gb, BackwardDeps deps) {
  OpDef d;
  d.name = name;
  d.aliases = std::move(aliases);
  d.description = "Elementwise " + name + " of two arrays of one shape (MXNet-compatible).";
  d.parse = NoParamsParser(name);
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name](const OpParams&, std::vector<InferShape>* in,
                         std::vector<InferShape>* out) { return ElemwiseShapes(name, in, out); };
  d.forward = [name, fwd](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                          absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return SameShapeBinaryForward<kDtypes>(name, fwd, in[0], in[1], reqs[0], out[0]);
  };
  d.backward = [name, ga, gb, deps](const OpContext&, const OpParams&,
                                    const BackwardArgs& args) -> absl::Status {
    const bool want_a = args.reqs[0] != OpReq::kNull, want_b = args.reqs[1] != OpReq::kNull;
    if (!want_a && !want_b) return absl::OkStatus();
    return DispatchReal(name, args.out_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* a = deps.inputs ? args.inputs[0].as<T>() : nullptr;
      const T* b = deps.inputs ? args.inputs[1].as<T>() : nullptr;
      const T* dy = args.out_grads[0].as<T>();
      T* da = args.in_grads[0].as<T>();
      T* db = args.in_grads[1].as<T>();
      const int64_t n = args.out_grads[0].size();
      // Both gradients are computed before either is stored: they may alias dy. A kNull
      // one is not computed at all.
      for (int64_t i = 0; i < n; ++i) {
        const T ai = a ? a[i] : T(0);
        const T bi = b ? b[i] : T(0);
        const T g = dy[i];
        const T gra = want_a ? static_cast<T>(ga(ai, bi, g)) : T(0);
        const T grb = want_b ? static_cast<T>(gb(ai, bi, g)) : T(0);
        if (want_a) Store(args.reqs[0], da, i, gra);
        if (want_b) Store(args.reqs[1], db, i, grb);
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = deps;
  d.inplace = {{0, 0}, {1, 0}};
  return d;
}

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_ELEMWISE_KERNELS_H_
