// Consistency cases for SequenceMask, SequenceLast, SequenceReverse, Pad and UpSampling
// (test-only).
// The references index (t, b, rest) directly from the documented layout, and Pad's follow
// NumPy's pad modes.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/nn/nn_cases.h"

namespace mxgrid::ops::nn_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

// kind 0 mask, 1 last, 2 reverse. lengths empty: every sequence is full.
OpCase Seq(const std::string& name, int kind, Shape s, int axis, std::vector<double> lengths,
           double value = 0) {
  OpCase c;
  c.name = name;
  c.op = kind == 0 ? "SequenceMask" : kind == 1 ? "SequenceLast" : "SequenceReverse";
  c.attrs = {{"axis", std::to_string(axis)}};
  if (kind == 0 && value != 0) c.attrs["value"] = std::to_string(value);
  const int batch_axis = axis == 0 ? 1 : 0;
  c.input_shapes = {s};
  if (!lengths.empty()) {
    c.attrs["use_sequence_length"] = "True";
    c.input_shapes.push_back(Shape{s[batch_axis]});
    c.input_values = {{}, lengths};
    c.grad_inputs = std::set<int>{0};
  }
  c.reference = [=](const Values& in, const std::vector<Shape>&) {
    const int64_t tl = s[axis], nb = s[batch_axis], rest = s.ProdRange(2, s.ndim());
    auto at = [&](int64_t t, int64_t b, int64_t r) {
      return (axis == 0 ? t * nb + b : b * tl + t) * rest + r;
    };
    std::vector<double> y(kind == 1 ? nb * rest : s.Size());
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t len = lengths.empty() ? tl : static_cast<int64_t>(lengths[b]);
      for (int64_t r = 0; r < rest; ++r) {
        if (kind == 1) {
          y[b * rest + r] = in[0][at(len - 1, b, r)];
          continue;
        }
        for (int64_t t = 0; t < tl; ++t) {
          if (kind == 0) y[at(t, b, r)] = t < len ? in[0][at(t, b, r)] : value;
          if (kind == 2) y[at(t, b, r)] = in[0][at(t < len ? len - 1 - t : t, b, r)];
        }
      }
    }
    return Values{y};
  };
  return c;
}

// Pad of a 4-D (N, C, H, W) or 5-D (N, C, D, H, W) array by `pad`: before/after widths of
// each spatial axis in order (4 or 6 entries).
OpCase PadCase(const std::string& name, const std::string& mode, Shape s,
               std::vector<int64_t> pad, double value = 0) {
  OpCase c;
  c.name = name;
  c.op = name.rfind("pad", 0) == 0 ? "pad" : "Pad";
  std::string widths = "(0, 0, 0, 0";
  for (int64_t w : pad) widths += ", " + std::to_string(w);
  c.attrs = {{"mode", mode}, {"pad_width", widths + ")"}};
  if (value != 0) c.attrs["constant_value"] = std::to_string(value);
  c.input_shapes = {s};
  c.reference = [=](const Values& in, const std::vector<Shape>&) {
    auto src = [&](int64_t j, int64_t before, int64_t n) -> int64_t {
      const int64_t i = j - before;
      if (i >= 0 && i < n) return i;
      if (mode == "constant") return -1;
      if (mode == "edge") return i < 0 ? 0 : n - 1;
      return i < 0 ? -i : 2 * n - 2 - i;
    };
    // Spatial axes as (D, H, W), D = 1 unpadded for 4-D data.
    const bool five = s.ndim() == 5;
    const int64_t d = five ? s[2] : 1, h = s[s.ndim() - 2], w = s[s.ndim() - 1];
    const std::vector<int64_t> pw = five ? pad : std::vector<int64_t>{0, 0, pad[0], pad[1],
                                                                     pad[2], pad[3]};
    const int64_t od = d + pw[0] + pw[1], oh = h + pw[2] + pw[3], ow = w + pw[4] + pw[5];
    std::vector<double> y;
    for (int64_t nc = 0; nc < s[0] * s[1]; ++nc) {
      for (int64_t e = 0; e < od; ++e) {
        for (int64_t r = 0; r < oh; ++r) {
          for (int64_t q = 0; q < ow; ++q) {
            const int64_t z = src(e, pw[0], d), a = src(r, pw[2], h), b = src(q, pw[4], w);
            y.push_back(z < 0 || a < 0 || b < 0 ? value
                                                : in[0][((nc * d + z) * h + a) * w + b]);
          }
        }
      }
    }
    return Values{y};
  };
  return c;
}

// UpSampling (nearest) of inputs `shapes` by `scale`; sum or concat.
OpCase UpCase(const std::string& name, std::vector<Shape> shapes, int64_t scale, bool sum) {
  OpCase c;
  c.name = name;
  c.op = "UpSampling";
  c.attrs = {{"scale", std::to_string(scale)}, {"sample_type", "nearest"},
             {"num_args", std::to_string(shapes.size())}};
  if (sum) c.attrs["multi_input_mode"] = "sum";
  c.input_shapes = shapes;
  c.reference = [=](const Values& in, const std::vector<Shape>& s) {
    const int64_t oh = s[0][2] * scale, ow = s[0][3] * scale;
    int64_t oc = sum ? s[0][1] : 0;
    for (size_t i = 0; i < s.size() && !sum; ++i) oc += s[i][1];
    std::vector<double> y(s[0][0] * oc * oh * ow, 0.0);
    int64_t base = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const int64_t f = oh / s[i][2];
      for (int64_t n = 0; n < s[i][0]; ++n) {
        for (int64_t ch = 0; ch < s[i][1]; ++ch) {
          for (int64_t r = 0; r < oh; ++r) {
            for (int64_t q = 0; q < ow; ++q) {
              const int64_t src = ((n * s[i][1] + ch) * s[i][2] + r / f) * s[i][3] + q / f;
              y[((n * oc + (sum ? ch : base + ch)) * oh + r) * ow + q] += in[i][src];
            }
          }
        }
      }
      base += s[i][1];
    }
    return Values{y};
  };
  return c;
}

}  // namespace

std::vector<OpCase> PadCases() {
  return {
      PadCase("Pad_constant", "constant", {1, 2, 3, 3}, {1, 0, 2, 1}, 0.5),
      PadCase("Pad_edge", "edge", {2, 1, 2, 3}, {2, 1, 0, 2}),
      PadCase("pad_reflect", "reflect", {1, 2, 3, 4}, {2, 1, 3, 1}),
      PadCase("Pad_edge_wide", "edge", {1, 2, 1, 2}, {2, 1, 0, 3}),
      PadCase("Pad_5d_constant", "constant", {1, 2, 2, 2, 3}, {1, 0, 0, 2, 1, 1}, -2),
      PadCase("Pad_5d_edge", "edge", {2, 1, 2, 2, 2}, {1, 2, 0, 1, 2, 0}),
      PadCase("Pad_5d_reflect", "reflect", {1, 1, 3, 3, 4}, {2, 1, 1, 2, 0, 3}),
      UpCase("UpSampling_one", {{2, 2, 2, 3}}, 2, false),
      UpCase("UpSampling_concat", {{1, 2, 2, 2}, {1, 1, 1, 1}}, 3, false),
      UpCase("UpSampling_sum", {{1, 2, 2, 2}, {1, 2, 4, 4}}, 2, true),
      UpCase("UpSampling_concat3", {{1, 1, 2, 2}, {1, 2, 1, 1}, {1, 1, 4, 4}}, 2, false),
      UpCase("UpSampling_sum3", {{2, 1, 2, 2}, {2, 1, 1, 1}, {2, 1, 2, 2}}, 3, true),
  };
}

std::vector<OpCase> SequenceCases() {
  return {
      Seq("SequenceMask_full", 0, {3, 2}, 0, {}),
      Seq("SequenceMask_len", 0, {4, 3, 2}, 0, {1, 4, 2.7}, -1.5),
      Seq("SequenceMask_axis1", 0, {2, 5, 3}, 1, {3, 0}),
      Seq("SequenceLast_full", 1, {3, 2, 2}, 0, {}),
      Seq("SequenceLast_len", 1, {4, 3}, 0, {1, 4, 2}),
      Seq("SequenceLast_axis1", 1, {2, 3, 2}, 1, {2, 3}),
      Seq("SequenceReverse_full", 2, {4, 2, 3}, 0, {}),
      Seq("SequenceReverse_len", 2, {5, 3}, 0, {2, 5, 0}),
      Seq("SequenceReverse_len_rest", 2, {4, 2, 3}, 0, {3, 1}),
      Seq("SequenceMask_axis1_rest", 0, {3, 4, 2, 2}, 1, {4, 1.5, 0}, 7),
      Seq("SequenceLast_axis1_full", 1, {2, 3, 2}, 1, {}),
  };
}

}  // namespace mxgrid::ops::nn_cases_internal
