// The references below are written from MXNet's documented formulas in double, independently
// of update_rules.h.
#include "libs/ops/optimizer/optimizer_cases.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mxgrid::ops {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;
// One output element from the inputs' element i.
using ElemRef = std::function<double(const Values& in, size_t i)>;

double Clip(double x, double c) { return c < 0 ? x : std::max(-c, std::min(c, x)); }
double Sgn(double x) { return (x > 0) - (x < 0); }

OpCase Case(std::string name, std::string op, AttrMap attrs, int num_inputs, Shape shape,
            ElemRef ref, std::vector<int> scalar_inputs = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.attrs = std::move(attrs);
  for (int k = 0; k < num_inputs; ++k) {
    const bool scalar = std::find(scalar_inputs.begin(), scalar_inputs.end(), k) !=
                        scalar_inputs.end();
    c.input_shapes.push_back(scalar ? Shape{1} : shape);
  }
  // Positive states keep every square root real; weights and gradients stay signed through
  // the fixed values below.
  c.low = 0.1;
  c.high = 1.0;
  c.check_grad = false;
  c.reference = [ref](const Values& in, const std::vector<Shape>&) {
    std::vector<double> out(in[0].size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = ref(in, i);
    return Values{out};
  };
  return c;
}

// Signed weight and gradient values (inputs 0 and 1).
void Signed(OpCase* c) {
  const int64_t n = c->input_shapes[0].Size();
  std::vector<double> w(n), g(n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = std::sin(1.3 * i + 0.4);
    g[i] = std::cos(0.7 * i + 1.1) * 1.5;
  }
  c->input_values = {w, g};
}

OpCase SignedCase(std::string name, std::string op, AttrMap attrs, int num_inputs, Shape shape,
                  ElemRef ref, std::vector<int> scalar_inputs = {}) {
  OpCase c = Case(std::move(name), std::move(op), std::move(attrs), num_inputs,
                  std::move(shape), std::move(ref), std::move(scalar_inputs));
  Signed(&c);
  return c;
}

std::vector<OpCase> SgdCases() {
  std::vector<OpCase> out;
  for (double clip : {-1.0, 0.5}) {
    const std::string sfx = clip < 0 ? "" : "_clip";
    const AttrMap a = {{"lr", "0.1"}, {"wd", "0.01"}, {"rescale_grad", "0.5"},
                       {"clip_gradient", clip < 0 ? "-1" : "0.5"}};
    AttrMap am = a;
    am["momentum"] = "0.9";
    auto sgd = [clip](const Values& in, size_t i) {
      return in[0][i] - 0.1 * (Clip(0.5 * in[1][i], clip) + 0.01 * in[0][i]);
    };
    out.push_back(SignedCase("sgd_update" + sfx, "sgd_update", a, 2, {3, 4}, sgd));
    auto sgd_mom = [clip](const Values& in, size_t i) {
      const double m = 0.9 * in[2][i] - 0.1 * (Clip(0.5 * in[1][i], clip) + 0.01 * in[0][i]);
      return in[0][i] + m;
    };
    out.push_back(SignedCase("sgd_mom_update" + sfx, "sgd_mom_update", am, 3, {5}, sgd_mom));
    // Mixed precision: the master copy (last input) is the weight that moves.
    out.push_back(SignedCase("mp_sgd_update" + sfx, "mp_sgd_update", a, 3, {2, 3},
                             [clip](const Values& in, size_t i) {
                               return in[2][i] - 0.1 * (Clip(0.5 * in[1][i], clip) +
                                                        0.01 * in[2][i]);
                             }));
    out.push_back(SignedCase("mp_sgd_mom_update" + sfx, "mp_sgd_mom_update", am, 4, {2, 3},
                             [clip](const Values& in, size_t i) {
                               const double m = 0.9 * in[2][i] -
                                                0.1 * (Clip(0.5 * in[1][i], clip) +
                                                       0.01 * in[3][i]);
                               return in[3][i] + m;
                             }));
    // NAG: w - mom' + (1 + mu) * (mom' - lr * (g + wd * w)), mom' = mu * mom.
    auto nag = [clip](double w, double g, double mom) {
      const double m = 0.9 * mom;
      return w - m + 1.9 * (m - 0.1 * (Clip(0.5 * g, clip) + 0.01 * w));
    };
    out.push_back(SignedCase("nag_mom_update" + sfx, "nag_mom_update", am, 3, {4, 2},
                             [nag](const Values& in, size_t i) {
                               return nag(in[0][i], in[1][i], in[2][i]);
                             }));
    out.push_back(SignedCase("mp_nag_mom_update" + sfx, "mp_nag_mom_update", am, 4, {7},
                             [nag](const Values& in, size_t i) {
                               return nag(in[3][i], in[1][i], in[2][i]);
                             }));
    AttrMap as = am;
    as["wd_lh"] = "0.02";
    out.push_back(SignedCase("signum_update" + sfx, "signum_update", as, 3, {6},
                             [clip](const Values& in, size_t i) {
                               const double m = 0.9 * in[2][i] - 0.1 * 0.01 * in[0][i] -
                                                0.1 * Clip(0.5 * in[1][i], clip);
                               return (1 - 0.1 * 0.02) * in[0][i] + 0.1 * Sgn(m);
                             }));
  }
  out.push_back(SignedCase("signsgd_update", "signsgd_update", {{"lr", "0.1"}, {"wd", "0.01"}},
                           2, {3, 2}, [](const Values& in, size_t i) {
                             return (1 - 0.001) * in[0][i] - 0.1 * Sgn(in[1][i]);
                           }));
  return out;
}

std::vector<OpCase> AdaptiveCases() {
  std::vector<OpCase> out;
  const AttrMap adam = {{"lr", "0.01"}, {"beta1", "0.8"}, {"beta2", "0.9"}, {"epsilon", "1e-3"},
                        {"wd", "0.1"}, {"rescale_grad", "0.5"}, {"clip_gradient", "0.3"}};
  out.push_back(SignedCase("adam_update", "adam_update", adam, 4, {3, 3},
                           [](const Values& in, size_t i) {
                             const double g = Clip(0.5 * in[1][i] + 0.1 * in[0][i], 0.3);
                             const double m = 0.8 * in[2][i] + 0.2 * g;
                             const double v = 0.9 * in[3][i] + 0.1 * g * g;
                             return in[0][i] - 0.01 * m / (std::sqrt(v) + 1e-3);
                           }));
  const AttrMap adamw = {{"lr", "0.01"}, {"beta1", "0.8"}, {"beta2", "0.9"},
                         {"epsilon", "1e-3"}, {"wd", "0.1"}, {"eta", "0.7"}};
  auto adamw_ref = [](double w, double grad, double mean, double var, double scale) {
    const double g = scale * grad;
    const double m = 0.8 * mean + 0.2 * g;
    const double v = 0.9 * var + 0.1 * g * g;
    return w - 0.7 * (0.01 * m / (std::sqrt(v) + 1e-3) + 0.1 * w);
  };
  out.push_back(SignedCase("adamw_update", "_adamw_update", adamw, 5, {4},
                           [adamw_ref](const Values& in, size_t i) {
                             return adamw_ref(in[0][i], in[1][i], in[2][i], in[3][i], in[4][0]);
                           },
                           {4}));
  out.push_back(SignedCase("mp_adamw_update", "_mp_adamw_update", adamw, 6, {2, 2},
                           [adamw_ref](const Values& in, size_t i) {
                             return adamw_ref(in[4][i], in[1][i], in[2][i], in[3][i], in[5][0]);
                           },
                           {5}));
  OpCase skipped = SignedCase("adamw_update_zero_scale", "_adamw_update", adamw, 5, {3},
                              [](const Values& in, size_t i) { return in[0][i]; }, {4});
  skipped.input_values.resize(5);
  skipped.input_values[4] = {0.0};
  out.push_back(skipped);
  const AttrMap rms = {{"lr", "0.05"}, {"gamma1", "0.9"}, {"epsilon", "1e-4"}, {"wd", "0.1"},
                       {"rescale_grad", "0.5"}, {"clip_gradient", "0.4"},
                       {"clip_weights", "0.6"}};
  out.push_back(SignedCase("rmsprop_update", "rmsprop_update", rms, 3, {2, 5},
                           [](const Values& in, size_t i) {
                             const double g = Clip(0.5 * in[1][i] + 0.1 * in[0][i], 0.4);
                             const double n = 0.1 * g * g + 0.9 * in[2][i];
                             return Clip(in[0][i] - 0.05 * g / std::sqrt(n + 1e-4), 0.6);
                           }));
  AttrMap alex = rms;
  alex["gamma2"] = "0.8";
  alex["clip_weights"] = "-1";
  OpCase c = SignedCase("rmspropalex_update", "rmspropalex_update", alex, 5, {6},
                        [](const Values& in, size_t i) {
                          const double g = Clip(0.5 * in[1][i] + 0.1 * in[0][i], 0.4);
                          const double n = 0.1 * g * g + 0.9 * in[2][i];
                          const double gs = 0.1 * g + 0.9 * in[3][i];
                          const double d =
                              0.8 * in[4][i] - 0.05 * g / std::sqrt(n - gs * gs + 1e-4);
                          return in[0][i] + d;
                        });
  // n well above g^2: the centered variance stays positive.
  c.input_values.push_back(std::vector<double>(6, 2.0));
  c.input_values.push_back({0.1, -0.2, 0.3, 0.05, -0.1, 0.2});
  out.push_back(c);
  const AttrMap adagrad = {{"lr", "0.1"}, {"epsilon", "1e-3"}, {"rescale_grad", "0.5"},
                           {"clip_gradient", "0.4"}};
  OpCase ada = SignedCase("sparse_adagrad_update", "_sparse_adagrad_update", adagrad, 3, {6},
                          [](const Values& in, size_t i) {
                            const double g = Clip(0.5 * in[1][i], 0.4);
                            const double h = in[2][i] + g * g;
                            // AdagradDnsRspDnsKernel: w - g / sqrt(h + epsilon) * lr.
                            return in[0][i] - g / std::sqrt(h + 1e-3) * 0.1;
                          });
  ada.input_values.resize(3);
  ada.input_values[2] = {0.5, 1.0, 0.1, 2.0, 0.3, 0.7};
  out.push_back(ada);
  const AttrMap ftrl = {{"lr", "0.1"}, {"lamda1", "0.05"}, {"beta", "1.5"}, {"wd", "0.1"},
                        {"rescale_grad", "0.5"}};
  OpCase f = SignedCase("ftrl_update", "ftrl_update", ftrl, 4, {8},
                        [](const Values& in, size_t i) {
                          const double g = 0.5 * in[1][i];
                          const double z = in[2][i] + g -
                                           (std::sqrt(in[3][i] + g * g) - std::sqrt(in[3][i])) *
                                               in[0][i] / 0.1;
                          const double n = in[3][i] + g * g;
                          if (std::abs(z) <= 0.05) return 0.0;
                          return (Sgn(z) * 0.05 - z) / ((1.5 + std::sqrt(n)) / 0.1 + 0.1);
                        });
  f.input_values.push_back({0.01, -0.3, 0.5, 0.02, -0.04, 0.9, -1.2, 0.0});
  out.push_back(f);
  const AttrMap ftml = {{"lr", "0.1"}, {"beta1", "0.6"}, {"beta2", "0.9"}, {"epsilon", "1e-3"},
                        {"t", "3"}, {"wd", "0.1"}, {"rescale_grad", "0.5"},
                        {"clip_grad", "0.4"}};
  out.push_back(SignedCase("ftml_update", "ftml_update", ftml, 5, {2, 3},
                           [](const Values& in, size_t i) {
                             const double g = Clip(0.5 * in[1][i] + 0.1 * in[0][i], 0.4);
                             const double v = 0.9 * in[3][i] + 0.1 * g * g;
                             const double d = (1 - std::pow(0.6, 3)) / 0.1 *
                                              (std::sqrt(v / (1 - std::pow(0.9, 3))) + 1e-3);
                             const double z =
                                 0.6 * in[4][i] + 0.4 * g - (d - 0.6 * in[2][i]) * in[0][i];
                             return -z / d;
                           }));
  return out;
}

std::vector<OpCase> LambCases() {
  std::vector<OpCase> out;
  for (bool bc : {true, false}) {
    const AttrMap a = {{"beta1", "0.8"}, {"beta2", "0.9"}, {"epsilon", "1e-3"}, {"t", "2"},
                       {"bias_correction", bc ? "True" : "False"}, {"wd", "0.1"},
                       {"rescale_grad", "0.5"}, {"clip_gradient", "0.3"}};
    auto ref = [bc](double w, double grad, double mean, double var) {
      const double g = Clip(0.5 * grad, 0.3);
      double m = 0.8 * mean + 0.2 * g, v = 0.9 * var + 0.1 * g * g;
      if (bc) {
        m /= 1 - 0.8 * 0.8;
        v /= 1 - 0.9 * 0.9;
      }
      return m / (std::sqrt(v) + 1e-3) + 0.1 * w;
    };
    const std::string sfx = bc ? "" : "_no_bias_correction";
    out.push_back(SignedCase("lamb_update_phase1" + sfx, "lamb_update_phase1", a, 4, {3, 2},
                             [ref](const Values& in, size_t i) {
                               return ref(in[0][i], in[1][i], in[2][i], in[3][i]);
                             }));
    out.push_back(SignedCase("mp_lamb_update_phase1" + sfx, "mp_lamb_update_phase1", a, 5, {5},
                             [ref](const Values& in, size_t i) {
                               return ref(in[4][i], in[1][i], in[2][i], in[3][i]);
                             }));
  }
  auto rate = [](double r1, double r2, double lb, double ub) {
    if (lb >= 0) r1 = std::max(r1, lb);
    if (ub >= 0) r1 = std::min(r1, ub);
    return r1 == 0 || r2 == 0 ? 0.1 : 0.1 * r1 / r2;
  };
  out.push_back(SignedCase("lamb_update_phase2", "lamb_update_phase2",
                           {{"lr", "0.1"}, {"lower_bound", "0.3"}, {"upper_bound", "0.9"}}, 4,
                           {4, 2},
                           [rate](const Values& in, size_t i) {
                             return in[0][i] - rate(in[2][0], in[3][0], 0.3, 0.9) * in[1][i];
                           },
                           {2, 3}));
  out.push_back(SignedCase("mp_lamb_update_phase2", "mp_lamb_update_phase2", {{"lr", "0.1"}}, 5,
                           {6},
                           [rate](const Values& in, size_t i) {
                             return in[4][i] - rate(in[2][0], in[3][0], -1, -1) * in[1][i];
                           },
                           {2, 3}));
  return out;
}

// Two weights of different shapes; per-weight lr and wd.
std::vector<OpCase> MultiSgdCases() {
  std::vector<OpCase> out;
  const double lrs[] = {0.1, 0.2}, wds[] = {0.01, 0.0};
  for (bool mom : {false, true}) {
    for (bool mixed : {false, true}) {
      const int g = 2 + mom + mixed;
      OpCase c;
      c.name = std::string(mixed ? "multi_mp_sgd" : "multi_sgd") + (mom ? "_mom" : "") +
               "_update";
      c.op = c.name;
      c.attrs = {{"lrs", "(0.1, 0.2)"}, {"wds", "[0.01, 0.0]"}, {"num_weights", "2"},
                 {"rescale_grad", "0.5"}, {"clip_gradient", "0.3"}};
      if (mom) c.attrs["momentum"] = "0.9";
      for (const Shape& s : {Shape{3, 2}, Shape{4}}) {
        for (int k = 0; k < g; ++k) c.input_shapes.push_back(s);
      }
      c.low = -1;
      c.check_grad = false;
      c.reference = [g, mom, mixed, lrs, wds](const Values& in, const std::vector<Shape>&) {
        Values outs;
        for (int w = 0; w < 2; ++w) {
          const std::vector<double>& weight = in[w * g + (mixed ? g - 1 : 0)];
          std::vector<double> o(weight.size());
          for (size_t i = 0; i < o.size(); ++i) {
            const double m = (mom ? 0.9 * in[w * g + 2][i] : 0.0) -
                             lrs[w] * wds[w] * weight[i] -
                             lrs[w] * Clip(0.5 * in[w * g + 1][i], 0.3);
            o[i] = weight[i] + m;
          }
          outs.push_back(o);
        }
        return outs;
      };
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::vector<OpCase> OptimizerCases() {
  std::vector<OpCase> out = SgdCases();
  for (auto* more : {AdaptiveCases, LambCases, MultiSgdCases}) {
    std::vector<OpCase> c = more();
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

}  // namespace mxgrid::ops
