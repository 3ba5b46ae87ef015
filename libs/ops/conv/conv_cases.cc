// References are written from MXNet's definitions with fresh nested loops; they never call
// the kernels under test. 1-D cases are given as 2-D ones with unit height.
#include "libs/ops/conv/conv_cases.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace mxgrid::ops::testing {

namespace {

using Vecs = std::vector<std::vector<double>>;

struct Conv2 {
  int kh, kw, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1, filters;
  bool bias = true;
};

// y[n,f,oy,ox] = b[f] + sum_{c in group(f), ky, kx} x[n,c,oy*s-p+ky*d, ...] * w[f,c',ky,kx].
std::vector<double> RefConv(const Conv2& p, const std::vector<double>& x, const Shape& xs,
                            const std::vector<double>& w, const std::vector<double>* b) {
  const bool one_d = xs.ndim() == 3;
  const int n = xs[0], c = xs[1], h = one_d ? 1 : xs[2], wd = xs[xs.ndim() - 1];
  const int oh = (h + 2 * p.ph - (1 + (p.kh - 1) * p.dh)) / p.sh + 1;
  const int ow = (wd + 2 * p.pw - (1 + (p.kw - 1) * p.dw)) / p.sw + 1;
  const int cpg = c / p.groups, fpg = p.filters / p.groups;
  std::vector<double> y(static_cast<size_t>(n) * p.filters * oh * ow, 0.0);
  for (int in = 0; in < n; ++in)
    for (int f = 0; f < p.filters; ++f)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          double acc = b ? (*b)[f] : 0.0;
          for (int cc = 0; cc < cpg; ++cc)
            for (int ky = 0; ky < p.kh; ++ky)
              for (int kx = 0; kx < p.kw; ++kx) {
                int iy = oy * p.sh - p.ph + ky * p.dh, ix = ox * p.sw - p.pw + kx * p.dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                int ch = (f / fpg) * cpg + cc;
                acc += x[((in * c + ch) * h + iy) * wd + ix] *
                       w[((f * cpg + cc) * p.kh + ky) * p.kw + kx];
              }
          y[((in * p.filters + f) * oh + oy) * ow + ox] = acc;
        }
  return y;
}

std::string T2(int a, int b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

OpCase ConvCase(const std::string& name, const Conv2& p, const Shape& xs, bool one_d) {
  OpCase c;
  c.name = name;
  c.op = "Convolution";
  const int cin = xs[1];
  c.attrs = {{"num_filter", std::to_string(p.filters)}};
  if (one_d) {
    c.attrs["kernel"] = "(" + std::to_string(p.kw) + ",)";
    c.attrs["stride"] = "(" + std::to_string(p.sw) + ",)";
    c.attrs["pad"] = "(" + std::to_string(p.pw) + ",)";
    c.attrs["dilate"] = "(" + std::to_string(p.dw) + ",)";
    c.attrs["layout"] = "NCW";
  } else {
    c.attrs["kernel"] = T2(p.kh, p.kw);
    if (p.sh != 1 || p.sw != 1) c.attrs["stride"] = T2(p.sh, p.sw);
    if (p.ph != 0 || p.pw != 0) c.attrs["pad"] = T2(p.ph, p.pw);
    if (p.dh != 1 || p.dw != 1) c.attrs["dilate"] = T2(p.dh, p.dw);
  }
  if (p.groups != 1) c.attrs["num_group"] = std::to_string(p.groups);
  if (!p.bias) c.attrs["no_bias"] = "True";
  std::vector<int64_t> ws = {p.filters, cin / p.groups};
  if (!one_d) ws.push_back(p.kh);
  ws.push_back(p.kw);
  c.input_shapes = {xs, Shape(absl::MakeConstSpan(ws))};
  if (p.bias) c.input_shapes.push_back(Shape{p.filters});
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) -> Vecs {
    return {RefConv(p, in[0], s[0], in[1], p.bias ? &in[2] : nullptr)};
  };
  return c;
}

void AddConvCases(std::vector<OpCase>* cases) {
  cases->push_back(ConvCase("conv2d_basic", {3, 3, 1, 1, 0, 0, 1, 1, 1, 4}, {2, 3, 5, 6}, false));
  cases->push_back(ConvCase("conv2d_batch1_pad_stride2",
                            {3, 2, 2, 2, 1, 1, 1, 1, 1, 3}, {1, 2, 7, 5}, false));
  cases->push_back(ConvCase("conv2d_dilate", {2, 3, 1, 2, 1, 0, 2, 2, 1, 2}, {2, 2, 6, 7}, false));
  Conv2 g{3, 3, 1, 1, 1, 1, 1, 1, 2, 4};
  g.bias = false;
  cases->push_back(ConvCase("conv2d_groups_nobias", g, {2, 4, 5, 5}, false));
  cases->push_back(ConvCase("conv1d_stride_pad", {1, 3, 1, 2, 0, 1, 1, 1, 1, 3}, {2, 2, 9}, true));
  cases->push_back(ConvCase("conv1d_dilate", {1, 2, 1, 1, 0, 2, 1, 3, 1, 2}, {1, 3, 8}, true));
}

struct Pool2 {
  std::string type;
  int kh, kw, sh = 1, sw = 1, ph = 0, pw = 0;
  bool full = false, global = false, include_pad = true;
};

// MXNet's pooling windows: start o*s - p; avg divides by the window clipped to the padded
// extent (or to the data with count_include_pad=False); max skips padding.
std::vector<double> RefPool(Pool2 p, const std::vector<double>& x, const Shape& xs) {
  const bool one_d = xs.ndim() == 3;
  const int planes = xs[0] * xs[1], h = one_d ? 1 : xs[2], w = xs[xs.ndim() - 1];
  if (p.global) p = {p.type, h, w, 1, 1, 0, 0, false, false, p.include_pad};
  auto out_dim = [&](int in, int k, int s, int pad) {
    int span = in + 2 * pad - k;
    return 1 + (p.full ? (span + s - 1) / s : span / s);
  };
  const int oh = out_dim(h, p.kh, p.sh, p.ph), ow = out_dim(w, p.kw, p.sw, p.pw);
  std::vector<double> y;
  for (int pl = 0; pl < planes; ++pl)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        double acc = p.type == "max" ? -1e300 : 0.0;
        int cells = 0, padded = 0;
        for (int ky = 0; ky < p.kh; ++ky)
          for (int kx = 0; kx < p.kw; ++kx) {
            int iy = oy * p.sh - p.ph + ky, ix = ox * p.sw - p.pw + kx;
            if (iy < h + p.ph && ix < w + p.pw) ++padded;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            double v = x[(pl * h + iy) * w + ix];
            acc = p.type == "max" ? std::max(acc, v) : acc + v;
            ++cells;
          }
        if (p.type == "avg") acc /= p.include_pad ? padded : cells;
        y.push_back(acc);
      }
  return y;
}

OpCase PoolCase(const std::string& name, const Pool2& p, const Shape& xs) {
  OpCase c;
  c.name = name;
  c.op = "Pooling";
  const bool one_d = xs.ndim() == 3;
  auto tup = [&](int a, int b) {
    return one_d ? "(" + std::to_string(b) + ",)" : T2(a, b);
  };
  c.attrs = {{"pool_type", p.type}};
  if (p.global) {
    c.attrs["global_pool"] = "True";
    c.attrs["kernel"] = tup(1, 1);  // ignored
  } else {
    c.attrs["kernel"] = tup(p.kh, p.kw);
    c.attrs["stride"] = tup(p.sh, p.sw);
    c.attrs["pad"] = tup(p.ph, p.pw);
  }
  if (p.full) c.attrs["pooling_convention"] = "full";
  if (!p.include_pad) c.attrs["count_include_pad"] = "False";
  c.input_shapes = {xs};
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) -> Vecs {
    return {RefPool(p, in[0], s[0])};
  };
  return c;
}

void AddPoolCases(std::vector<OpCase>* cases) {
  cases->push_back(PoolCase("pool_max_basic", {"max", 2, 2, 2, 2}, {2, 3, 6, 5}));
  cases->push_back(PoolCase("pool_max_pad_full", {"max", 3, 2, 2, 2, 1, 1, true}, {1, 2, 7, 6}));
  cases->push_back(PoolCase("pool_avg_pad_full", {"avg", 2, 2, 2, 2, 1, 1, true}, {1, 2, 5, 5}));
  Pool2 nocip{"avg", 3, 3, 2, 1, 1, 1, false};
  nocip.include_pad = false;
  cases->push_back(PoolCase("pool_avg_no_pad_count", nocip, {2, 1, 5, 4}));
  cases->push_back(PoolCase("pool_sum_full", {"sum", 2, 2, 2, 2, 0, 0, true}, {1, 2, 5, 5}));
  Pool2 glob{"avg", 1, 1};
  glob.global = true;
  cases->push_back(PoolCase("pool_global_avg", glob, {2, 3, 4, 5}));
  glob.type = "sum";
  cases->push_back(PoolCase("pool_global_sum", glob, {2, 3, 4, 5}));
  glob.type = "max";
  cases->push_back(PoolCase("pool_global_max_1d", glob, {2, 3, 7}));
  // 'full' rounds up: oneDNN gets a right / bottom pad of 2 against the left / top 1.
  cases->push_back(
      PoolCase("pool_max_full_asym_pad", {"max", 3, 3, 2, 2, 1, 1, true}, {1, 2, 8, 7}));
  cases->push_back(
      PoolCase("pool_avg_full_asym_pad", {"avg", 3, 3, 2, 2, 1, 1, true}, {2, 1, 8, 7}));
  cases->push_back(PoolCase("pool_avg_1d", {"avg", 1, 3, 1, 2, 0, 1}, {2, 2, 8}));
  // Ties route the whole gradient to the first maximum (checked against MXNet 1.9.1).
  OpCase ties = PoolCase("pool_max_ties_first", {"max", 2, 2, 2, 2}, {1, 1, 2, 2});
  ties.input_values = {{1.0, 1.0, 1.0, 1.0}};
  ties.check_grad = false;
  cases->push_back(ties);
  // Literal output of MXNet 1.9.1: Pooling(arange(25).reshape(1, 1, 5, 5), kernel=(2, 2),
  // stride=(2, 2), pad=(1, 1), pool_type='avg', pooling_convention='full').
  OpCase lit = PoolCase("pool_avg_full_mxnet_literal", {"avg", 2, 2, 2, 2, 1, 1, true},
                        {1, 1, 5, 5});
  lit.input_values = {std::vector<double>(25)};
  for (int i = 0; i < 25; ++i) lit.input_values[0][i] = i;
  lit.reference = [](const Vecs&, const std::vector<Shape>&) -> Vecs {
    return {{0, 0.75, 1.75, 0, 3.75, 9, 11, 0, 8.75, 19, 21, 0, 0, 0, 0, 0}};
  };
  lit.check_grad = false;
  cases->push_back(lit);
}

struct BN {
  bool train = true, fix_gamma = true, global = false, mean_var = false;
  int axis = 1;
};

// y = gamma' * (x - mean) / sqrt(var + eps) + beta over every axis but `axis`, with batch
// (biased) stats in training and the moving ones otherwise; gamma' = 1 under fix_gamma.
Vecs RefBN(const BN& p, const Vecs& in, const Shape& xs) {
  const int axis = p.axis < 0 ? p.axis + xs.ndim() : p.axis;
  int outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= xs[i];
  for (int i = axis + 1; i < xs.ndim(); ++i) inner *= xs[i];
  const int c = xs[axis];
  Vecs out = {std::vector<double>(in[0].size()), std::vector<double>(c),
              std::vector<double>(c)};
  for (int ch = 0; ch < c; ++ch) {
    double mean = in[3][ch], var = in[4][ch];
    if (p.train && !p.global) {
      double s = 0, sq = 0;
      for (int o = 0; o < outer; ++o)
        for (int i = 0; i < inner; ++i) s += in[0][(o * c + ch) * inner + i];
      mean = s / (outer * inner);
      for (int o = 0; o < outer; ++o)
        for (int i = 0; i < inner; ++i) {
          double d = in[0][(o * c + ch) * inner + i] - mean;
          sq += d * d;
        }
      var = sq / (outer * inner);
    }
    const double gamma = p.fix_gamma ? 1.0 : in[1][ch];
    for (int o = 0; o < outer; ++o)
      for (int i = 0; i < inner; ++i) {
        const int k = (o * c + ch) * inner + i;
        out[0][k] = gamma * (in[0][k] - mean) / std::sqrt(var + 1e-3) + in[2][ch];
      }
    out[1][ch] = mean;
    out[2][ch] = 1.0 / std::sqrt(var + 1e-3);
  }
  if (!p.mean_var) out.resize(1);
  return out;
}

OpCase BNCase(const std::string& name, const BN& p, const Shape& xs) {
  OpCase c;
  c.name = name;
  c.op = "BatchNorm";
  c.is_train = p.train;
  if (!p.fix_gamma) c.attrs["fix_gamma"] = "False";
  if (p.global) c.attrs["use_global_stats"] = "True";
  if (p.mean_var) c.attrs["output_mean_var"] = "True";
  if (p.axis != 1) c.attrs["axis"] = std::to_string(p.axis);
  const int64_t ch = xs[p.axis < 0 ? p.axis + xs.ndim() : p.axis];
  c.input_shapes = {xs, Shape{ch}, Shape{ch}, Shape{ch}, Shape{ch}};
  std::vector<double> var(ch);
  for (int64_t i = 0; i < ch; ++i) var[i] = 0.5 + 0.25 * i;
  c.input_values = {{}, {}, {}, {}, var};  // a positive moving variance
  // The hidden mean / inverse std have no gradient path (as in MXNet).
  if (p.mean_var) c.check_grad = false;
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) { return RefBN(p, in, s[0]); };
  return c;
}

void AddBNCases(std::vector<OpCase>* cases) {
  cases->push_back(BNCase("bn_train_fix_gamma", {}, {2, 3, 4, 5}));
  cases->push_back(BNCase("bn_train_gamma_batch1", {true, false}, {1, 3, 5}));
  cases->push_back(BNCase("bn_train_axis_last", {true, false, false, false, -1}, {3, 2, 4}));
  cases->push_back(BNCase("bn_inference", {false, false}, {2, 3, 3, 3}));
  cases->push_back(BNCase("bn_global_stats_train", {true, false, true}, {2, 2, 3}));
  cases->push_back(BNCase("bn_output_mean_var", {true, false, false, true}, {3, 2, 2, 2}));
  cases->push_back(BNCase("bn_output_mean_var_inference", {false, true, false, true}, {2, 2, 3}));
}

}  // namespace

std::vector<OpCase> ConvCases() {
  std::vector<OpCase> cases;
  AddConvCases(&cases);
  for (OpCase& c : DeconvCases()) cases.push_back(std::move(c));
  AddPoolCases(&cases);
  AddBNCases(&cases);
  for (OpCase& c : Conv3DCases()) cases.push_back(std::move(c));
  return cases;
}

}  // namespace mxgrid::ops::testing
