// softmax, log_softmax and SoftmaxActivation cases: a reference over (outer, n, inner).
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

// Softmax over dims [begin, end) of `shape` (a contiguous block), scaled by 1/t.
std::vector<double> RefSoftmax(const std::vector<double>& x, const Shape& s, int begin, int end,
                               double t, bool log) {
  int64_t outer = 1, n = 1, inner = 1;
  for (int i = 0; i < s.ndim(); ++i) {
    (i < begin ? outer : i < end ? n : inner) *= s[i];
  }
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(x[(o * n + k) * inner + i] / t);
      for (int64_t k = 0; k < n; ++k) {
        const int64_t j = (o * n + k) * inner + i;
        y[j] = log ? x[j] / t - std::log(sum) : std::exp(x[j] / t) / sum;
      }
    }
  }
  return y;
}

OpCase Softmax(const std::string& name, const std::string& op, Shape shape, int axis, double t,
               bool set_t) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = {{"axis", absl::StrCat(axis)}};
  if (set_t) c.attrs["temperature"] = absl::StrCat(t);
  c.input_shapes = {shape};
  c.low = -2.0;
  c.high = 2.0;
  const int a = axis < 0 ? axis + shape.ndim() : axis;
  const bool log = op == "log_softmax";
  const double rt = op == "softmin" ? -t : t;  // softmin(x) = softmax(-x)
  c.reference = [a, rt, log](const Values& in, const std::vector<Shape>& s) {
    return Values{RefSoftmax(in[0], s[0], a, a + 1, rt, log)};
  };
  return c;
}

OpCase SoftmaxAct(const std::string& name, const std::string& mode, Shape shape) {
  OpCase c;
  c.name = name;
  c.op = "SoftmaxActivation";
  if (!mode.empty()) c.attrs = {{"mode", mode}};
  c.input_shapes = {shape};
  const bool channel = mode == "channel";
  c.reference = [channel](const Values& in, const std::vector<Shape>& s) {
    return Values{RefSoftmax(in[0], s[0], 1, channel ? 2 : s[0].ndim(), 1.0, false)};
  };
  return c;
}

}  // namespace

std::vector<OpCase> SoftmaxCases() {
  return {
      Softmax("softmax_last", "softmax", {3, 5}, -1, 1.0, false),
      Softmax("softmax_axis0", "softmax", {4, 3}, 0, 1.0, false),
      Softmax("softmax_mid_axis_t", "softmax", {2, 3, 4}, 1, 2.5, true),
      Softmax("softmax_1d", "softmax", {7}, 0, 1.0, false),
      Softmax("softmax_4d_t", "softmax", {2, 1, 3, 2}, -2, 0.5, true),
      Softmax("log_softmax_last", "log_softmax", {3, 6}, -1, 1.0, false),
      Softmax("softmin_last", "softmin", {3, 5}, -1, 1.0, false),
      Softmax("softmin_axis1_t", "softmin", {2, 4, 3}, 1, 2.0, true),
      Softmax("log_softmax_axis1_t", "log_softmax", {2, 4, 3}, 1, 3.0, true),
      Softmax("log_softmax_batch1", "log_softmax", {1, 5}, -1, 1.0, false),
      // Large enough (>= 1024 elements, innermost axis) for the float32 forward on oneDNN.
      Softmax("softmax_last_dnnl", "softmax", {8, 200}, -1, 1.0, false),
      Softmax("log_softmax_last_dnnl", "log_softmax", {2, 8, 100}, 2, 1.0, false),
      SoftmaxAct("softmax_act_default", "", {3, 4}),
      SoftmaxAct("softmax_act_instance_dnnl", "instance", {4, 8, 50}),
      SoftmaxAct("softmax_act_instance_4d", "instance", {2, 3, 2, 2}),
      SoftmaxAct("softmax_act_channel_4d", "channel", {2, 3, 2, 2}),
      SoftmaxAct("softmax_act_channel_2d", "channel", {1, 5}),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
