// Consistency cases for the slice-assign family (slice_assign.cc) and _scatter_set_nd
// (test-only). References walk the region with Python's own slice rules (CPython's
// PySlice_AdjustIndices), written independently of slice_util.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;
using Opt = std::optional<int64_t>;

// The indices slice(b, e, s) selects from a sequence of length n.
std::vector<int64_t> PySliceIndices(Opt b, Opt e, Opt s, int64_t n) {
  const int64_t step = s.value_or(1);
  int64_t start, stop;
  if (step > 0) {
    start = b ? (*b < 0 ? std::max<int64_t>(*b + n, 0) : std::min(*b, n)) : 0;
    stop = e ? (*e < 0 ? std::max<int64_t>(*e + n, 0) : std::min(*e, n)) : n;
  } else {
    start = b ? (*b < 0 ? std::max<int64_t>(*b + n, -1) : std::min(*b, n - 1)) : n - 1;
    stop = e ? (*e < 0 ? std::max<int64_t>(*e + n, -1) : std::min(*e, n - 1)) : -1;
  }
  std::vector<int64_t> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(i);
  return out;
}

std::string Render(const std::vector<Opt>& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.size(); ++i) {
    if (i) s += ", ";
    s += t[i] ? std::to_string(*t[i]) : "None";
  }
  return s + (t.size() == 1 ? ",)" : ")");
}

// Flat offsets (C order of the region) of data[begin:end:step] in an array of shape `s`.
std::vector<int64_t> Region(const Shape& s, const std::vector<Opt>& b, const std::vector<Opt>& e,
                            const std::vector<Opt>& st) {
  std::vector<int64_t> offs{0};
  for (int ax = 0; ax < s.ndim(); ++ax) {
    std::vector<int64_t> idx;
    if (ax < static_cast<int>(b.size())) {
      idx = PySliceIndices(b[ax], e[ax], st.empty() ? Opt() : st[ax], s[ax]);
    } else {
      for (int64_t i = 0; i < s[ax]; ++i) idx.push_back(i);
    }
    std::vector<int64_t> next;
    for (int64_t o : offs) {
      for (int64_t i : idx) next.push_back(o * s[ax] + i);
    }
    offs = std::move(next);
  }
  return offs;
}

Shape RegionShape(const Shape& s, const std::vector<Opt>& b, const std::vector<Opt>& e,
                  const std::vector<Opt>& st) {
  std::vector<int64_t> dims;
  for (int ax = 0; ax < s.ndim(); ++ax) {
    dims.push_back(ax < static_cast<int>(b.size())
                       ? static_cast<int64_t>(
                             PySliceIndices(b[ax], e[ax], st.empty() ? Opt() : st[ax], s[ax])
                                 .size())
                       : s[ax]);
  }
  return Shape(dims);
}

void AddAssign(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
               Shape lhs, std::vector<Opt> b, std::vector<Opt> e, std::vector<Opt> st) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = {{"begin", Render(b)}, {"end", Render(e)}};
  if (!st.empty()) c.attrs["step"] = Render(st);
  c.input_shapes = {lhs, RegionShape(lhs, b, e, st)};
  c.check_grad = false;  // no gradient, as in MXNet
  c.reference = [lhs, b, e, st](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y = in[0];
    const std::vector<int64_t> offs = Region(lhs, b, e, st);
    for (size_t k = 0; k < offs.size(); ++k) y[offs[k]] = in[1][k];
    return Values{y};
  };
  cases->push_back(std::move(c));
}

void AddAssignScalar(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
                     Shape data, double scalar, std::vector<Opt> b, std::vector<Opt> e,
                     std::vector<Opt> st) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = {{"begin", Render(b)}, {"end", Render(e)}, {"scalar", std::to_string(scalar)}};
  if (!st.empty()) c.attrs["step"] = Render(st);
  c.input_shapes = {data};
  c.check_grad = false;
  c.reference = [data, scalar, b, e, st](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y = in[0];
    for (int64_t off : Region(data, b, e, st)) y[off] = scalar;
    return Values{y};
  };
  cases->push_back(std::move(c));
}

// _scatter_set_nd on a (3, 4) lhs: `idx` (M, N) in row-major order, rhs of shape `rhs`.
void AddScatterSet(std::vector<OpCase>* cases, const std::string& name, Shape idx_shape,
                   std::vector<double> idx, Shape rhs) {
  OpCase c;
  c.name = name;
  c.op = "_scatter_set_nd";
  c.attrs = {{"shape", "(3, 4)"}};
  c.input_shapes = {{3, 4}, rhs, idx_shape};
  c.input_values = {{}, {}, idx};
  c.check_grad = false;
  c.reference = [idx_shape, idx](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y = in[0];
    const int64_t m = idx_shape[0], n = idx_shape[1], block = m == 1 ? 4 : 1;
    for (int64_t i = 0; i < n; ++i) {
      int64_t row = static_cast<int64_t>(idx[i]);
      if (row < 0) row += 3;
      if (m == 1) {
        for (int64_t r = 0; r < block; ++r) y[row * 4 + r] = in[1][i * block + r];
      } else {
        int64_t col = static_cast<int64_t>(idx[n + i]);
        if (col < 0) col += 4;
        y[row * 4 + col] = in[1][i];
      }
    }
    return Values{y};
  };
  cases->push_back(std::move(c));
}

}  // namespace

void SliceAssignCases(std::vector<OpCase>* cases) {
  AddAssign(cases, "slice_assign_crop_block", "_slice_assign", {2, 3, 4}, {0, 0, 0},
            {2, 1, 3}, {});
  AddAssign(cases, "slice_assign_strided", "_slice_assign", {4, 5}, {Opt(), 4},
            {Opt(), 0}, {2, -2});
  AddAssign(cases, "slice_assign_negative_partial", "_crop_assign", {3, 4, 2}, {-2, Opt()},
            {Opt(), -1}, {});
  AddAssign(cases, "slice_assign_empty_region", "_slice_assign", {3, 2}, {2}, {1}, {});
  AddAssignScalar(cases, "slice_assign_scalar_rows", "_slice_assign_scalar", {3, 4}, 5.0,
                  {1}, {3}, {});
  AddAssignScalar(cases, "slice_assign_scalar_reversed", "_crop_assign_scalar", {4, 3}, -2.5,
                  {Opt(), 2}, {Opt(), Opt()}, {-1, -2});
  AddScatterSet(cases, "scatter_set_nd_points", {2, 3}, {0, 2, -1, 1, 3, 0}, {3});
  AddScatterSet(cases, "scatter_set_nd_rows_duplicate_last_wins", {1, 3}, {2, 0, 2}, {3, 4});
}

}  // namespace mxgrid::ops::tensor_cases_internal
