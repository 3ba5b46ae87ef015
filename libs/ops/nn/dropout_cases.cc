// Dropout cases: identity in inference (mode=training) and with p=0; in training the mask is
// random, so those cases check only the gradient (the harness repeats the same draws), and
// nn_ops_test checks the mask's values and sharing along axes.
#include <string>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

OpCase Dropout(const std::string& name, AttrMap attrs, Shape shape, bool is_train, bool identity) {
  OpCase c;
  c.name = name;
  c.op = "Dropout";
  c.attrs = std::move(attrs);
  c.input_shapes = {shape};
  c.is_train = is_train;
  if (identity) {
    c.reference = [](const Values& in, const std::vector<Shape>&) { return Values{in[0]}; };
  }
  return c;
}

}  // namespace

std::vector<OpCase> DropoutCases() {
  return {
      Dropout("dropout_inference", {}, {3, 4}, false, true),
      Dropout("dropout_inference_axes", {{"p", "0.3"}, {"axes", "(1,)"}}, {2, 3, 2}, false, true),
      Dropout("dropout_p0_train", {{"p", "0"}}, {1, 5}, true, true),
      Dropout("dropout_train", {{"p", "0.5"}}, {4, 5}, true, false),
      Dropout("dropout_always_axes", {{"p", "0.4"}, {"mode", "always"}, {"axes", "(0, 2)"}},
              {3, 2, 4}, false, false),
      Dropout("dropout_train_4d", {{"p", "0.2"}, {"axes", "(2, 3)"}}, {2, 3, 2, 2}, true, false),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
