// 3-D (NCDHW) cases of Convolution, Deconvolution and Pooling. The references are fresh
// nested loops over (depth, height, width) written from MXNet's definitions; they never call
// the kernels under test. Gradients come from the harness's finite differences; step 6 of
// the harness runs float32 through the oneDNN paths.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "libs/ops/conv/conv_cases.h"

namespace mxgrid::ops::testing {

namespace {

using Vecs = std::vector<std::vector<double>>;
using Int3 = std::array<int, 3>;

std::string Tup3(const Int3& v) {
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " +
         std::to_string(v[2]) + ")";
}

struct Conv3 {
  Int3 k, s{1, 1, 1}, pad{0, 0, 0}, dil{1, 1, 1};
  int filters = 1, groups = 1;
  bool bias = true;
};

// Row-major offset of (a, b, c) in a (., B, C) box.
int At(int a, int b, int c, const Int3& box) { return (a * box[1] + b) * box[2] + c; }

// y[n,f,o] = b[f] + sum over c in group(f) and k of x[n,c,o*s - p + k*d] * w[f,c',k].
std::vector<double> RefConv3(const Conv3& p, const std::vector<double>& x, const Shape& xs,
                             const std::vector<double>& w, const std::vector<double>* b) {
  const int n = xs[0], c = xs[1];
  const Int3 in{static_cast<int>(xs[2]), static_cast<int>(xs[3]), static_cast<int>(xs[4])};
  Int3 out;
  for (int i = 0; i < 3; ++i) {
    out[i] = (in[i] + 2 * p.pad[i] - (1 + (p.k[i] - 1) * p.dil[i])) / p.s[i] + 1;
  }
  const int in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
  const int k_sz = p.k[0] * p.k[1] * p.k[2];
  const int cpg = c / p.groups, fpg = p.filters / p.groups;
  std::vector<double> y(static_cast<size_t>(n) * p.filters * out_sz, 0.0);
  for (int in_n = 0; in_n < n; ++in_n)
    for (int f = 0; f < p.filters; ++f)
      for (int oz = 0; oz < out[0]; ++oz)
        for (int oy = 0; oy < out[1]; ++oy)
          for (int ox = 0; ox < out[2]; ++ox) {
            double acc = b ? (*b)[f] : 0.0;
            for (int cc = 0; cc < cpg; ++cc)
              for (int kz = 0; kz < p.k[0]; ++kz)
                for (int ky = 0; ky < p.k[1]; ++ky)
                  for (int kx = 0; kx < p.k[2]; ++kx) {
                    const int iz = oz * p.s[0] - p.pad[0] + kz * p.dil[0];
                    const int iy = oy * p.s[1] - p.pad[1] + ky * p.dil[1];
                    const int ix = ox * p.s[2] - p.pad[2] + kx * p.dil[2];
                    if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 ||
                        ix >= in[2]) {
                      continue;
                    }
                    const int ch = (f / fpg) * cpg + cc;
                    acc += x[(in_n * c + ch) * in_sz + At(iz, iy, ix, in)] *
                           w[(f * cpg + cc) * k_sz + At(kz, ky, kx, p.k)];
                  }
            y[(in_n * p.filters + f) * out_sz + At(oz, oy, ox, out)] = acc;
          }
  return y;
}

OpCase Conv3Case(const std::string& name, const Conv3& p, const Shape& xs) {
  OpCase c;
  c.name = name;
  c.op = "Convolution";
  c.attrs = {{"num_filter", std::to_string(p.filters)}, {"kernel", Tup3(p.k)},
             {"stride", Tup3(p.s)}, {"pad", Tup3(p.pad)}, {"dilate", Tup3(p.dil)},
             {"layout", "NCDHW"}};
  if (p.groups != 1) c.attrs["num_group"] = std::to_string(p.groups);
  if (!p.bias) c.attrs["no_bias"] = "True";
  c.input_shapes = {xs, Shape{p.filters, xs[1] / p.groups, p.k[0], p.k[1], p.k[2]}};
  if (p.bias) c.input_shapes.push_back(Shape{p.filters});
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) -> Vecs {
    return {RefConv3(p, in[0], s[0], in[1], p.bias ? &in[2] : nullptr)};
  };
  return c;
}

struct Deconv3 {
  Int3 k, s{1, 1, 1}, pad{0, 0, 0}, adj{0, 0, 0}, target{0, 0, 0};
  int filters = 1, groups = 1;
  bool bias = false;
};

// y[n, g*fpg + f', i*s - p + k] += x[n, c, i] * w[c, f', k] for c in group g; then + b[f].
// A target shape sets the output size and pad = ceil((s*(in-1) + k - target) / 2).
std::vector<double> RefDeconv3(const Deconv3& p, const std::vector<double>& x, const Shape& xs,
                               const std::vector<double>& w, const std::vector<double>* b) {
  const int n = xs[0], c = xs[1];
  const Int3 in{static_cast<int>(xs[2]), static_cast<int>(xs[3]), static_cast<int>(xs[4])};
  Int3 out, pad;
  for (int i = 0; i < 3; ++i) {
    const int full = p.s[i] * (in[i] - 1) + p.k[i];
    pad[i] = p.target[i] > 0 ? (full - p.target[i] + 1) / 2 : p.pad[i];
    out[i] = p.target[i] > 0 ? p.target[i] : full - 2 * p.pad[i] + p.adj[i];
  }
  const int in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
  const int k_sz = p.k[0] * p.k[1] * p.k[2];
  const int cpg = c / p.groups, fpg = p.filters / p.groups;
  std::vector<double> y(static_cast<size_t>(n) * p.filters * out_sz, 0.0);
  for (int in_n = 0; in_n < n; ++in_n)
    for (int ch = 0; ch < c; ++ch)
      for (int iz = 0; iz < in[0]; ++iz)
        for (int iy = 0; iy < in[1]; ++iy)
          for (int ix = 0; ix < in[2]; ++ix)
            for (int fo = 0; fo < fpg; ++fo)
              for (int kz = 0; kz < p.k[0]; ++kz)
                for (int ky = 0; ky < p.k[1]; ++ky)
                  for (int kx = 0; kx < p.k[2]; ++kx) {
                    const int oz = iz * p.s[0] - pad[0] + kz;
                    const int oy = iy * p.s[1] - pad[1] + ky;
                    const int ox = ix * p.s[2] - pad[2] + kx;
                    if (oz < 0 || oz >= out[0] || oy < 0 || oy >= out[1] || ox < 0 ||
                        ox >= out[2]) {
                      continue;
                    }
                    const int f = (ch / cpg) * fpg + fo;
                    y[(in_n * p.filters + f) * out_sz + At(oz, oy, ox, out)] +=
                        x[(in_n * c + ch) * in_sz + At(iz, iy, ix, in)] *
                        w[(ch * fpg + fo) * k_sz + At(kz, ky, kx, p.k)];
                  }
  if (b != nullptr) {
    for (size_t i = 0; i < y.size(); ++i) y[i] += (*b)[(i / out_sz) % p.filters];
  }
  return y;
}

OpCase Deconv3Case(const std::string& name, const Deconv3& p, const Shape& xs) {
  OpCase c;
  c.name = name;
  c.op = "Deconvolution";
  c.attrs = {{"num_filter", std::to_string(p.filters)}, {"kernel", Tup3(p.k)},
             {"stride", Tup3(p.s)}, {"pad", Tup3(p.pad)}, {"adj", Tup3(p.adj)}};
  if (p.target != Int3{0, 0, 0}) c.attrs["target_shape"] = Tup3(p.target);
  if (p.groups != 1) c.attrs["num_group"] = std::to_string(p.groups);
  if (p.bias) c.attrs["no_bias"] = "False";  // MXNet's default is True
  c.input_shapes = {xs, Shape{xs[1], p.filters / p.groups, p.k[0], p.k[1], p.k[2]}};
  if (p.bias) c.input_shapes.push_back(Shape{p.filters});
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) -> Vecs {
    return {RefDeconv3(p, in[0], s[0], in[1], p.bias ? &in[2] : nullptr)};
  };
  return c;
}

struct Pool3 {
  std::string type;
  Int3 k, s{1, 1, 1}, pad{0, 0, 0};
  bool full = false, global = false, include_pad = true;
};

// MXNet's pooling windows: start o*s - p; avg divides by the window clipped to the padded
// extent (or to the data with count_include_pad=False); max skips padding.
std::vector<double> RefPool3(Pool3 p, const std::vector<double>& x, const Shape& xs) {
  const int planes = xs[0] * xs[1];
  const Int3 in{static_cast<int>(xs[2]), static_cast<int>(xs[3]), static_cast<int>(xs[4])};
  if (p.global) {
    p.k = in;
    p.s = {1, 1, 1};
    p.pad = {0, 0, 0};
    p.full = false;
  }
  Int3 out;
  for (int i = 0; i < 3; ++i) {
    const int span = in[i] + 2 * p.pad[i] - p.k[i];
    out[i] = 1 + (p.full ? (span + p.s[i] - 1) / p.s[i] : span / p.s[i]);
  }
  std::vector<double> y;
  for (int pl = 0; pl < planes; ++pl)
    for (int oz = 0; oz < out[0]; ++oz)
      for (int oy = 0; oy < out[1]; ++oy)
        for (int ox = 0; ox < out[2]; ++ox) {
          double acc = p.type == "max" ? -1e300 : 0.0;
          int cells = 0, padded = 0;
          for (int kz = 0; kz < p.k[0]; ++kz)
            for (int ky = 0; ky < p.k[1]; ++ky)
              for (int kx = 0; kx < p.k[2]; ++kx) {
                const int iz = oz * p.s[0] - p.pad[0] + kz;
                const int iy = oy * p.s[1] - p.pad[1] + ky;
                const int ix = ox * p.s[2] - p.pad[2] + kx;
                if (iz < in[0] + p.pad[0] && iy < in[1] + p.pad[1] && ix < in[2] + p.pad[2]) {
                  ++padded;
                }
                if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 || ix >= in[2]) {
                  continue;
                }
                const double v = x[pl * in[0] * in[1] * in[2] + At(iz, iy, ix, in)];
                acc = p.type == "max" ? std::max(acc, v) : acc + v;
                ++cells;
              }
          if (p.type == "avg") acc /= p.include_pad ? padded : cells;
          y.push_back(acc);
        }
  return y;
}

OpCase Pool3Case(const std::string& name, const Pool3& p, const Shape& xs) {
  OpCase c;
  c.name = name;
  c.op = "Pooling";
  c.attrs = {{"pool_type", p.type}};
  if (p.global) {
    c.attrs["global_pool"] = "True";
    c.attrs["kernel"] = "(1, 1, 1)";  // ignored
  } else {
    c.attrs["kernel"] = Tup3(p.k);
    c.attrs["stride"] = Tup3(p.s);
    c.attrs["pad"] = Tup3(p.pad);
  }
  if (p.full) c.attrs["pooling_convention"] = "full";
  if (!p.include_pad) c.attrs["count_include_pad"] = "False";
  c.input_shapes = {xs};
  c.reference = [p](const Vecs& in, const std::vector<Shape>& s) -> Vecs {
    return {RefPool3(p, in[0], s[0])};
  };
  return c;
}

}  // namespace

std::vector<OpCase> Conv3DCases() {
  std::vector<OpCase> cases;
  cases.push_back(Conv3Case("conv3d_basic", {{3, 3, 3}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 2}, {2, 3, 4, 5, 5}));
  cases.push_back(Conv3Case("conv3d_stride_pad", {{3, 2, 3}, {2, 1, 2}, {1, 0, 1}, {1, 1, 1}, 4},
                            {1, 2, 5, 4, 6}));
  Conv3 g{{2, 2, 2}, {1, 1, 1}, {1, 0, 0}, {2, 1, 2}, 4, 2, false};
  cases.push_back(Conv3Case("conv3d_dilate_groups_nobias", g, {2, 4, 5, 4, 5}));

  Deconv3 d{{3, 3, 3}};
  d.filters = 3;
  d.bias = true;
  cases.push_back(Deconv3Case("deconv3d_basic_bias", d, {2, 2, 2, 3, 3}));
  Deconv3 sa{{3, 2, 3}, {2, 2, 1}, {1, 0, 1}, {1, 1, 0}};
  sa.filters = 4;
  sa.groups = 2;
  cases.push_back(Deconv3Case("deconv3d_stride_pad_adj_groups", sa, {1, 2, 3, 2, 3}));
  Deconv3 t{{3, 3, 2}, {2, 2, 2}};
  t.target = {6, 7, 6};
  t.filters = 2;
  cases.push_back(Deconv3Case("deconv3d_target_shape", t, {1, 2, 3, 4, 3}));

  cases.push_back(Pool3Case("pool3d_max_basic", {"max", {2, 2, 2}, {2, 2, 2}}, {2, 2, 4, 4, 6}));
  cases.push_back(
      Pool3Case("pool3d_max_pad_full", {"max", {3, 2, 3}, {2, 2, 2}, {1, 1, 1}, true},
                {1, 2, 5, 6, 5}));
  cases.push_back(
      Pool3Case("pool3d_avg_pad_full", {"avg", {3, 3, 2}, {2, 2, 2}, {1, 1, 1}, true},
                {1, 2, 6, 5, 5}));
  Pool3 nocip{"avg", {3, 3, 3}, {2, 1, 2}, {1, 1, 1}};
  nocip.include_pad = false;
  cases.push_back(Pool3Case("pool3d_avg_no_pad_count", nocip, {2, 1, 5, 4, 5}));
  cases.push_back(Pool3Case("pool3d_sum_full", {"sum", {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, true},
                            {1, 2, 5, 5, 3}));
  Pool3 glob{"avg", {1, 1, 1}};
  glob.global = true;
  cases.push_back(Pool3Case("pool3d_global_avg", glob, {2, 3, 3, 4, 5}));
  glob.type = "max";
  cases.push_back(Pool3Case("pool3d_global_max", glob, {2, 3, 3, 4, 5}));
  return cases;
}

}  // namespace mxgrid::ops::testing
