// Regression output cases: expected gradient grad_scale / (label.Size() / label.shape[0]) *
// (out - label) (MAE: sign), measured against mxnet 1.9.1; the label's gradient is zero.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

OpCase Regression(const std::string& name, const std::string& op, double grad_scale, Shape data,
                  Shape label) {
  OpCase c;
  c.name = name;
  c.op = op;
  if (grad_scale != 1.0) c.attrs = {{"grad_scale", std::to_string(grad_scale)}};
  c.input_shapes = {data, label};
  c.grad_inputs = std::set<int>{0, 1};
  const bool logistic = op == "LogisticRegressionOutput";
  const bool mae = op == "MAERegressionOutput";
  auto forward = [logistic](const std::vector<double>& x) {
    std::vector<double> y;
    for (double v : x) y.push_back(logistic ? 1.0 / (1.0 + std::exp(-v)) : v);
    return y;
  };
  c.reference = [forward](const Values& in, const std::vector<Shape>&) {
    return Values{forward(in[0])};
  };
  c.expected_grads = [forward, mae, grad_scale](const Values& in,
                                                const std::vector<Shape>& shapes) {
    const std::vector<double> y = forward(in[0]);
    const double per_row = static_cast<double>(shapes[1].Size()) / shapes[1][0];
    std::vector<double> g(y.size());
    for (size_t j = 0; j < y.size(); ++j) {
      const double d = y[j] - in[1][j];
      g[j] = grad_scale / per_row * (mae ? (d > 0) - (d < 0) : d);
    }
    return Values{g, std::vector<double>(in[1].size(), 0.0)};
  };
  return c;
}

}  // namespace

std::vector<OpCase> RegressionCases() {
  return {
      Regression("linreg_2d", "LinearRegressionOutput", 1.0, {3, 4}, {3, 4}),
      Regression("linreg_col", "LinearRegressionOutput", 2.0, {5, 1}, {5}),
      Regression("linreg_3d_flat_label", "LinearRegressionOutput", 1.0, {3, 2, 2}, {3, 4}),
      Regression("logreg_2d", "LogisticRegressionOutput", 1.0, {2, 3}, {2, 3}),
      Regression("logreg_batch1", "LogisticRegressionOutput", 0.5, {1, 6}, {1, 6}),
      Regression("maereg_2d", "MAERegressionOutput", 1.0, {4, 3}, {4, 3}),
      Regression("maereg_col", "MAERegressionOutput", 3.0, {2, 1}, {2}),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
