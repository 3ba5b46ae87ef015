// Consistency cases for shape_ops.cc and take_pick.cc (test-only). References index the
// inputs with plain coordinate loops written from MXNet's documented semantics.
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;
using Coord = std::vector<int64_t>;
// Input coordinate (and input number; -1 for a zero) of an output coordinate.
using SrcFn = std::function<std::pair<int, Coord>(const Coord& out, const std::vector<Shape>&,
                                                  const Values&)>;

int64_t Flat(const Coord& c, const Shape& s) {
  int64_t f = 0;
  for (int i = 0; i < s.ndim(); ++i) f = f * s[i] + c[i];
  return f;
}

void Add(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
         AttrMap attrs, std::vector<Shape> shapes, Shape out, SrcFn src,
         Values values = {}, std::optional<std::set<int>> grads = std::nullopt) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = std::move(shapes);
  c.input_values = std::move(values);
  c.grad_inputs = std::move(grads);
  c.reference = [out, src](const Values& in, const std::vector<Shape>& s) {
    std::vector<double> y;
    Coord oc(out.ndim(), 0);
    for (int64_t k = 0; k < out.Size(); ++k) {
      auto [i, ic] = src(oc, s, in);
      y.push_back(i < 0 ? 0.0 : in[i][Flat(ic, s[i])]);
      for (int d = out.ndim() - 1; d >= 0; --d) {
        if (++oc[d] < out[d]) break;
        oc[d] = 0;
      }
    }
    return Values{y};
  };
  cases->push_back(std::move(c));
}

int64_t Clip(double v, int64_t n) {
  const int64_t j = static_cast<int64_t>(v);
  return j < 0 ? 0 : j >= n ? n - 1 : j;
}
int64_t Wrap(double v, int64_t n) {
  const int64_t j = static_cast<int64_t>(v);
  return ((j % n) + n) % n;
}

// argmin along axis `axis` of a (outer, n, inner) view; first minimum wins.
void AddArgmin(std::vector<OpCase>* cases, const std::string& name, AttrMap attrs, Shape s,
               int axis) {
  OpCase c;
  c.name = name;
  c.op = "argmin";
  c.attrs = std::move(attrs);
  c.input_shapes = {s};
  c.check_grad = false;
  c.reference = [axis](const Values& in, const std::vector<Shape>& sh) {
    const Shape& s = sh[0];
    int64_t outer = 1, n = s.Size(), inner = 1;
    if (axis >= 0) {
      outer = s.ProdRange(0, axis);
      n = s[axis];
      inner = s.ProdRange(axis + 1, s.ndim());
    }
    std::vector<double> y;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < n; ++j) {
          if (in[0][(o * n + j) * inner + i] < in[0][(o * n + best) * inner + i]) best = j;
        }
        y.push_back(static_cast<double>(best));
      }
    }
    return Values{y};
  };
  cases->push_back(std::move(c));
}

// prod / nansum / nanprod over axis `axis` (-1: all), inputs in [0.5, 1.5] (no zeros);
// For "norm" (ord from the attributes, default 2) the inputs span [-1.5, 1.5].
void AddProd(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
             AttrMap attrs, Shape s, int axis) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = {s};
  c.low = 0.5;
  c.high = 1.5;
  const bool prod = op == "prod" || op == "nanprod";
  const int ord = c.attrs.count("ord") ? std::stoi(c.attrs.at("ord")) : op == "norm" ? 2 : 0;
  if (ord > 0) c.low = -1.5;
  c.reference = [axis, prod, ord](const Values& in, const std::vector<Shape>& sh) {
    const Shape& s = sh[0];
    int64_t outer = 1, n = s.Size(), inner = 1;
    if (axis >= 0) {
      outer = s.ProdRange(0, axis);
      n = s[axis];
      inner = s.ProdRange(axis + 1, s.ndim());
    }
    std::vector<double> y;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        double acc = prod ? 1 : 0;
        for (int64_t j = 0; j < n; ++j) {
          const double v = in[0][(o * n + j) * inner + i];
          acc = prod ? acc * v : ord == 1 ? acc + std::abs(v) : ord == 2 ? acc + v * v : acc + v;
        }
        y.push_back(ord == 2 ? std::sqrt(acc) : acc);
      }
    }
    return Values{y};
  };
  cases->push_back(std::move(c));
}

}  // namespace

void GatherCases(std::vector<OpCase>* cases) {
  // gather_nd: indices (M, Y...) pick data[idx[0, y], ..., idx[M-1, y], rest].
  Add(cases, "gather_nd_full", "gather_nd", {}, {{3, 4}, {2, 3}}, {3},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        auto w = [](double v, int64_t n) { return v < 0 ? static_cast<int64_t>(v) + n
                                                        : static_cast<int64_t>(v); };
        return std::make_pair(0, Coord{w(in[1][o[0]], 3), w(in[1][3 + o[0]], 4)});
      },
      {{}, {0, 2, -1, 3, 1, -4}}, std::set<int>{0});
  Add(cases, "gather_nd_rows", "gather_nd", {}, {{3, 2, 2}, {1, 2, 2}}, {2, 2, 2, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{static_cast<int64_t>(in[1][o[0] * 2 + o[1]]), o[2], o[3]});
      },
      {{}, {2, 0, 1, 2}}, std::set<int>{0});
  // Repeated rows: their gradients add up.
  Add(cases, "gather_nd_repeated", "gather_nd", {}, {{3, 2}, {1, 4}}, {4, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        const auto r = static_cast<int64_t>(in[1][o[0]]);
        return std::make_pair(0, Coord{r < 0 ? r + 3 : r, o[1]});
      },
      {{}, {2, 0, 2, -1}}, std::set<int>{0});
  // diag: 1-D builds a matrix; k shifts; N-D extracts along axis1/axis2.
  Add(cases, "diag_extract", "diag", {}, {{3, 4}}, {3},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], o[0]});
      });
  Add(cases, "diag_extract_k1", "diag", {{"k", "1"}}, {{3, 3}}, {2},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], o[0] + 1});
      });
  Add(cases, "diag_extract_axes", "diag", {{"k", "-1"}, {"axis1", "2"}, {"axis2", "0"}},
      {{3, 2, 4}}, {2, 3}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[1], o[0], o[1] + 1});
      });
  Add(cases, "diag_build_k_neg", "diag", {{"k", "-2"}}, {{3}}, {5, 5},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return o[0] - o[1] == 2 ? std::make_pair(0, Coord{o[1]}) : std::make_pair(-1, Coord{});
      });
  Add(cases, "diag_build_k_pos", "diag", {{"k", "1"}}, {{2}}, {3, 3},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return o[1] - o[0] == 1 ? std::make_pair(0, Coord{o[0]}) : std::make_pair(-1, Coord{});
      });
  // axis1 after axis2: the rows run along data's last axis.
  Add(cases, "diag_extract_axes_swapped", "diag", {{"k", "1"}, {"axis1", "-1"}, {"axis2", "1"}},
      {{2, 3, 4}}, {2, 2}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], o[1] + 1, o[1]});
      });
  // scatter_nd: data (Y..., rest) written at output[idx[:, y]]; zeros elsewhere.
  Add(cases, "scatter_nd", "scatter_nd", {{"shape", "(3, 4)"}}, {{3}, {2, 3}}, {3, 4},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        for (int64_t y = 0; y < 3; ++y) {
          if (in[1][y] == o[0] && in[1][3 + y] == o[1]) return std::make_pair(0, Coord{y});
        }
        return std::make_pair(-1, Coord{});
      },
      {{}, {0, 2, 1, 3, 0, 1}}, std::set<int>{0});
  Add(cases, "scatter_nd_rows", "scatter_nd", {{"shape", "(4, 2)"}}, {{2, 2}, {1, 2}}, {4, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        for (int64_t y = 0; y < 2; ++y) {
          if (in[1][y] == o[0]) return std::make_pair(0, Coord{y, o[1]});
        }
        return std::make_pair(-1, Coord{});
      },
      {{}, {3, 1}}, std::set<int>{0});
  // Row 1 named twice: the last column wins (data row 0 gets no gradient).
  Add(cases, "scatter_nd_duplicate_last_wins", "scatter_nd", {{"shape", "(3, 2)"}},
      {{3, 2}, {1, 3}}, {3, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        for (int64_t y = 2; y >= 0; --y) {
          if (in[1][y] == o[0]) return std::make_pair(0, Coord{y, o[1]});
        }
        return std::make_pair(-1, Coord{});
      },
      {{}, {1, 1, 0}}, std::set<int>{0});
  Add(cases, "slice_like_all", "slice_like", {}, {{3, 4}, {2, 3}}, {2, 3},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, o);
      }, {}, std::set<int>{0});
  Add(cases, "slice_like_axes", "slice_like", {{"axes", "(0, -1)"}}, {{3, 2, 4}, {1, 5, 2}},
      {1, 2, 2}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, o);
      }, {}, std::set<int>{0});
  AddProd(cases, "norm_default", "norm", {}, {2, 3}, -1);
  AddProd(cases, "norm_l1_axis", "norm", {{"ord", "1"}, {"axis", "1"}}, {3, 4}, 1);
  AddProd(cases, "norm_l2_keep", "norm", {{"axis", "(0,)"}, {"keepdims", "True"}}, {4, 2}, 0);
  AddProd(cases, "norm_l2_last_axis_3d", "norm", {{"axis", "-1"}}, {2, 3, 4}, 2);
  AddProd(cases, "norm_l1_mid_axis_3d", "norm", {{"ord", "1"}, {"axis", "(1,)"}}, {2, 5, 3}, 1);
  AddProd(cases, "prod_all", "prod", {}, {2, 3}, -1);
  AddProd(cases, "prod_ax1_keep", "prod", {{"axis", "1"}, {"keepdims", "True"}}, {2, 3, 2}, 1);
  AddProd(cases, "nansum_ax0", "nansum", {{"axis", "0"}}, {4, 3}, 0);
  AddProd(cases, "nanprod_ax_neg", "nanprod", {{"axis", "-1"}}, {3, 4}, 1);
  AddArgmin(cases, "argmin_ax_neg", {{"axis", "-2"}}, {2, 3, 5}, 1);
  AddArgmin(cases, "argmin_keep", {{"axis", "0"}, {"keepdims", "True"}}, {4, 3}, 0);
  AddArgmin(cases, "argmin_all", {}, {3, 4}, -1);
  // tile: reps right-aligned with the input's dims.
  auto tile = [](const Coord& o, const std::vector<Shape>& s, const Values&) {
    Coord c(s[0].ndim());
    const int off = static_cast<int>(o.size()) - s[0].ndim();
    for (int i = 0; i < s[0].ndim(); ++i) c[i] = o[i + off] % s[0][i];
    return std::make_pair(0, c);
  };
  Add(cases, "tile_2d", "tile", {{"reps", "(2, 1)"}}, {{2, 3}}, {4, 3}, tile);
  Add(cases, "tile_longer_reps", "tile", {{"reps", "(2, 2)"}}, {{3}}, {2, 6}, tile);
  Add(cases, "tile_shorter_reps", "tile", {{"reps", "(3,)"}}, {{2, 1, 2}}, {2, 1, 6}, tile);
  // Several repeated dims, one kept: each input element's gradient sums 6 head elements.
  Add(cases, "tile_3d_reps", "tile", {{"reps", "(2, 1, 3)"}}, {{2, 2, 2}}, {4, 2, 6}, tile);
  Add(cases, "tile_new_axes", "tile", {{"reps", "(3, 1, 2)"}}, {{2}}, {3, 1, 4}, tile);
  Add(cases, "repeat_axis1", "repeat", {{"repeats", "2"}, {"axis", "1"}}, {{2, 3}}, {2, 6},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], o[1] / 2});
      });
  Add(cases, "repeat_axis_neg", "repeat", {{"repeats", "3"}, {"axis", "-2"}}, {{2, 2}},
      {6, 2}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0] / 3, o[1]});
      });
  Add(cases, "repeat_flat", "repeat", {{"repeats", "2"}}, {{2, 3}}, {12},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0] / 2 / 3, o[0] / 2 % 3});
      });
  Add(cases, "repeat_axis0_3d", "repeat", {{"repeats", "2"}, {"axis", "0"}}, {{2, 3, 2}},
      {4, 3, 2}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0] / 2, o[1], o[2]});
      });
  Add(cases, "reverse_02", "reverse", {{"axis", "(0, 2)"}}, {{2, 3, 4}}, {2, 3, 4},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{1 - o[0], o[1], 3 - o[2]});
      });
  Add(cases, "flip_vec", "flip", {{"axis", "(0,)"}}, {{5}}, {5},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{4 - o[0]});
      });
  Add(cases, "SwapAxis_02", "SwapAxis", {{"dim1", "0"}, {"dim2", "2"}}, {{2, 3, 4}},
      {4, 3, 2}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[2], o[1], o[0]});
      });
  Add(cases, "swapaxes_neg", "swapaxes", {{"dim1", "1"}, {"dim2", "-1"}}, {{2, 3, 4}},
      {2, 4, 3}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], o[2], o[1]});
      });
  Add(cases, "broadcast_axis_mid", "broadcast_axis", {{"axis", "(1,)"}, {"size", "(4,)"}},
      {{2, 1, 3}}, {2, 4, 3}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], 0, o[2]});
      });
  Add(cases, "reverse_adjacent", "reverse", {{"axis", "(1, -1)"}}, {{2, 3, 2}}, {2, 3, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{o[0], 2 - o[1], 1 - o[2]});
      });
  Add(cases, "broadcast_axis_outer_inner", "broadcast_axis",
      {{"axis", "(2, 0)"}, {"size", "(4, 3)"}}, {{1, 2, 1}}, {3, 2, 4},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{0, o[1], 0});
      });
  Add(cases, "broadcast_axes_two", "broadcast_axes", {{"axis", "(0, -1)"}, {"size", "(2, 3)"}},
      {{1, 1}}, {2, 3}, [](const Coord&, const std::vector<Shape>&, const Values&) {
        return std::make_pair(0, Coord{0, 0});
      });
  Add(cases, "stack_axis1", "stack", {{"axis", "1"}, {"num_args", "3"}},
      {{2, 3}, {2, 3}, {2, 3}}, {2, 3, 3},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(static_cast<int>(o[1]), Coord{o[0], o[2]});
      });
  Add(cases, "stack_axis_neg", "stack", {{"axis", "-1"}, {"num_args", "2"}}, {{4}, {4}},
      {4, 2}, [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(static_cast<int>(o[1]), Coord{o[0]});
      });
  Add(cases, "stack_axis0", "stack", {{"num_args", "2"}}, {{2, 2}, {2, 2}}, {2, 2, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values&) {
        return std::make_pair(static_cast<int>(o[0]), Coord{o[1], o[2]});
      });
  // take: out = a.shape[:axis] + indices.shape + a.shape[axis+1:].
  Add(cases, "take_clip", "take", {}, {{4, 3}, {2, 2}}, {2, 2, 3},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{Clip(in[1][o[0] * 2 + o[1]], 4), o[2]});
      },
      {{}, {0, 3, 5, -1}}, std::set<int>{0});
  Add(cases, "take_wrap_axis1", "take", {{"axis", "1"}, {"mode", "wrap"}}, {{2, 4}, {3}},
      {2, 3}, [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{o[0], Wrap(in[1][o[1]], 4)});
      },
      {{}, {-1, 5, 2}}, std::set<int>{0});
  Add(cases, "take_raise_in_range", "take", {{"axis", "-1"}, {"mode", "raise"}}, {{3, 2}, {4}},
      {3, 4}, [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{o[0], static_cast<int64_t>(in[1][o[1]])});
      },
      {{}, {1, 0, 1, 1}}, std::set<int>{0});
  Add(cases, "pick_axis1", "pick", {{"axis", "1"}}, {{3, 4}, {3}}, {3},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{o[0], Clip(in[1][o[0]], 4)});
      },
      {{}, {0, 3, 7}}, std::set<int>{0});
  Add(cases, "pick_keep_wrap", "pick", {{"axis", "0"}, {"keepdims", "True"}, {"mode", "wrap"}},
      {{3, 2}, {1, 2}}, {1, 2},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{Wrap(in[1][o[1]], 3), o[1]});
      },
      {{}, {-1, 4}}, std::set<int>{0});
  Add(cases, "choose_element_0index", "choose_element_0index", {}, {{2, 3}, {2}}, {2},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{o[0], Clip(in[1][o[0]], 3)});
      },
      {{}, {2, 1}}, std::set<int>{0});
  Add(cases, "batch_take", "batch_take", {}, {{3, 4}, {3}}, {3},
      [](const Coord& o, const std::vector<Shape>&, const Values& in) {
        return std::make_pair(0, Coord{o[0], Clip(in[1][o[0]], 4)});
      },
      {{}, {1, 5, -2}}, std::set<int>{0});
}

}  // namespace mxgrid::ops::tensor_cases_internal
