// SoftmaxOutput cases. Expected gradients follow MXNet 1.9.1's rules, which were measured
// with mxnet.nd.SoftmaxOutput in the venv: (p - onehot) * grad_scale / norm with norm
// null: 1 (multi_output: spatial size s), batch: rows (multi_output: n * s), valid: number
// of labels != ignore_label; probability labels are not normalized.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

struct Spec {
  AttrMap attrs;
  int64_t rows, k, inner;  // softmax over k of (rows, k, inner)
};

std::vector<double> RowSoftmax(const std::vector<double>& x, const Spec& s) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < s.rows; ++r) {
    for (int64_t i = 0; i < s.inner; ++i) {
      double sum = 0;
      for (int64_t c = 0; c < s.k; ++c) sum += std::exp(x[(r * s.k + c) * s.inner + i]);
      for (int64_t c = 0; c < s.k; ++c) {
        y[(r * s.k + c) * s.inner + i] = std::exp(x[(r * s.k + c) * s.inner + i]) / sum;
      }
    }
  }
  return y;
}

std::string Attr(const AttrMap& a, const std::string& key, const std::string& def) {
  auto it = a.find(key);
  return it == a.end() ? def : it->second;
}

OpCase SoftmaxOut(const std::string& name, Spec s, Shape data, Shape label,
                  std::vector<double> labels, const std::string& op = "SoftmaxOutput") {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = s.attrs;
  c.input_shapes = {data, label};
  c.input_values = {{}, labels};
  c.grad_inputs = std::set<int>{0, 1};
  c.reference = [s](const Values& in, const std::vector<Shape>&) {
    return Values{RowSoftmax(in[0], s)};
  };
  c.expected_grads = [s](const Values& in, const std::vector<Shape>& shapes) {
    const std::vector<double> p = RowSoftmax(in[0], s);
    std::vector<double> g(p.size());
    const double scale = std::stod(Attr(s.attrs, "grad_scale", "1"));
    if (shapes[1] == shapes[0]) {
      for (size_t j = 0; j < g.size(); ++j) g[j] = (p[j] - in[1][j]) * scale;
      return Values{g, std::vector<double>(in[1].size(), 0.0)};
    }
    const bool multi = Attr(s.attrs, "multi_output", "False") == "True";
    const bool use_ignore = Attr(s.attrs, "use_ignore", "False") == "True";
    const std::string norm_mode = Attr(s.attrs, "normalization", "null");
    const double ignore = std::stod(Attr(s.attrs, "ignore_label", "-1"));
    const double alpha = std::stod(Attr(s.attrs, "smooth_alpha", "0"));
    double valid = 0;
    for (int64_t j = 0; j < s.rows * s.inner; ++j) valid += in[1][j] != ignore;
    double norm = multi ? s.inner : 1;
    if (norm_mode == "batch") norm = multi ? s.rows * s.inner : s.rows;
    if (norm_mode == "valid") norm = valid > 0 ? valid : 1;
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t i = 0; i < s.inner; ++i) {
        const double lab = in[1][r * s.inner + i];
        for (int64_t c = 0; c < s.k; ++c) {
          const int64_t j = (r * s.k + c) * s.inner + i;
          const double target = c == lab ? 1 - alpha : alpha / (s.k - 1);
          g[j] = use_ignore && lab == ignore ? 0.0 : (p[j] - target) * scale / norm;
        }
      }
    }
    return Values{g, std::vector<double>(in[1].size(), 0.0)};
  };
  return c;
}

}  // namespace

std::vector<OpCase> SoftmaxOutputCases() {
  const std::vector<double> l4 = {0, 2, -1, 1};
  const std::vector<double> m8 = {0, 1, 2, 0, 2, -1, 1, 1};
  return {
      SoftmaxOut("so_basic", {{}, 4, 3, 1}, {4, 3}, {4}, {0, 2, 1, 1}),
      SoftmaxOut("so_alias_batch1", {{}, 1, 5, 1}, {1, 5}, {1}, {3}, "Softmax"),
      SoftmaxOut("so_batch_scale", {{{"normalization", "batch"}, {"grad_scale", "2"}}, 4, 3, 1},
                 {4, 3}, {4}, l4),
      SoftmaxOut("so_valid", {{{"normalization", "valid"}}, 4, 3, 1}, {4, 3}, {4}, l4),
      SoftmaxOut("so_valid_ignore", {{{"normalization", "valid"}, {"use_ignore", "True"}}, 4, 3, 1},
                 {4, 3}, {4}, l4),
      SoftmaxOut("so_null_ignore_label1",
                 {{{"use_ignore", "True"}, {"ignore_label", "1"}}, 4, 3, 1}, {4, 3}, {4}, l4),
      SoftmaxOut("so_flatten_3d", {{}, 2, 6, 1}, {2, 2, 3}, {2, 2}, {1, 2, 0, 1}),
      SoftmaxOut("so_preserve_batch",
                 {{{"preserve_shape", "True"}, {"normalization", "batch"}}, 4, 3, 1}, {2, 2, 3},
                 {2, 2}, {0, 1, 2, 2}),
      SoftmaxOut("so_multi_null", {{{"multi_output", "True"}}, 2, 3, 4}, {2, 3, 4}, {2, 4}, m8),
      SoftmaxOut("so_multi_batch",
                 {{{"multi_output", "True"}, {"normalization", "batch"}}, 2, 3, 4}, {2, 3, 4},
                 {2, 4}, m8),
      SoftmaxOut("so_multi_valid_ignore",
                 {{{"multi_output", "True"},
                   {"normalization", "valid"},
                   {"use_ignore", "True"},
                   {"grad_scale", "1.5"}},
                  2,
                  3,
                  4},
                 {2, 3, 4}, {2, 1, 4}, m8),
      SoftmaxOut("so_multi_4d", {{{"multi_output", "True"}}, 2, 3, 4}, {2, 3, 2, 2}, {2, 2, 2}, m8),
      SoftmaxOut("so_prob_label", {{{"normalization", "batch"}, {"grad_scale", "3"}}, 2, 3, 1},
                 {2, 3}, {2, 3}, {0.2, 0.3, 0.5, 1, 0, 0}),
      SoftmaxOut("so_smooth", {{{"smooth_alpha", "0.3"}}, 2, 4, 1}, {2, 4}, {2}, {1, 3}),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
