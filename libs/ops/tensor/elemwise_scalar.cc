// _plus_scalar, _minus_scalar, _rminus_scalar, _mul_scalar, _div_scalar, _rdiv_scalar,
// _mod_scalar, _rmod_scalar, _power_scalar, _rpower_scalar, _maximum_scalar,
// _minimum_scalar, _hypot_scalar and the comparisons _equal_scalar, _not_equal_scalar,
// _greater_scalar, _greater_equal_scalar, _lesser_scalar, _lesser_equal_scalar: `data op
// scalar` with params scalar (float, default 1) and is_int (default True; only recorded).
// Every forward also takes MXNet's integer dtypes; on those the scalar is first cast to the
// element type, as
// MXNet's DType(scalar) does (int32 data + 1.5 adds 1, > 1.5 compares with 1, / 2.5 divides
// by 2), and an integer division or modulo by zero fails the call. Comparisons write 1/0 in
// the data's dtype and have no gradient.
#include <cmath>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/scalar_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::Add;
using tensor_internal::DispatchNumeric;
using tensor_internal::Div;
using tensor_internal::Dtypes;
using tensor_internal::IntegerDivisionByZero;
using tensor_internal::kIsInt;
using tensor_internal::Mod;
using tensor_internal::Mul;
using tensor_internal::MXCast;
using tensor_internal::RejectIntegerZeroDivisor;
using tensor_internal::Sub;
using tensor_internal::Flag;
using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;
using tensor_internal::kOutputDeps;
using tensor_internal::Pow;
using tensor_internal::ParseFn;
using tensor_internal::UnaryOp;

using tensor_internal::ScalarParams;

ParseFn ScalarParser(const std::string& op) {
  return [op](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ScalarParams>();
    ParamReader r(op, attrs);
    MXGRID_RETURN_IF_ERROR(r.Float("scalar", &p->scalar, 1.0));
    MXGRID_RETURN_IF_ERROR(r.Bool("is_int", &p->is_int, true));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
}

// The scalar as the element type T of `x`: MXNet's DType(scalar) (for integers MXCast:
// 2.5 is 2, -1 is 255 as uint8, 1e10 is INT32_MIN as int32).
template <typename T>
T ScalarAs(T, const ScalarParams& p) {
  return MXCast<T>(p.scalar);
}

// Makes d's forward fail with "integer division by zero" before writing anything when the
// data is an integer array and the divisor is zero: the scalar cast to the dtype
// (kScalar, so 0.5 divides int32 data by 0) or an element of the data (kData).
enum class Divisor { kScalar, kData };
void RejectIntegerZero(OpDef* d, Divisor divisor) {
  if (divisor == Divisor::kData) return RejectIntegerZeroDivisor(d, 0);
  auto inner = std::move(d->forward);
  d->forward = [inner, name = d->name](const OpContext& ctx, const OpParams& params,
                                       absl::Span<const TensorView> in,
                                       absl::Span<const OpReq> reqs,
                                       absl::Span<const TensorView> out) -> absl::Status {
    const DType dtype = in[0].dtype;
    if (reqs[0] != OpReq::kNull && dtype != DType::kFloat32 && dtype != DType::kFloat64) {
      const ScalarParams& p = ParamsAs<ScalarParams>(params);
      bool zero = false;
      MXGRID_RETURN_IF_ERROR(DispatchNumeric(name, dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        zero = ScalarAs(T(0), p) == T(0);
        return absl::OkStatus();
      }));
      if (zero) return IntegerDivisionByZero(name, dtype);
    }
    return inner(ctx, params, in, reqs, out);
  };
}

// Integer forms of the arithmetic scalar ops, as MXNet computes them on x86: the scalar is
// first cast to the dtype; +, -, * wrap, / truncates; rdiv divides in float32
// (DType(float(DType(scalar)) / float(x))).
template <typename T>
T RDivInt(T x, const ScalarParams& p) {
  return MXCast<T>(static_cast<float>(ScalarAs(x, p)) / static_cast<float>(x));
}

template <Dtypes kDtypes = Dtypes::kReal, typename Fwd, typename Bwd>
OpDef ScalarOp(const std::string& name, std::vector<std::string> aliases, Fwd fwd, Bwd bwd,
               BackwardDeps deps, bool has_grad = true) {
  OpDef d = UnaryOp<ScalarParams, kDtypes>(name, std::move(aliases), ScalarParser(name), fwd,
                                           bwd, deps, has_grad);
  d.description = "Elementwise " + name + " of an array and a scalar (MXNet-compatible).";
  d.params = {{"scalar", "double", "1", false, "Scalar input value"},
              {"is_int", "boolean", "1", false, "Whether the scalar is an integer"}};
  return d;
}

// A comparison with the scalar: Flag(cmp(x, scalar)) in x's dtype, no backward.
template <typename Cmp>
OpDef CompareScalarOp(const std::string& name, std::vector<std::string> aliases, Cmp cmp) {
  return ScalarOp<Dtypes::kNumeric>(
      name, std::move(aliases),
      [cmp](auto x, const ScalarParams& p) { return Flag<decltype(x)>(cmp(x, ScalarAs(x, p))); },
      [](auto, auto, auto g, const ScalarParams&) { return g; }, kNoDeps, /*has_grad=*/false);
}

void AddPowerMaxMinScalarOps(std::vector<OpDef>* defs) {
  using P = ScalarParams;
  defs->push_back(ScalarOp<Dtypes::kNumeric>(
      "_power_scalar", {"_PowerScalar"}, [](auto x, const P& p) { return Pow(x, ScalarAs(x, p)); },
      [](auto x, auto, auto g, const P& p) {
        const auto s = ScalarAs(x, p);
        return g * s * Pow(x, static_cast<decltype(x)>(s - 1));
      },
      kInputDeps));
  // d/dx s^x = s^x log(s): read from the output, as MXNet's _backward_rpower_scalar.
  defs->push_back(ScalarOp<Dtypes::kNumeric>(
      "_rpower_scalar", {"_RPowerScalar"},
      [](auto x, const P& p) { return Pow(ScalarAs(x, p), x); },
      [](auto, auto y, auto g, const P& p) { return g * y * std::log(ScalarAs(y, p)); },
      kOutputDeps));
  // The gradient goes to x where x >= scalar (maximum) or x <= scalar (minimum), ties
  // included, as MXNet's mshadow_op::ge / le.
  defs->push_back(ScalarOp<Dtypes::kNumeric>(
      "_maximum_scalar", {"_MaximumScalar"},
      [](auto x, const P& p) { return x > ScalarAs(x, p) ? x : ScalarAs(x, p); },
      [](auto x, auto, auto g, const P& p) { return x >= ScalarAs(x, p) ? g : decltype(g)(0); },
      kInputDeps));
  defs->push_back(ScalarOp<Dtypes::kNumeric>(
      "_minimum_scalar", {"_MinimumScalar"},
      [](auto x, const P& p) { return x < ScalarAs(x, p) ? x : ScalarAs(x, p); },
      [](auto x, auto, auto g, const P& p) { return x <= ScalarAs(x, p) ? g : decltype(g)(0); },
      kInputDeps));
  defs->push_back(ScalarOp<Dtypes::kNumeric>(
      "_hypot_scalar", {"_HypotScalar"},
      [](auto x, const P& p) { return tensor_internal::Hypot(x, ScalarAs(x, p)); },
      [](auto x, auto, auto g, const P& p) { return g * x / std::hypot(x, ScalarAs(x, p)); },
      kInputDeps));
  defs->push_back(CompareScalarOp("_equal_scalar", {"_EqualScalar"},
                                  [](auto a, auto b) { return a == b; }));
  defs->push_back(CompareScalarOp("_not_equal_scalar", {"_NotEqualScalar"},
                                  [](auto a, auto b) { return a != b; }));
  defs->push_back(CompareScalarOp("_greater_scalar", {"_GreaterScalar"},
                                  [](auto a, auto b) { return a > b; }));
  defs->push_back(CompareScalarOp("_greater_equal_scalar", {"_GreaterEqualScalar"},
                                  [](auto a, auto b) { return a >= b; }));
  defs->push_back(CompareScalarOp("_lesser_scalar", {"_LesserScalar"},
                                  [](auto a, auto b) { return a < b; }));
  defs->push_back(CompareScalarOp("_lesser_equal_scalar", {"_LesserEqualScalar"},
                                  [](auto a, auto b) { return a <= b; }));
}

}  // namespace

absl::Status RegisterElemwiseScalarOps(Registry* registry) {
  using P = ScalarParams;
  constexpr Dtypes kNum = Dtypes::kNumeric;
  std::vector<OpDef> defs;
  // Floats compute in double with the scalar as given (x + 0.5 on float32 rounds once).
  defs.push_back(ScalarOp<kNum>(
      "_plus_scalar", {"_PlusScalar"},
      [](auto x, const P& p) {
        if constexpr (kIsInt<decltype(x)>) return Add(x, ScalarAs(x, p)); else return x + p.scalar;
      },
      [](auto, auto, auto g, const P&) { return g; }, kNoDeps));
  defs.push_back(ScalarOp<kNum>(
      "_minus_scalar", {"_MinusScalar"},
      [](auto x, const P& p) {
        if constexpr (kIsInt<decltype(x)>) return Sub(x, ScalarAs(x, p)); else return x - p.scalar;
      },
      [](auto, auto, auto g, const P&) { return g; }, kNoDeps));
  defs.push_back(ScalarOp<kNum>(
      "_rminus_scalar", {"_RMinusScalar"},
      [](auto x, const P& p) {
        if constexpr (kIsInt<decltype(x)>) return Sub(ScalarAs(x, p), x); else return p.scalar - x;
      },
      [](auto, auto, auto g, const P&) { return -g; }, kNoDeps));
  defs.push_back(ScalarOp<kNum>(
      "_mul_scalar", {"_MulScalar"},
      [](auto x, const P& p) {
        if constexpr (kIsInt<decltype(x)>) return Mul(x, ScalarAs(x, p)); else return x * p.scalar;
      },
      [](auto, auto, auto g, const P& p) { return g * p.scalar; }, kNoDeps));
  defs.push_back(ScalarOp<kNum>(
      "_div_scalar", {"_DivScalar"},
      [](auto x, const P& p) {
        if constexpr (kIsInt<decltype(x)>) return Div(x, ScalarAs(x, p)); else return x / p.scalar;
      },
      [](auto, auto, auto g, const P& p) { return g / p.scalar; }, kNoDeps));
  RejectIntegerZero(&defs.back(), Divisor::kScalar);
  defs.push_back(ScalarOp<kNum>(
      "_rdiv_scalar", {"_RDivScalar"},
      [](auto x, const P& p) {
        if constexpr (kIsInt<decltype(x)>) return RDivInt(x, p); else return p.scalar / x;
      },
      [](auto x, auto, auto g, const P& p) { return -g * p.scalar / (x * x); }, kInputDeps));
  RejectIntegerZero(&defs.back(), Divisor::kData);
  // MXNet's mod in every dtype (int_math.h), 0 for a zero divisor as in MXNet; d/dx (x mod
  // s) = 1, d/dx (s mod x) = -floor(s / x) (mod_grad / rmod_grad).
  defs.push_back(ScalarOp<kNum>(
      "_mod_scalar", {"_ModScalar"}, [](auto x, const P& p) { return Mod(x, ScalarAs(x, p)); },
      [](auto, auto, auto g, const P&) { return g; }, kNoDeps));
  defs.push_back(ScalarOp<kNum>(
      "_rmod_scalar", {"_RModScalar"}, [](auto x, const P& p) { return Mod(ScalarAs(x, p), x); },
      [](auto x, auto, auto g, const P& p) { return -g * std::floor(ScalarAs(x, p) / x); },
      kInputDeps));
  AddPowerMaxMinScalarOps(&defs);
  for (OpDef& d : defs) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
