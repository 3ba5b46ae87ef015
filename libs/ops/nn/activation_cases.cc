// Activation and LeakyReLU cases: element-wise references written from the formulas.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

OpCase Unary(const std::string& name, const std::string& op, AttrMap attrs, Shape shape,
             std::function<double(double)> f) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = {shape};
  c.low = -3.0;
  c.high = 3.0;
  c.reference = [f](const Values& in, const std::vector<Shape>&) {
    std::vector<double> out;
    for (double x : in[0]) out.push_back(f(x));
    return Values{out};
  };
  return c;
}

}  // namespace

std::vector<OpCase> ActivationCases() {
  auto relu = [](double x) { return x > 0 ? x : 0.0; };
  auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  auto tanh = [](double x) { return std::tanh(x); };
  auto softrelu = [](double x) { return std::log(1.0 + std::exp(x)); };
  auto softsign = [](double x) { return x / (1.0 + std::fabs(x)); };
  auto leaky = [](double slope) { return [slope](double x) { return x > 0 ? x : slope * x; }; };
  auto elu = [](double a) { return [a](double x) { return x > 0 ? x : a * (std::exp(x) - 1.0); }; };
  return {
      Unary("act_relu_2d", "Activation", {{"act_type", "relu"}}, {3, 5}, relu),
      Unary("act_relu_4d", "Activation", {{"act_type", "relu"}}, {2, 3, 2, 3}, relu),
      Unary("act_sigmoid_1d", "Activation", {{"act_type", "sigmoid"}}, {7}, sigmoid),
      Unary("act_sigmoid_3d", "Activation", {{"act_type", "sigmoid"}}, {1, 3, 4}, sigmoid),
      Unary("act_tanh", "Activation", {{"act_type", "tanh"}}, {4, 3}, tanh),
      Unary("act_softrelu", "Activation", {{"act_type", "softrelu"}}, {2, 3, 5}, softrelu),
      Unary("act_softsign", "Activation", {{"act_type", "softsign"}}, {1, 9}, softsign),
      // Large enough (>= 4096 elements) for the float32 forward to run on oneDNN.
      Unary("act_relu_dnnl", "Activation", {{"act_type", "relu"}}, {40, 128}, relu),
      Unary("act_sigmoid_dnnl", "Activation", {{"act_type", "sigmoid"}}, {4, 10, 128}, sigmoid),
      Unary("act_tanh_dnnl", "Activation", {{"act_type", "tanh"}}, {5120}, tanh),
      Unary("act_softrelu_dnnl", "Activation", {{"act_type", "softrelu"}}, {40, 128}, softrelu),
      Unary("leaky_default", "LeakyReLU", {}, {3, 4}, leaky(0.25)),
      Unary("leaky_slope", "LeakyReLU", {{"act_type", "leaky"}, {"slope", "0.1"}}, {2, 3, 2, 2},
            leaky(0.1)),
      Unary("leaky_negative_slope", "LeakyReLU", {{"slope", "-0.5"}}, {4, 3}, leaky(-0.5)),
      Unary("elu_negative_slope", "LeakyReLU", {{"act_type", "elu"}, {"slope", "-0.5"}}, {3, 4},
            elu(-0.5)),
      Unary("elu_default", "LeakyReLU", {{"act_type", "elu"}}, {5, 3}, elu(0.25)),
      Unary("elu_slope", "LeakyReLU", {{"act_type", "elu"}, {"slope", "1.5"}}, {1, 2, 7}, elu(1.5)),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
