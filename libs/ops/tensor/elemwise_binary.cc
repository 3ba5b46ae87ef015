// elemwise_add/sub/mul/div, _mod, _maximum/_minimum, _power, _hypot and the comparisons _equal,
// _not_equal, _greater, _greater_equal, _lesser, _lesser_equal: lhs and rhs of one shape.
// Every forward also takes MXNet's integer dtypes (uint8, int8, int32, int64) with its
// integer semantics (int_math.h); an integer zero divisor of elemwise_div or _mod fails the
// call with "integer division by zero". Comparisons write 1/0 in the input dtype and have no
// gradient (their inputs get zero, as MXNet's MakeZeroGradNodes).
#include <cmath>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::Add;
using tensor_internal::BinaryOp;
using tensor_internal::Div;
using tensor_internal::Mod;
using tensor_internal::Mul;
using tensor_internal::RejectIntegerZeroDivisor;
using tensor_internal::Sub;
using tensor_internal::Dtypes;
using tensor_internal::Flag;
using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;
using tensor_internal::Pow;

// A comparison op: Flag(cmp(a, b)) in the input dtype, no backward.
template <typename Cmp>
OpDef CompareOp(const std::string& name, std::vector<std::string> aliases, Cmp cmp) {
  auto zero = [](auto, auto, auto g) { return decltype(g)(0); };
  OpDef d = BinaryOp<Dtypes::kNumeric>(
      name, std::move(aliases),
      [cmp](auto a, auto b) { return Flag<decltype(a)>(cmp(a, b)); }, zero, zero, kNoDeps);
  d.backward = nullptr;
  d.backward_deps = {};
  return d;
}

void AddComparisonOps(std::vector<OpDef>* defs) {
  defs->push_back(CompareOp("_equal", {"_Equal"}, [](auto a, auto b) { return a == b; }));
  defs->push_back(
      CompareOp("_not_equal", {"_Not_Equal"}, [](auto a, auto b) { return a != b; }));
  defs->push_back(CompareOp("_greater", {"_Greater"}, [](auto a, auto b) { return a > b; }));
  defs->push_back(
      CompareOp("_greater_equal", {"_Greater_Equal"}, [](auto a, auto b) { return a >= b; }));
  defs->push_back(CompareOp("_lesser", {"_Lesser"}, [](auto a, auto b) { return a < b; }));
  defs->push_back(
      CompareOp("_lesser_equal", {"_Lesser_Equal"}, [](auto a, auto b) { return a <= b; }));
}

}  // namespace

absl::Status RegisterElemwiseBinaryOps(Registry* registry) {
  std::vector<OpDef> defs;
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "elemwise_add", {"_add", "_plus", "_Plus"}, [](auto a, auto b) { return Add(a, b); },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return g; }, kNoDeps));
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "elemwise_sub", {"_minus", "_Minus", "_sub"}, [](auto a, auto b) { return Sub(a, b); },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return -g; }, kNoDeps));
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "elemwise_mul", {"_Mul", "_mul"}, [](auto a, auto b) { return Mul(a, b); },
      [](auto, auto b, auto g) { return g * b; }, [](auto a, auto, auto g) { return g * a; },
      kInputDeps));
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "elemwise_div", {"_Div", "_div"}, [](auto a, auto b) { return Div(a, b); },
      [](auto, auto b, auto g) { return g / b; },
      [](auto a, auto b, auto g) { return -g * a / (b * b); }, kInputDeps));
  RejectIntegerZeroDivisor(&defs.back(), 1);
  // d/da (a mod b) = 1, d/db = -floor(a / b) (MXNet's mod_grad / mod_rgrad).
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "_mod", {"_Mod"}, [](auto a, auto b) { return Mod(a, b); },
      [](auto, auto, auto g) { return g; },
      [](auto a, auto b, auto g) { return -g * std::floor(a / b); }, kInputDeps));
  // Mod by zero is 0, as in MXNet (in every dtype); only division rejects a zero divisor.
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "_maximum", {"_Maximum"}, [](auto a, auto b) { return a != a || a > b ? a : b; },
      [](auto a, auto b, auto g) { return a >= b ? g : decltype(g)(0); },
      [](auto a, auto b, auto g) { return a >= b ? decltype(g)(0) : g; }, kInputDeps));
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "_minimum", {"_Minimum"}, [](auto a, auto b) { return a != a || a < b ? a : b; },
      [](auto a, auto b, auto g) { return a <= b ? g : decltype(g)(0); },
      [](auto a, auto b, auto g) { return a <= b ? decltype(g)(0) : g; }, kInputDeps));
  // d/da a^b = b a^(b-1); d/db a^b = a^b log(a) (NaN for a < 0, as in MXNet).
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "_power", {"_Power"}, [](auto a, auto b) { return Pow(a, b); },
      [](auto a, auto b, auto g) { return g * b * Pow(a, b - 1); },
      [](auto a, auto b, auto g) { return g * Pow(a, b) * std::log(a); }, kInputDeps));
  // hypot(a, b) = sqrt(a^2 + b^2); d/da = a / hypot, d/db = b / hypot. Integer forwards
  // truncate (int_math.h); gradients in float dtypes.
  defs.push_back(BinaryOp<Dtypes::kNumeric>(
      "_hypot", {"_Hypot"}, [](auto a, auto b) { return tensor_internal::Hypot(a, b); },
      [](auto a, auto b, auto g) { return g * a / std::hypot(a, b); },
      [](auto a, auto b, auto g) { return g * b / std::hypot(a, b); }, kInputDeps));
  AddComparisonOps(&defs);
  for (OpDef& d : defs) {
    absl::Status s = registry->Register(std::move(d));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
