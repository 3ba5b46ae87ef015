// elemwise_add/sub/mul/div and _maximum/_minimum: lhs and rhs of one shape.
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {

using tensor_internal::BinaryOp;
using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;

absl::Status RegisterElemwiseBinaryOps(Registry* registry) {
  std::vector<OpDef> defs;
  defs.push_back(BinaryOp(
      "elemwise_add", {"_add", "_plus", "_Plus"}, [](auto a, auto b) { return a + b; },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return g; }, kNoDeps));
  defs.push_back(BinaryOp(
      "elemwise_sub", {"_minus", "_Minus", "_sub"}, [](auto a, auto b) { return a - b; },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return -g; }, kNoDeps));
  defs.push_back(BinaryOp(
      "elemwise_mul", {"_Mul", "_mul"}, [](auto a, auto b) { return a * b; },
      [](auto, auto b, auto g) { return g * b; }, [](auto a, auto, auto g) { return g * a; },
      kInputDeps));
  defs.push_back(BinaryOp(
      "elemwise_div", {"_Div", "_div"}, [](auto a, auto b) { return a / b; },
      [](auto, auto b, auto g) { return g / b; },
      [](auto a, auto b, auto g) { return -g * a / (b * b); }, kInputDeps));
  defs.push_back(BinaryOp(
      "_maximum", {"_Maximum"}, [](auto a, auto b) { return a > b ? a : b; },
      [](auto a, auto b, auto g) { return a >= b ? g : decltype(g)(0); },
      [](auto a, auto b, auto g) { return a >= b ? decltype(g)(0) : g; }, kInputDeps));
  defs.push_back(BinaryOp(
      "_minimum", {"_Minimum"}, [](auto a, auto b) { return a < b ? a : b; },
      [](auto a, auto b, auto g) { return a <= b ? g : decltype(g)(0); },
      [](auto a, auto b, auto g) { return a <= b ? decltype(g)(0) : g; }, kInputDeps));
  for (OpDef& d : defs) {
    absl::Status s = registry->Register(std::move(d));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
