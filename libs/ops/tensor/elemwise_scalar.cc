// _plus_scalar, _minus_scalar, _rminus_scalar, _mul_scalar, _div_scalar, _rdiv_scalar,
// _power_scalar, _rpower_scalar, _maximum_scalar, _minimum_scalar and the comparisons
// _equal_scalar, _not_equal_scalar, _greater_scalar, _greater_equal_scalar, _lesser_scalar,
// _lesser_equal_scalar: `data op scalar` with params scalar (float, default 1) and is_int
// (default True; only recorded). The ops added with integer dtypes (power, max/min,
// comparisons) first cast the scalar to the element type, as MXNet's DType(scalar) does
// (int32 data > 1.5 compares with 1). Comparisons write 1/0 in the data's dtype and have
// no gradient.
#include <cmath>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::Dtypes;
using tensor_internal::Flag;
using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;
using tensor_internal::kOutputDeps;
using tensor_internal::Pow;
using tensor_internal::ParseFn;
using tensor_internal::UnaryOp;

struct ScalarParams : OpParams {
  double scalar = 1.0;
  bool is_int = true;
};

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

// The scalar as the element type T of `x`.
template <typename T>
T ScalarAs(T, const ScalarParams& p) {
  return static_cast<T>(p.scalar);
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
  std::vector<OpDef> defs;
  defs.push_back(ScalarOp(
      "_plus_scalar", {"_PlusScalar"}, [](auto x, const P& p) { return x + p.scalar; },
      [](auto, auto, auto g, const P&) { return g; }, kNoDeps));
  defs.push_back(ScalarOp(
      "_minus_scalar", {"_MinusScalar"}, [](auto x, const P& p) { return x - p.scalar; },
      [](auto, auto, auto g, const P&) { return g; }, kNoDeps));
  defs.push_back(ScalarOp(
      "_rminus_scalar", {"_RMinusScalar"}, [](auto x, const P& p) { return p.scalar - x; },
      [](auto, auto, auto g, const P&) { return -g; }, kNoDeps));
  defs.push_back(ScalarOp(
      "_mul_scalar", {"_MulScalar"}, [](auto x, const P& p) { return x * p.scalar; },
      [](auto, auto, auto g, const P& p) { return g * p.scalar; }, kNoDeps));
  defs.push_back(ScalarOp(
      "_div_scalar", {"_DivScalar"}, [](auto x, const P& p) { return x / p.scalar; },
      [](auto, auto, auto g, const P& p) { return g / p.scalar; }, kNoDeps));
  defs.push_back(ScalarOp(
      "_rdiv_scalar", {"_RDivScalar"}, [](auto x, const P& p) { return p.scalar / x; },
      [](auto x, auto, auto g, const P& p) { return -g * p.scalar / (x * x); }, kInputDeps));
  AddPowerMaxMinScalarOps(&defs);
  for (OpDef& d : defs) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
