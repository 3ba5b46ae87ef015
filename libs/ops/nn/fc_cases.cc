// FullyConnected cases: reference out[i][j] = sum_k x[i][k] * w[j][k] + b[j].
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

OpCase Fc(const std::string& name, Shape data, int64_t hidden, bool no_bias, bool flatten) {
  OpCase c;
  c.name = name;
  c.op = "FullyConnected";
  c.attrs = {{"num_hidden", absl::StrCat(hidden)}};
  if (no_bias) c.attrs["no_bias"] = "True";
  if (!flatten) c.attrs["flatten"] = "False";
  const int64_t k = flatten ? data.Size() / data[0] : data[data.ndim() - 1];
  c.input_shapes = {data, Shape{hidden, k}};
  if (!no_bias) c.input_shapes.push_back(Shape{hidden});
  c.reference = [k, hidden, no_bias](const Values& in, const std::vector<Shape>&) {
    const int64_t rows = static_cast<int64_t>(in[0].size()) / k;
    std::vector<double> out(rows * hidden);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < hidden; ++j) {
        double s = no_bias ? 0.0 : in[2][j];
        for (int64_t q = 0; q < k; ++q) s += in[0][i * k + q] * in[1][j * k + q];
        out[i * hidden + j] = s;
      }
    }
    return Values{out};
  };
  return c;
}

}  // namespace

std::vector<OpCase> FullyConnectedCases() {
  return {
      Fc("fc_basic", {2, 5}, 3, false, true),
      Fc("fc_batch1", {1, 7}, 4, false, true),
      Fc("fc_no_bias", {3, 5}, 2, true, true),
      Fc("fc_flatten_4d", {2, 3, 2, 2}, 5, false, true),
      Fc("fc_no_flatten_3d", {2, 3, 4}, 3, false, false),
      Fc("fc_no_flatten_no_bias", {3, 1, 5}, 1, true, false),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
