// Deconvolution cases: a fresh scatter-form reference of MXNet's transposed convolution (it
// never calls the kernels under test); gradients come from the harness's finite differences.
// 1-D cases are computed as 2-D ones with unit height.
#include <string>
#include <vector>

#include "libs/ops/conv/conv_cases.h"

namespace mxgrid::ops::testing {

namespace {

using Vecs = std::vector<std::vector<double>>;

struct Deconv2 {
  int kh, kw, sh = 1, sw = 1, ph = 0, pw = 0, ah = 0, aw = 0, filters = 1, groups = 1;
  bool bias = false;
  int dh = 1, dw = 1;
  int th = 0, tw = 0;  // target_shape (0: unset)
};

// Output size along one axis, and the pad actually used (MXNet: a target shape overrides
// pad and adj with total = s*(in-1) + dk - target, pad = ceil(total / 2)).
int OutSize(int in, int k, int s, int d, int pad, int adj, int target, int* pad_used) {
  const int dk = (k - 1) * d + 1;
  if (target > 0) {
    *pad_used = (s * (in - 1) + dk - target + 1) / 2;
    return target;
  }
  *pad_used = pad;
  return s * (in - 1) + dk - 2 * pad + adj;
}

// y[n, g*fpg + f', iy*s - p + ky*d, ix*s - p + kx*d] += x[n, c, iy, ix] * w[c, f', ky, kx]
// for c in group g; then + b[f].
std::vector<double> RefDeconv(const Deconv2& p, const std::vector<double>& x, const Shape& xs,
                              const std::vector<double>& w, const std::vector<double>* b) {
  const bool one_d = xs.ndim() == 3;
  const int n = xs[0], c = xs[1], h = one_d ? 1 : xs[2], wd = xs[xs.ndim() - 1];
  int ph = 0, pw = 0;
  const int oh = one_d ? 1 : OutSize(h, p.kh, p.sh, p.dh, p.ph, p.ah, p.th, &ph);
  const int ow = OutSize(wd, p.kw, p.sw, p.dw, p.pw, p.aw, p.tw, &pw);
  const int cpg = c / p.groups, fpg = p.filters / p.groups;
  std::vector<double> y(static_cast<size_t>(n) * p.filters * oh * ow, 0.0);
  for (int in = 0; in < n; ++in)
    for (int ch = 0; ch < c; ++ch)
      for (int iy = 0; iy < h; ++iy)
        for (int ix = 0; ix < wd; ++ix)
          for (int fo = 0; fo < fpg; ++fo)
            for (int ky = 0; ky < p.kh; ++ky)
              for (int kx = 0; kx < p.kw; ++kx) {
                const int oy = iy * p.sh - ph + ky * p.dh, ox = ix * p.sw - pw + kx * p.dw;
                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                const int f = (ch / cpg) * fpg + fo;
                y[((in * p.filters + f) * oh + oy) * ow + ox] +=
                    x[((in * c + ch) * h + iy) * wd + ix] *
                    w[((ch * fpg + fo) * p.kh + ky) * p.kw + kx];
              }
  if (b != nullptr) {
    for (size_t i = 0; i < y.size(); ++i) y[i] += (*b)[(i / (oh * ow)) % p.filters];
  }
  return y;
}

std::string Tup(bool one_d, int a, int b) {
  if (one_d) return "(" + std::to_string(b) + ",)";
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

OpCase DeconvCase(const std::string& name, const Deconv2& p, const Shape& xs) {
  const bool one_d = xs.ndim() == 3;
  OpCase c;
  c.name = name;
  c.op = "Deconvolution";
  c.attrs = {{"num_filter", std::to_string(p.filters)}, {"kernel", Tup(one_d, p.kh, p.kw)},
             {"stride", Tup(one_d, p.sh, p.sw)},        {"pad", Tup(one_d, p.ph, p.pw)},
             {"adj", Tup(one_d, p.ah, p.aw)},           {"dilate", Tup(one_d, p.dh, p.dw)}};
  if (p.tw > 0) c.attrs["target_shape"] = Tup(one_d, p.th, p.tw);
  if (p.groups != 1) c.attrs["num_group"] = std::to_string(p.groups);
  if (p.bias) c.attrs["no_bias"] = "False";  // MXNet's default is True
  std::vector<int64_t> ws = {xs[1], p.filters / p.groups};
  if (!one_d) ws.push_back(p.kh);
  ws.push_back(p.kw);
  c.input_shapes = {xs, Shape(absl::MakeConstSpan(ws))};
  if (p.bias) c.input_shapes.push_back(Shape{p.filters});
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) -> Vecs {
    return {RefDeconv(p, in[0], s[0], in[1], p.bias ? &in[2] : nullptr)};
  };
  return c;
}

}  // namespace

std::vector<OpCase> DeconvCases() {
  std::vector<OpCase> cases;
  // {kh, kw, sh, sw, ph, pw, ah, aw, filters, groups, bias, dh, dw, th, tw}
  cases.push_back(DeconvCase("deconv2d_basic_bias", {3, 3, 1, 1, 0, 0, 0, 0, 4, 1, true},
                             {2, 3, 3, 4}));
  cases.push_back(DeconvCase("deconv2d_batch1_stride2_pad_adj",
                             {3, 2, 2, 2, 1, 0, 1, 1, 3, 1, false}, {1, 2, 3, 4}));
  cases.push_back(DeconvCase("deconv2d_groups_bias_stride2",
                             {3, 3, 2, 1, 1, 1, 1, 0, 6, 2, true}, {1, 4, 3, 3}));
  cases.push_back(DeconvCase("deconv2d_dilate_nobias",
                             {2, 3, 1, 2, 0, 1, 0, 1, 2, 1, false, 2, 1}, {2, 2, 3, 3}));
  cases.push_back(DeconvCase("deconv2d_target_shape",
                             {3, 3, 2, 2, 0, 0, 0, 0, 3, 1, false, 1, 1, 8, 9}, {1, 2, 4, 4}));
  cases.push_back(DeconvCase("deconv1d_batch1_stride2_pad_adj_bias",
                             {1, 4, 1, 2, 0, 1, 0, 1, 2, 1, true}, {1, 3, 5}));
  cases.push_back(DeconvCase("deconv1d_groups_nobias", {1, 3, 1, 3, 0, 2, 0, 2, 4, 2, false},
                             {2, 2, 4}));
  return cases;
}

}  // namespace mxgrid::ops::testing
