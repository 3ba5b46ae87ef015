// _plus_scalar, _minus_scalar, _rminus_scalar, _mul_scalar, _div_scalar, _rdiv_scalar:
// `data op scalar` with params scalar (float, default 1) and is_int (default True; only
// recorded: float kernels use the scalar as given).
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;
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

template <typename Fwd, typename Bwd>
OpDef ScalarOp(const std::string& name, std::vector<std::string> aliases, Fwd fwd, Bwd bwd,
               BackwardDeps deps) {
  OpDef d = UnaryOp<ScalarParams>(name, std::move(aliases), ScalarParser(name), fwd, bwd, deps);
  d.description = "Elementwise " + name + " of an array and a scalar (MXNet-compatible).";
  d.params = {{"scalar", "double", "1", false, "Scalar input value"},
              {"is_int", "boolean", "1", false, "Whether the scalar is an integer"}};
  return d;
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
  for (OpDef& d : defs) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
