// Consistency cases for sort.cc (test-only): references sort each row with a plain
// selection loop (largest or smallest first, lowest index on ties).
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

// Sorted order (source positions) of the row of `x` at base + j * step, j < n.
std::vector<int64_t> RowOrder(const std::vector<double>& x, int64_t base, int64_t step,
                              int64_t n, bool ascend) {
  std::vector<int64_t> order;
  std::vector<bool> used(n, false);
  for (int64_t r = 0; r < n; ++r) {
    int64_t best = -1;
    for (int64_t j = 0; j < n; ++j) {
      if (used[j]) continue;
      const double v = x[base + j * step];
      if (best < 0 || (ascend ? v < x[base + best * step] : v > x[base + best * step])) best = j;
    }
    used[best] = true;
    order.push_back(best);
  }
  return order;
}

// ret: 0 value, 1 indices, 2 mask, 3 both. axis -1 here means flattened.
void AddSort(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
             AttrMap attrs, Shape s, int axis, int64_t k, bool ascend, int ret) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = {s};
  c.check_grad = ret == 0 || ret == 3;
  c.reference = [=](const Values& in, const std::vector<Shape>&) {
    int64_t outer = 1, n = s.Size(), inner = 1;
    if (axis >= 0) {
      outer = s.ProdRange(0, axis);
      n = s[axis];
      inner = s.ProdRange(axis + 1, s.ndim());
    }
    const int64_t kk = k <= 0 ? n : k;
    std::vector<double> val(outer * kk * inner), idx(val.size()), mask(s.Size(), 0.0);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t base = o * n * inner + i;
        const auto order = RowOrder(in[0], base, inner, n, ascend);
        for (int64_t j = 0; j < kk; ++j) {
          const int64_t e = (o * kk + j) * inner + i;
          val[e] = in[0][base + order[j] * inner];
          idx[e] = static_cast<double>(order[j]);
          mask[base + order[j] * inner] = 1;
        }
      }
    }
    if (ret == 0) return Values{val};
    if (ret == 1) return Values{idx};
    if (ret == 2) return Values{mask};
    return Values{val, idx};
  };
  cases->push_back(std::move(c));
}

}  // namespace

void SortCases(std::vector<OpCase>* cases) {
  AddSort(cases, "topk_default", "topk", {}, {3, 5}, 1, 1, false, 1);
  AddSort(cases, "topk_value_axis0", "topk", {{"axis", "0"}, {"k", "2"}, {"ret_typ", "value"}},
          {3, 4}, 0, 2, false, 0);
  AddSort(cases, "topk_both_ascend", "topk",
          {{"k", "3"}, {"ret_typ", "both"}, {"is_ascend", "True"}}, {2, 2, 5}, 2, 3, true, 3);
  AddSort(cases, "topk_mask", "topk", {{"axis", "1"}, {"k", "2"}, {"ret_typ", "mask"}},
          {2, 4, 2}, 1, 2, false, 2);
  AddSort(cases, "topk_flat_all", "topk", {{"axis", "None"}, {"k", "0"}, {"ret_typ", "value"}},
          {2, 3}, -1, 0, false, 0);
  AddSort(cases, "sort_default", "sort", {}, {3, 4}, 1, 0, true, 0);
  AddSort(cases, "sort_desc_axis0", "sort", {{"axis", "0"}, {"is_ascend", "False"}}, {4, 3},
          0, 0, false, 0);
  AddSort(cases, "sort_flat", "sort", {{"axis", "None"}}, {2, 3}, -1, 0, true, 0);
  // Rows of 64 and more: float32 sorts whole rows by radix (sort.cc).
  AddSort(cases, "sort_long_rows_desc", "sort", {{"is_ascend", "False"}}, {3, 100}, 1, 0,
          false, 0);
  AddSort(cases, "sort_long_axis0", "sort", {{"axis", "0"}}, {70, 2}, 0, 0, true, 0);
  AddSort(cases, "topk_both_long_int32", "topk",
          {{"k", "6"}, {"ret_typ", "both"}, {"dtype", "int32"}}, {2, 80}, 1, 6, false, 3);
  AddSort(cases, "argsort_default", "argsort", {}, {2, 5}, 1, 0, true, 1);
  // Ties (-0 equal to 0) keep index order in both directions.
  const std::vector<double> ties = {1, 0, 1, -0.0, 0, 2, 3, 3, -1, 3, -1, 3};
  AddSort(cases, "argsort_ties_desc", "argsort", {{"is_ascend", "False"}}, {2, 6}, 1, 0,
          false, 1);
  cases->back().input_values = {ties};
  AddSort(cases, "argsort_ties_asc_int64", "argsort", {{"dtype", "int64"}}, {2, 6}, 1, 0, true,
          1);
  cases->back().input_values = {ties};
  AddSort(cases, "topk_ties_axis0", "topk", {{"axis", "0"}, {"k", "2"}}, {4, 3}, 0, 2, false, 1);
  cases->back().input_values = {ties};
  AddSort(cases, "argsort_desc_mid", "argsort", {{"axis", "1"}, {"is_ascend", "0"}},
          {2, 3, 2}, 1, 0, false, 1);
}

}  // namespace mxgrid::ops::tensor_cases_internal
