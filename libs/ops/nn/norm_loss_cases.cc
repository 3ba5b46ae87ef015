// Consistency cases for LayerNorm, InstanceNorm, L2Normalization, LRN, MakeLoss, smooth_l1
// (test-only), with plain-loop references.
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

OpCase LayerNorm(const std::string& name, Shape s, int axis, double eps, bool mean_var) {
  OpCase c;
  c.name = name;
  c.op = "LayerNorm";
  c.attrs = {{"axis", std::to_string(axis)}, {"eps", std::to_string(eps)}};
  if (mean_var) c.attrs["output_mean_var"] = "True";
  const int a = axis < 0 ? axis + s.ndim() : axis;
  c.input_shapes = {s, Shape{s[a]}, Shape{s[a]}};
  // The mean/std outputs' head gradients are ignored (as MXNet's), so finite differences
  // of a sum over all three visible outputs do not apply.
  c.check_grad = !mean_var;
  c.reference = [s, a, eps, mean_var](const Values& in, const std::vector<Shape>&) {
    const int64_t outer = s.ProdRange(0, a), ch = s[a], inner = s.ProdRange(a + 1, s.ndim());
    std::vector<double> y(s.Size()), mean, sd;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        double m = 0, v = 0;
        for (int64_t k = 0; k < ch; ++k) m += in[0][(o * ch + k) * inner + i] / ch;
        for (int64_t k = 0; k < ch; ++k) {
          v += std::pow(in[0][(o * ch + k) * inner + i] - m, 2) / ch;
        }
        mean.push_back(m);
        sd.push_back(std::sqrt(v + eps));
        for (int64_t k = 0; k < ch; ++k) {
          const int64_t j = (o * ch + k) * inner + i;
          y[j] = (in[0][j] - m) / std::sqrt(v + eps) * in[1][k] + in[2][k];
        }
      }
    }
    return mean_var ? Values{y, mean, sd} : Values{y};
  };
  return c;
}

// InstanceNorm (l2 false) or L2Normalization in `mode`: groups of `len` elements `stride`
// apart, `outer` blocks; InstanceNorm's channel of a group is (group / 1) % C.
OpCase GroupNorm(const std::string& name, bool l2, const std::string& mode, Shape s,
                 double eps) {
  OpCase c;
  c.name = name;
  c.op = l2 ? "L2Normalization" : "InstanceNorm";
  c.attrs = {{"eps", std::to_string(eps)}};
  if (l2) c.attrs["mode"] = mode;
  c.input_shapes = {s};
  if (!l2) {
    c.input_shapes.push_back(Shape{s[1]});
    c.input_shapes.push_back(Shape{s[1]});
  }
  c.reference = [=](const Values& in, const std::vector<Shape>&) {
    const int64_t n = s[0], ch = s.ndim() > 1 ? s[1] : 1, rest = s.ProdRange(2, s.ndim());
    std::vector<double> y(s.Size());
    // Element (i, k, r) of data viewed as (N, C, rest).
    auto at = [&](int64_t i, int64_t k, int64_t r) { return (i * ch + k) * rest + r; };
    std::vector<std::vector<int64_t>> groups;
    if (!l2 || mode == "spatial") {
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t k = 0; k < ch; ++k) {
          groups.emplace_back();
          for (int64_t r = 0; r < rest; ++r) groups.back().push_back(at(i, k, r));
        }
      }
    } else if (mode == "channel") {
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t r = 0; r < rest; ++r) {
          groups.emplace_back();
          for (int64_t k = 0; k < ch; ++k) groups.back().push_back(at(i, k, r));
        }
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        groups.emplace_back();
        for (int64_t k = 0; k < ch * rest; ++k) groups.back().push_back(i * ch * rest + k);
      }
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      double m = 0, q = 0;
      for (int64_t k : groups[g]) m += l2 ? 0 : in[0][k] / groups[g].size();
      for (int64_t k : groups[g]) q += (in[0][k] - m) * (in[0][k] - m);
      if (!l2) q /= groups[g].size();
      for (int64_t k : groups[g]) {
        const int64_t chan = (k / rest) % ch;
        y[k] = (in[0][k] - m) / std::sqrt(q + eps);
        if (!l2) y[k] = y[k] * in[1][chan] + in[2][chan];
      }
    }
    return Values{y};
  };
  return c;
}

// LRN of (N, C, H, W) with window nsize.
OpCase LrnCase(const std::string& name, Shape s, int64_t nsize, double alpha, double beta,
               double knorm) {
  OpCase c;
  c.name = name;
  c.op = "LRN";
  c.attrs = {{"nsize", std::to_string(nsize)}, {"alpha", std::to_string(alpha)},
             {"beta", std::to_string(beta)}, {"knorm", std::to_string(knorm)}};
  c.input_shapes = {s};
  c.reference = [=](const Values& in, const std::vector<Shape>&) {
    const int64_t ch = s[1], hw = s[2] * s[3];
    std::vector<double> y(s.Size());
    for (int64_t n = 0; n < s[0]; ++n) {
      for (int64_t k = 0; k < ch; ++k) {
        for (int64_t i = 0; i < hw; ++i) {
          double sum = 0;
          for (int64_t q = k - nsize / 2; q <= k + nsize / 2; ++q) {
            if (q >= 0 && q < ch) sum += std::pow(in[0][(n * ch + q) * hw + i], 2);
          }
          const int64_t j = (n * ch + k) * hw + i;
          y[j] = in[0][j] / std::pow(knorm + alpha / nsize * sum, beta);
        }
      }
    }
    return Values{y};
  };
  return c;
}

OpCase MakeLoss(const std::string& name, Shape s, AttrMap attrs, double scale,
                const std::string& norm, double thresh) {
  OpCase c;
  c.name = name;
  c.op = name.rfind("make_loss", 0) == 0 ? "make_loss" : "MakeLoss";
  c.attrs = std::move(attrs);
  c.input_shapes = {s};
  c.reference = [](const Values& in, const std::vector<Shape>&) { return Values{in[0]}; };
  c.expected_grads = [=](const Values& in, const std::vector<Shape>& sh) {
    double g = scale;
    if (norm == "batch") g /= static_cast<double>(sh[0].Size() / sh[0][sh[0].ndim() - 1]);
    if (norm == "valid") {
      double n = 0;
      for (double v : in[0]) n += v > thresh;
      g /= n < 1 ? 1 : n;
    }
    return Values{std::vector<double>(in[0].size(), g)};
  };
  return c;
}

OpCase SmoothL1(const std::string& name, Shape s, double sigma, bool explicit_sigma) {
  OpCase c;
  c.name = name;
  c.op = "smooth_l1";
  if (explicit_sigma) c.attrs = {{"scalar", std::to_string(sigma)}};
  c.input_shapes = {s};
  c.low = -2;
  c.high = 2;
  c.reference = [sigma](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y;
    const double t = 1 / (sigma * sigma);
    for (double x : in[0]) {
      y.push_back(std::abs(x) < t ? 0.5 * sigma * sigma * x * x : std::abs(x) - 0.5 * t);
    }
    return Values{y};
  };
  return c;
}

}  // namespace

std::vector<OpCase> NormLossCases() {
  return {
      LayerNorm("LayerNorm_last", {3, 5}, -1, 1e-5, false),
      LayerNorm("LayerNorm_mid", {2, 4, 3}, 1, 1e-3, false),
      LayerNorm("LayerNorm_first_mean_var", {4, 2, 2}, 0, 1e-5, true),
      GroupNorm("InstanceNorm_3d", false, "", {2, 3, 4}, 1e-3),
      GroupNorm("InstanceNorm_4d", false, "", {2, 2, 2, 3}, 1e-5),
      GroupNorm("L2Normalization_instance", true, "instance", {3, 4}, 1e-10),
      GroupNorm("L2Normalization_channel", true, "channel", {2, 3, 2}, 1e-10),
      GroupNorm("L2Normalization_spatial", true, "spatial", {2, 2, 2, 2}, 1e-6),
      GroupNorm("InstanceNorm_5d", false, "", {2, 3, 2, 1, 2}, 1e-3),
      GroupNorm("L2Normalization_instance_4d", true, "instance", {2, 2, 3, 2}, 1e-10),
      GroupNorm("L2Normalization_channel_4d", true, "channel", {2, 3, 2, 2}, 1e-10),
      LrnCase("LRN_3", {2, 4, 2, 2}, 3, 0.1, 0.75, 2),
      LrnCase("LRN_5_big_alpha", {1, 6, 1, 3}, 5, 2.0, 0.5, 1),
      LrnCase("LRN_1", {2, 3, 2, 1}, 1, 0.5, 0.75, 2),
      LrnCase("LRN_7_wide", {1, 3, 2, 2}, 7, 0.3, 1.5, 1),
      MakeLoss("MakeLoss_null", {3, 4}, {}, 1.0, "null", 0),
      MakeLoss("MakeLoss_batch", {2, 3, 4}, {{"grad_scale", "2"}, {"normalization", "batch"}},
               2.0, "batch", 0),
      MakeLoss("MakeLoss_valid", {4, 3},
               {{"normalization", "valid"}, {"valid_thresh", "0.25"}}, 1.0, "valid", 0.25),
      MakeLoss("make_loss_alias", {5}, {{"grad_scale", "0.5"}}, 0.5, "null", 0),
      SmoothL1("smooth_l1_default", {2, 5}, 1.0, false),
      SmoothL1("smooth_l1_sigma2", {3, 4}, 2.0, true),
      SmoothL1("smooth_l1_sigma_half", {7}, 0.5, true),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
