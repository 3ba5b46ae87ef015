// The operator consistency suite's harness (test-only).
//
// A case names an operator, its attributes and input shapes, and optionally a reference for
// its forward outputs computed independently (plain loops here, NumPy-level math). CheckCase
// then, in float64:
//   1. parses the op and infers output shapes from the input shapes (full inference);
//   2. fills inputs with random values (or the case's own values) and runs Forward;
//   3. compares every visible output with the reference (when given);
//   4. runs Backward with a random head gradient W (loss ops: none) and compares each
//      differentiable input's gradient with central finite differences of sum(out * W)
//      (for loss ops, of the op's defined gradient — see OpCase::loss_grad_check);
//   5. runs Backward again with kAddTo requests and expects the gradients doubled;
//   6. repeats Forward in float32 and compares with the float64 result;
//   7. for each differentiable input in turn, and then for every input at once, runs
//      Backward with that gradient's request null (BackwardArgs' contract: a view with the
//      input's shape, null data) and expects OK, nothing written into it (a second run
//      gives it a sentinel-filled buffer) and every other gradient exactly as the full
//      backward of step 4 wrote it. Step 7 runs even when check_grad is false.
// Gradients of inputs with more than 64 elements are checked on 64 random elements.
// Every Backward passes the forward inputs and outputs whatever BackwardDeps says, and
// null data for kNull gradients.
// Every failure is a gtest failure naming the case.
//
//   OpCase c;
//   c.name = "fc_basic"; c.op = "FullyConnected"; c.attrs = {{"num_hidden", "3"}};
//   c.input_shapes = {{2, 5}, {3, 5}, {3}};
//   c.reference = [](const std::vector<std::vector<double>>& in,
//                    const std::vector<Shape>& shapes) { ...return {out0}; };
//   CheckCase(registry, c);
#ifndef MXGRID_LIBS_OPS_TESTING_OP_CHECKER_H_
#define MXGRID_LIBS_OPS_TESTING_OP_CHECKER_H_

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "libs/base/shape.h"
#include "libs/ops/op.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::testing {

struct OpCase {
  std::string name;  // unique; shown in failures
  std::string op;    // operator name or alias
  AttrMap attrs;
  std::vector<Shape> input_shapes;  // args then aux, as input_names() lists them
  // Optional fixed input values (flat, C order) per input; empty vectors are random.
  std::vector<std::vector<double>> input_values;
  // Range of random inputs.
  double low = -1.0, high = 1.0;
  // Independent reference for the visible outputs; null to skip step 3.
  std::function<std::vector<std::vector<double>>(const std::vector<std::vector<double>>& in,
                                                 const std::vector<Shape>& in_shapes)>
      reference;
  // Inputs whose gradient is checked (default: every non-aux input). Integer-valued inputs
  // such as labels or indices belong out of this set.
  std::optional<std::set<int>> grad_inputs;
  // Ops whose gradient is defined rather than derived (loss ops such as SoftmaxOutput:
  // (softmax - onehot) / norm): when set, backward is compared with this instead of finite
  // differences. Returns one gradient per input (empty = not checked).
  std::function<std::vector<std::vector<double>>(const std::vector<std::vector<double>>& in,
                                                 const std::vector<Shape>& in_shapes)>
      expected_grads;
  bool is_train = true;
  // Skip the gradient checks of steps 4-5 (ops with no gradient, or random ops like Dropout
  // in training); step 7 still runs.
  bool check_grad = true;
  double fd_step = 1e-5;
  double tolerance = 1e-6;  // float64 relative/absolute tolerance
};

// Runs the steps above for one case, with the op looked up in `registry`.
void CheckCase(const Registry& registry, const OpCase& c);

// The canonical names of the operators a set of cases covers.
std::set<std::string> CoveredOps(const Registry& registry, const std::vector<OpCase>& cases);

}  // namespace mxgrid::ops::testing

#endif  // MXGRID_LIBS_OPS_TESTING_OP_CHECKER_H_
