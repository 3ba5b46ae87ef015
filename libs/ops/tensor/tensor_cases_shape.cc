// Cases for the shape, concat/slice, dot and index ops (see tensor_cases.h).
#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

void AddCopyCase(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
                 const AttrMap& attrs, const Shape& shape) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = attrs;
  c.input_shapes = {shape};
  c.reference = [](const Values& in, const std::vector<Shape>&) { return Values{in[0]}; };
  cases->push_back(std::move(c));
}

// Value at (o, j, i) of a tensor viewed as (outer, len, inner).
double At3(const std::vector<double>& v, int64_t len, int64_t inner, int64_t o, int64_t j,
           int64_t i) {
  return v[(o * len + j) * inner + i];
}

}  // namespace

void MatrixCases(std::vector<OpCase>* cases) {
  AddCopyCase(cases, "Flatten_4d", "Flatten", {}, {2, 3, 1, 2});
  AddCopyCase(cases, "flatten_batch1", "flatten", {}, {1, 5});
  AddCopyCase(cases, "Flatten_1d", "Flatten", {}, {5});
  AddCopyCase(cases, "Reshape_codes", "Reshape", {{"shape", "(0, -1)"}}, {2, 3, 4});
  AddCopyCase(cases, "reshape_split", "reshape", {{"shape", "(-4, 1, 2, -2)"}}, {2, 3, 4});
  AddCopyCase(cases, "Reshape_merge", "Reshape", {{"shape", "(-3, -2)"}}, {2, 3, 4});
  AddCopyCase(cases, "Reshape_reverse", "Reshape", {{"shape", "(-1, 0)"}, {"reverse", "True"}},
              {5, 1, 4});
  AddCopyCase(cases, "expand_dims_0", "expand_dims", {{"axis", "0"}}, {3});
  AddCopyCase(cases, "expand_dims_end", "expand_dims", {{"axis", "-1"}}, {2, 3});
  AddCopyCase(cases, "squeeze_all", "squeeze", {}, {1, 3, 1, 2});
  AddCopyCase(cases, "squeeze_axis", "squeeze", {{"axis", "(2,)"}}, {1, 3, 1, 2});
  struct T {
    std::string name;
    Shape shape;
    std::vector<int> axes;  // empty: reversed
  };
  for (const T& t : std::vector<T>{{"transpose_2d", {2, 3}, {}},
                                   {"transpose_3d", {2, 3, 4}, {1, 2, 0}},
                                   {"transpose_4d_default", {1, 2, 3, 2}, {}},
                                   {"transpose_1d", {5}, {}},
                                   {"transpose_neg", {3, 1, 2}, {0, 2, 1}}}) {
    OpCase c;
    c.name = t.name;
    c.op = "transpose";
    std::vector<int> axes = t.axes;
    if (axes.empty()) {
      for (int i = t.shape.ndim() - 1; i >= 0; --i) axes.push_back(i);
    } else {
      std::string text = "(";
      for (size_t i = 0; i < axes.size(); ++i) {
        // Writes the last axis as negative to exercise normalization.
        const int a = t.name == "transpose_neg" && axes[i] == 2 ? -1 : axes[i];
        text += (i ? ", " : "") + std::to_string(a);
      }
      c.attrs = {{"axes", text + ")"}};
    }
    c.input_shapes = {t.shape};
    c.reference = [axes](const Values& in, const std::vector<Shape>& s) {
      const int nd = s[0].ndim();
      std::vector<int64_t> os(nd);
      for (int i = 0; i < nd; ++i) os[i] = s[0][axes[i]];
      std::vector<double> out(in[0].size());
      for (int64_t k = 0; k < static_cast<int64_t>(out.size()); ++k) {
        std::vector<int64_t> oc(nd), ic(nd);
        int64_t rest = k;
        for (int i = nd - 1; i >= 0; --i) {
          oc[i] = rest % os[i];
          rest /= os[i];
        }
        for (int i = 0; i < nd; ++i) ic[axes[i]] = oc[i];
        int64_t flat = 0;
        for (int i = 0; i < nd; ++i) flat = flat * s[0][i] + ic[i];
        out[k] = in[0][flat];
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
}

void ConcatSliceCases(std::vector<OpCase>* cases) {
  struct C {
    std::string name;
    std::vector<Shape> shapes;
    int dim;
  };
  for (const C& t : std::vector<C>{{"Concat_dim1", {{2, 3}, {2, 1}, {2, 2}}, 1},
                                   {"concat_dim0", {{1, 3}, {2, 3}}, 0},
                                   {"Concat_4d", {{1, 2, 3, 2}, {1, 2, 1, 2}}, 2},
                                   {"Concat_neg", {{3, 1, 2}, {3, 1, 3}}, -1},
                                   {"Concat_one", {{4}}, 0}}) {
    OpCase c;
    c.name = t.name;
    c.op = t.name == "concat_dim0" ? "concat" : "Concat";
    c.attrs = {{"num_args", std::to_string(t.shapes.size())}, {"dim", std::to_string(t.dim)}};
    c.input_shapes = t.shapes;
    const int nd = t.shapes[0].ndim(), ax = t.dim < 0 ? t.dim + nd : t.dim;
    c.reference = [ax](const Values& in, const std::vector<Shape>& s) {
      const int64_t outer = s[0].ProdRange(0, ax), inner = s[0].ProdRange(ax + 1, s[0].ndim());
      std::vector<double> out;
      for (int64_t o = 0; o < outer; ++o) {
        for (size_t k = 0; k < in.size(); ++k) {
          for (int64_t j = 0; j < s[k][ax]; ++j) {
            for (int64_t i = 0; i < inner; ++i) out.push_back(At3(in[k], s[k][ax], inner, o, j, i));
          }
        }
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
  struct S {
    std::string name;
    Shape shape;
    int n, axis;
    bool squeeze;
  };
  for (const S& t : std::vector<S>{{"SliceChannel_axis1", {2, 4}, 2, 1, false},
                                   {"split_axis0", {3, 2}, 3, 0, true},
                                   {"SliceChannel_4d", {1, 3, 2, 2}, 3, 1, true},
                                   {"SliceChannel_neg", {2, 2, 6}, 3, -1, false},
                                   {"SliceChannel_one", {5}, 1, 0, false}}) {
    OpCase c;
    c.name = t.name;
    c.op = t.name == "split_axis0" ? "split" : "SliceChannel";
    c.attrs = {{"num_outputs", std::to_string(t.n)}, {"axis", std::to_string(t.axis)},
               {"squeeze_axis", t.squeeze ? "True" : "False"}};
    c.input_shapes = {t.shape};
    const int ax = t.axis < 0 ? t.axis + t.shape.ndim() : t.axis;
    c.reference = [ax, n = t.n](const Values& in, const std::vector<Shape>& s) {
      const int64_t outer = s[0].ProdRange(0, ax), inner = s[0].ProdRange(ax + 1, s[0].ndim());
      const int64_t len = s[0][ax] / n;
      Values outs(n);
      for (int k = 0; k < n; ++k) {
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t j = k * len; j < (k + 1) * len; ++j) {
            for (int64_t i = 0; i < inner; ++i) outs[k].push_back(At3(in[0], s[0][ax], inner, o, j, i));
          }
        }
      }
      return outs;
    };
    cases->push_back(std::move(c));
  }
  struct A {
    std::string name;
    Shape shape;
    int axis, begin, end;  // end 99: None
  };
  for (const A& t : std::vector<A>{{"slice_axis_mid", {2, 5}, 1, 1, 4},
                                   {"slice_axis_neg", {4, 3, 2}, 0, -3, -1},
                                   {"slice_axis_none", {3, 1, 4}, -1, 2, 99},
                                   {"slice_axis_1d", {6}, 0, 0, 6},
                                   {"slice_axis_4d", {1, 2, 3, 2}, 2, 1, 2}}) {
    OpCase c;
    c.name = t.name;
    c.op = "slice_axis";
    c.attrs = {{"axis", std::to_string(t.axis)}, {"begin", std::to_string(t.begin)},
               {"end", t.end == 99 ? "None" : std::to_string(t.end)}};
    c.input_shapes = {t.shape};
    c.reference = [t](const Values& in, const std::vector<Shape>& s) {
      const int ax = t.axis < 0 ? t.axis + s[0].ndim() : t.axis;
      const int64_t len = s[0][ax];
      const int64_t b = t.begin < 0 ? t.begin + len : t.begin;
      const int64_t e = t.end == 99 ? len : t.end < 0 ? t.end + len : t.end;
      const int64_t outer = s[0].ProdRange(0, ax), inner = s[0].ProdRange(ax + 1, s[0].ndim());
      std::vector<double> out;
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = b; j < e; ++j) {
          for (int64_t i = 0; i < inner; ++i) out.push_back(At3(in[0], len, inner, o, j, i));
        }
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
}

void DotCases(std::vector<OpCase>* cases) {
  struct D {
    std::string name;
    Shape l, r;
    bool ta, tb;
  };
  const std::vector<D> dots = {{"dot_2d", {2, 3}, {3, 4}, false, false},
                               {"dot_ta", {3, 2}, {3, 4}, true, false},
                               {"dot_tb", {2, 3}, {4, 3}, false, true},
                               {"dot_tatb", {3, 1}, {5, 3}, true, true},
                               {"dot_vec", {5}, {5}, false, false},
                               {"dot_vec_mat", {3}, {3, 4}, false, false},
                               {"dot_3d", {2, 2, 3}, {3, 2}, false, false},
                               {"dot_ta_3d", {3, 2, 1}, {3, 2}, true, false},
                               {"dot_batch1", {1, 3}, {3, 1}, false, false}};
  const std::vector<D> batch = {{"batch_dot_plain", {2, 2, 3}, {2, 3, 4}, false, false},
                                {"batch_dot_ta", {3, 3, 2}, {3, 3, 1}, true, false},
                                {"batch_dot_tb", {1, 2, 3}, {1, 4, 3}, false, true},
                                {"batch_dot_tatb", {2, 3, 2}, {2, 2, 3}, true, true}};
  for (bool batched : {false, true}) {
    for (const D& t : batched ? batch : dots) {
      OpCase c;
      c.name = t.name;
      c.op = batched ? "batch_dot" : "dot";
      c.attrs = {{"transpose_a", t.ta ? "True" : "False"},
                 {"transpose_b", t.tb ? "True" : "False"}};
      c.input_shapes = {t.l, t.r};
      c.reference = [t, batched](const Values& in, const std::vector<Shape>& s) {
        const int64_t nb = batched ? s[0][0] : 1;
        const int64_t k = t.ta ? s[0][batched ? 1 : 0] : s[0][s[0].ndim() - 1];
        const int64_t m = s[0].Size() / nb / k, n = s[1].Size() / nb / k;
        std::vector<double> out;
        for (int64_t b = 0; b < nb; ++b) {
          const double* l = in[0].data() + b * m * k;
          const double* r = in[1].data() + b * k * n;
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double acc = 0;
              for (int64_t q = 0; q < k; ++q) {
                acc += (t.ta ? l[q * m + i] : l[i * k + q]) * (t.tb ? r[j * k + q] : r[q * n + j]);
              }
              out.push_back(acc);
            }
          }
        }
        return Values{out};
      };
      cases->push_back(std::move(c));
    }
  }
}

void IndexCases(std::vector<OpCase>* cases) {
  struct H {
    std::string name;
    Shape shape;
    std::vector<double> idx;
    int depth;
    AttrMap extra;
  };
  for (const H& t : std::vector<H>{
           {"one_hot_1d", {4}, {0, 2, 1, 2}, 3, {}},
           {"one_hot_2d", {2, 3}, {4, 0, -1, 3, 1, 2}, 4, {{"on_value", "2.5"}, {"off_value", "-1"}}},
           {"one_hot_batch1", {1}, {1}, 5, {{"dtype", "float64"}}}}) {
    OpCase c;
    c.name = t.name;
    c.op = "one_hot";
    c.attrs = t.extra;
    c.attrs["depth"] = std::to_string(t.depth);
    c.input_shapes = {t.shape};
    c.input_values = {t.idx};
    c.check_grad = false;
    const double on = t.extra.count("on_value") ? 2.5 : 1, off = t.extra.count("off_value") ? -1 : 0;
    c.reference = [depth = t.depth, on, off](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out;
      for (double v : in[0]) {
        for (int j = 0; j < depth; ++j) out.push_back(static_cast<int>(v) == j ? on : off);
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
  struct E {
    std::string name;
    Shape shape;
    std::vector<double> idx;
    int in_dim, out_dim;
  };
  for (const E& t : std::vector<E>{{"Embedding_1d", {5}, {0, 3, 3, 1, 2}, 4, 3},
                                   {"Embedding_2d", {2, 2}, {1, 0, 1, 1}, 2, 5},
                                   {"Embedding_clip", {3}, {-2, 7, 1}, 3, 2},
                                   {"Embedding_batch1", {1, 1, 2}, {4, 0}, 5, 1},
                                   {"SparseEmbedding_2d", {2, 2}, {1, 0, 2, 1}, 3, 2}}) {
    OpCase c;
    c.name = t.name;
    c.op = t.name.rfind("Sparse", 0) == 0 ? "_contrib_SparseEmbedding" : "Embedding";
    c.attrs = {{"input_dim", std::to_string(t.in_dim)}, {"output_dim", std::to_string(t.out_dim)}};
    c.input_shapes = {t.shape, Shape{t.in_dim, t.out_dim}};
    c.input_values = {t.idx, {}};
    c.grad_inputs = std::set<int>{1};
    c.reference = [t](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out;
      for (double v : in[0]) {
        const int row = std::min(std::max(static_cast<int>(v), 0), t.in_dim - 1);
        for (int j = 0; j < t.out_dim; ++j) out.push_back(in[1][row * t.out_dim + j]);
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
  struct W {
    std::string name;
    Shape cond, x;
    std::vector<double> c;
  };
  for (const W& t : std::vector<W>{{"where_same", {2, 3}, {2, 3}, {1, 0, 0, 1, 1, 0}},
                                   {"where_rows", {3}, {3, 2}, {0, 1, 0}},
                                   {"where_1d", {4}, {4}, {0.5, 0, -1, 0}},
                                   {"where_4d", {1, 2, 1, 2}, {1, 2, 1, 2}, {0, 1, 1, 0}}}) {
    OpCase c;
    c.name = t.name;
    c.op = "where";
    c.input_shapes = {t.cond, t.x, t.x};
    c.input_values = {t.c, {}, {}};
    c.grad_inputs = std::set<int>{1, 2};
    c.reference = [](const Values& in, const std::vector<Shape>&) {
      const size_t per = in[1].size() / in[0].size();
      std::vector<double> out(in[1].size());
      for (size_t i = 0; i < out.size(); ++i) out[i] = in[0][i / per] != 0 ? in[1][i] : in[2][i];
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
}

}  // namespace mxgrid::ops::tensor_cases_internal
