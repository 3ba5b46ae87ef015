// Consistency cases for like_ops.cc, init_ops.cc, depth_space.cc and argmax_channel
// (test-only). The
// references are written from MXNet 1.9.1's documented semantics; shapes and values of the
// examples were checked against MXNet 1.9.1 itself (tests/python/client/test_fluent.py
// compares the same calls through the client).
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

// A copy op: the output is input 0's elements in order; only input 0 is differentiated
// (input 1 lends its shape and gets a zero gradient, which the checker also verifies).
void AddCopy(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
             AttrMap attrs, std::vector<Shape> shapes) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = std::move(shapes);
  c.reference = [](const Values& in, const std::vector<Shape>&) { return Values{in[0]}; };
  cases->push_back(std::move(c));
}

void AddConst(std::vector<OpCase>* cases, const std::string& name, const std::string& op,
              AttrMap attrs, std::vector<Shape> shapes, std::vector<double> out) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = std::move(shapes);
  c.check_grad = false;
  c.reference = [out](const Values&, const std::vector<Shape>&) { return Values{out}; };
  cases->push_back(std::move(c));
}

// depth_to_space (or, with `to_depth`, space_to_depth) of (n, c, h, w) data by block b,
// written as MXNet documents it: a 6-D reshape and transpose.
void AddDepthSpace(std::vector<OpCase>* cases, const std::string& name, bool to_depth,
                   Shape s, int64_t b) {
  OpCase c;
  c.name = name;
  c.op = to_depth ? "space_to_depth" : "depth_to_space";
  c.attrs = {{"block_size", std::to_string(b)}};
  c.input_shapes = {s};
  c.reference = [to_depth, b](const Values& in, const std::vector<Shape>& sh) {
    const Shape& s = sh[0];
    std::vector<double> y(in[0].size());
    if (!to_depth) {
      // x as (N, b, b, C', H, W) -> (N, C', H, b, W, b).
      const int64_t n = s[0], cc = s[1] / (b * b), h = s[2], w = s[3];
      int64_t k = 0;
      for (int64_t i0 = 0; i0 < n; ++i0)
        for (int64_t i3 = 0; i3 < cc; ++i3)
          for (int64_t i4 = 0; i4 < h; ++i4)
            for (int64_t i1 = 0; i1 < b; ++i1)
              for (int64_t i5 = 0; i5 < w; ++i5)
                for (int64_t i2 = 0; i2 < b; ++i2)
                  y[k++] = in[0][((((i0 * b + i1) * b + i2) * cc + i3) * h + i4) * w + i5];
    } else {
      // x as (N, C, H', b, W', b) -> (N, b, b, C, H', W').
      const int64_t n = s[0], cc = s[1], h = s[2] / b, w = s[3] / b;
      int64_t k = 0;
      for (int64_t i0 = 0; i0 < n; ++i0)
        for (int64_t i3 = 0; i3 < b; ++i3)
          for (int64_t i5 = 0; i5 < b; ++i5)
            for (int64_t i1 = 0; i1 < cc; ++i1)
              for (int64_t i2 = 0; i2 < h; ++i2)
                for (int64_t i4 = 0; i4 < w; ++i4)
                  y[k++] = in[0][((((i0 * cc + i1) * h + i2) * b + i3) * w + i4) * b + i5];
    }
    return Values{y};
  };
  cases->push_back(std::move(c));
}

// _split_v2 of a (2, 5, 2) array along axis 1 into the parts [b, e) listed.
void AddSplitV2(std::vector<OpCase>* cases, const std::string& name, AttrMap attrs,
                std::vector<std::pair<int, int>> parts) {
  OpCase c;
  c.name = name;
  c.op = "_split_v2";
  c.attrs = std::move(attrs);
  c.input_shapes = {{2, 5, 2}};
  c.reference = [parts](const Values& in, const std::vector<Shape>&) {
    Values out;
    for (const auto& [b, e] : parts) {
      std::vector<double> y;
      for (int o = 0; o < 2; ++o) {
        for (int k = b; k < e; ++k) {
          for (int i = 0; i < 2; ++i) y.push_back(in[0][(o * 5 + k) * 2 + i]);
        }
      }
      out.push_back(y);
    }
    return out;
  };
  cases->push_back(std::move(c));
}

}  // namespace

void LikeInitCases(std::vector<OpCase>* cases) {
  AddCopy(cases, "reshape_like_whole", "reshape_like", {}, {{6}, {3, 2}});
  AddCopy(cases, "reshape_like_fluent_test", "reshape_like", {}, {{5, 17, 2, 3}, {30, 17}});
  // (30, 7) with rhs (15, 2, 4), lhs[0:1] <- rhs[0:2]: (15, 2, 7).
  AddCopy(cases, "reshape_like_ranges", "reshape_like",
          {{"lhs_begin", "0"}, {"lhs_end", "1"}, {"rhs_begin", "0"}, {"rhs_end", "2"}},
          {{30, 7}, {15, 2, 4}});
  // (3, 5) with rhs (1, 15, 4), lhs[0:2] <- rhs[1:2]: (15,).
  AddCopy(cases, "reshape_like_merge", "reshape_like",
          {{"lhs_begin", "0"}, {"lhs_end", "2"}, {"rhs_begin", "1"}, {"rhs_end", "2"}},
          {{3, 5}, {1, 15, 4}});
  // Negative begin and None ends: (30, 12) with rhs (4, 2, 2, 3) -> (30, 2, 2, 3).
  AddCopy(cases, "reshape_like_negative", "reshape_like",
          {{"lhs_begin", "-1"}, {"lhs_end", "None"}, {"rhs_begin", "1"}, {"rhs_end", "None"}},
          {{30, 12}, {4, 2, 2, 3}});
  AddCopy(cases, "identity_like_rhs", "_identity_with_attr_like_rhs", {}, {{3, 4}, {3, 4}});

  AddCopy(cases, "cast_storage_default", "cast_storage", {{"stype", "default"}}, {{3, 4}});
  AddCopy(cases, "cast_storage_csr", "cast_storage", {{"stype", "csr"}}, {{2, 5}});
  // _sparse_retain of rows {2, 0} (ids repeated) of a (4, 3) array: rows 1 and 3 zero.
  OpCase retain;
  retain.name = "sparse_retain_rows";
  retain.op = "_sparse_retain";
  retain.input_shapes = {{4, 3}, {3}};
  retain.input_values = {{}, {2, 0, 2}};
  retain.grad_inputs = std::set<int>{0};
  retain.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y = in[0];
    for (int r : {1, 3}) {
      for (int j = 0; j < 3; ++j) y[r * 3 + j] = 0;
    }
    return Values{y};
  };
  cases->push_back(std::move(retain));

  // _square_sum of (2, 3) along axis 1 (keepdims) and of (2, 3, 2) along axis 0.
  OpCase ss;
  ss.name = "square_sum_axis1_keepdims";
  ss.op = "_square_sum";
  ss.attrs = {{"axis", "1"}, {"keepdims", "True"}};
  ss.input_shapes = {{2, 3}};
  ss.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y(2, 0.0);
    for (int i = 0; i < 6; ++i) y[i / 3] += in[0][i] * in[0][i];
    return Values{y};
  };
  cases->push_back(ss);
  OpCase ss0 = ss;
  ss0.name = "square_sum_axis0";
  ss0.attrs = {{"axis", "0"}};
  ss0.input_shapes = {{2, 3, 2}};
  ss0.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y(6, 0.0);
    for (int i = 0; i < 12; ++i) y[i % 6] += in[0][i] * in[0][i];
    return Values{y};
  };
  cases->push_back(ss0);

  AddConst(cases, "shape_array_3d", "shape_array", {}, {{5, 17, 1}}, {5, 17, 1});
  AddConst(cases, "shape_array_1d", "shape_array", {}, {{4}}, {4});
  AddConst(cases, "size_array_3d", "size_array", {}, {{5, 17, 2}}, {170});

  // argmax_channel: axis 1, first maximum wins.
  OpCase am;
  am.name = "argmax_channel_2d";
  am.op = "argmax_channel";
  am.input_shapes = {{2, 3}};
  am.input_values = {{0, 1, 2, 5, 4, 5}};
  am.check_grad = false;
  am.reference = [](const Values&, const std::vector<Shape>&) { return Values{{2, 0}}; };
  cases->push_back(std::move(am));
  OpCase am3;
  am3.name = "argmax_channel_3d";
  am3.op = "argmax_channel";
  am3.input_shapes = {{2, 3, 2}};
  am3.check_grad = false;
  am3.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y;
    for (int o = 0; o < 2; ++o) {
      for (int i = 0; i < 2; ++i) {
        int best = 0;
        for (int k = 1; k < 3; ++k) {
          if (in[0][(o * 3 + k) * 2 + i] > in[0][(o * 3 + best) * 2 + i]) best = k;
        }
        y.push_back(best);
      }
    }
    return Values{y};
  };
  cases->push_back(std::move(am3));

  AddDepthSpace(cases, "depth_to_space_b2", false, {1, 8, 2, 3}, 2);
  AddDepthSpace(cases, "depth_to_space_b3", false, {2, 9, 1, 2}, 3);
  AddDepthSpace(cases, "space_to_depth_b2", true, {2, 2, 4, 2}, 2);
  AddDepthSpace(cases, "space_to_depth_b1", true, {1, 3, 2, 2}, 1);

  // sections=3 over 5: lengths 2, 2, 1 (the first 5 % 3 parts one longer).
  AddSplitV2(cases, "split_v2_sections", {{"indices", "()"}, {"sections", "3"}},
             {{0, 2}, {2, 4}, {4, 5}});
  AddSplitV2(cases, "split_v2_indices", {{"indices", "(0, 1, 3)"}, {"axis", "-2"}},
             {{0, 1}, {1, 3}, {3, 5}});
  AddSplitV2(cases, "split_v2_squeeze", {{"indices", "(0, 1, 2, 3, 4)"}, {"squeeze_axis", "1"}},
             {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}});
  // Parts that skip [0, 1): that slice of the gradient is zero.
  AddSplitV2(cases, "split_v2_gap", {{"indices", "(1, 4)"}}, {{1, 4}, {4, 5}});

  // fill_element_0index: row i gets mhs[i] at column rhs[i] (indices truncated).
  OpCase fill;
  fill.name = "fill_element_0index_3x4";
  fill.op = "fill_element_0index";
  fill.input_shapes = {{3, 4}, {3}, {3}};
  fill.input_values = {{}, {}, {2, 0, 3.7}};
  fill.check_grad = false;
  fill.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> y = in[0];
    y[0 * 4 + 2] = in[1][0];
    y[1 * 4 + 0] = in[1][1];
    y[2 * 4 + 3] = in[1][2];
    return Values{y};
  };
  cases->push_back(std::move(fill));

  AddConst(cases, "zeros_2_3", "_zeros", {{"shape", "(2, 3)"}}, {}, std::vector<double>(6, 0));
  AddConst(cases, "ones_4", "_ones", {{"shape", "(4,)"}, {"ctx", "cpu(0)"}}, {},
           std::vector<double>(4, 1));
  AddConst(cases, "full_2_2", "_full", {{"shape", "(2, 2)"}, {"value", "2.5"}}, {},
           std::vector<double>(4, 2.5));
  AddConst(cases, "arange_stop", "_arange", {{"start", "3"}}, {}, {0, 1, 2});
  AddConst(cases, "arange_step_repeat", "_arange",
           {{"start", "1"}, {"stop", "2.5"}, {"step", "0.5"}, {"repeat", "2"}}, {},
           {1, 1, 1.5, 1.5, 2, 2});
  AddConst(cases, "linspace_endpoint", "_linspace",
           {{"start", "1"}, {"stop", "2"}, {"num", "5"}}, {}, {1, 1.25, 1.5, 1.75, 2});
  AddConst(cases, "linspace_no_endpoint", "_linspace",
           {{"start", "0"}, {"stop", "1"}, {"num", "4"}, {"endpoint", "False"}}, {},
           {0, 0.25, 0.5, 0.75});
  AddConst(cases, "linspace_one", "_linspace", {{"start", "3"}, {"stop", "9"}, {"num", "1"}},
           {}, {3});
  AddConst(cases, "arange_negative_step", "_arange",
           {{"start", "2"}, {"stop", "-1"}, {"step", "-1"}}, {}, {2, 1, 0});
  // np.eye(2, 3, 1) and np.eye(3, k=-1); a diagonal outside the matrix leaves zeros.
  AddConst(cases, "eye_2x3_k1", "_eye", {{"N", "2"}, {"M", "3"}, {"k", "1"}}, {},
           {0, 1, 0, 0, 0, 1});
  AddConst(cases, "eye_3_below", "_eye", {{"N", "3"}, {"k", "-1"}, {"dtype", "int32"}}, {},
           {0, 0, 0, 1, 0, 0, 0, 1, 0});
  AddConst(cases, "eye_2_outside", "_eye", {{"N", "2"}, {"k", "5"}}, {}, {0, 0, 0, 0});
}

}  // namespace mxgrid::ops::tensor_cases_internal
