#include "libs/ops/tensor/tensor_cases.h"

#include "libs/ops/tensor/tensor_cases_internal.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <utility>

namespace mxgrid::ops {
namespace tensor_cases_internal {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

const std::vector<Shape>& Shapes() {
  static const auto* shapes =
      new std::vector<Shape>{{5}, {1, 3}, {2, 3}, {3, 1, 4}, {1, 2, 3, 2}};
  return *shapes;
}

std::string Tag(const Shape& s) {
  std::string out;
  for (int64_t d : s.dims()) out += "_" + std::to_string(d);
  return out;
}

void AddUnary(std::vector<OpCase>* cases, const std::string& op, const AttrMap& attrs,
              Fn1 f, double low, double high, bool grad) {
  for (const Shape& s : Shapes()) {
    OpCase c;
    c.name = op + Tag(s);
    c.op = op;
    c.attrs = attrs;
    c.input_shapes = {s};
    c.low = low;
    c.high = high;
    c.check_grad = grad;
    c.reference = [f](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out(in[0].size());
      for (size_t i = 0; i < out.size(); ++i) out[i] = f(in[0][i]);
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
}

void AddBinary(std::vector<OpCase>* cases, const std::string& op, Fn2 f, double low,
               double high) {
  for (const Shape& s : Shapes()) {
    OpCase c;
    c.name = op + Tag(s);
    c.op = op;
    c.input_shapes = {s, s};
    c.low = low;
    c.high = high;
    c.reference = [f](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out(in[0].size());
      for (size_t i = 0; i < out.size(); ++i) out[i] = f(in[0][i], in[1][i]);
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
}

// Element of `in` (shape `s`) that broadcasts to flat index `k` of output shape `os`.
double BroadcastAt(const std::vector<double>& in, const Shape& s, const Shape& os, int64_t k) {
  int64_t flat = 0;
  int64_t rest = k;
  std::vector<int64_t> coord(os.ndim());
  for (int i = os.ndim() - 1; i >= 0; --i) {
    coord[i] = rest % os[i];
    rest /= os[i];
  }
  const int off = os.ndim() - s.ndim();
  for (int i = 0; i < s.ndim(); ++i) flat = flat * s[i] + (s[i] == 1 ? 0 : coord[i + off]);
  return in[flat];
}

void AddBroadcast(std::vector<OpCase>* cases, const std::string& op, Fn2 f, double low,
                  double high) {
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {1, 3}}, {{3, 1, 4}, {2, 1}}, {{5}, {1}},
      {{1, 2, 1, 3}, {4, 2, 5, 1}}, {{2, 1}, {1, 3}}};
  for (const auto& [l, r] : pairs) {
    OpCase c;
    c.name = op + Tag(l) + "_x" + Tag(r);
    c.op = op;
    c.input_shapes = {l, r};
    c.low = low;
    c.high = high;
    c.reference = [f](const Values& in, const std::vector<Shape>& s) {
      const int nd = std::max(s[0].ndim(), s[1].ndim());
      std::vector<int64_t> dims(nd);
      for (int i = 0; i < nd; ++i) {
        const int a = i - (nd - s[0].ndim()), b = i - (nd - s[1].ndim());
        dims[i] = std::max(a >= 0 ? s[0][a] : 1, b >= 0 ? s[1][b] : 1);
      }
      const Shape os(dims);
      std::vector<double> out(os.Size());
      for (int64_t k = 0; k < os.Size(); ++k) {
        out[k] = f(BroadcastAt(in[0], s[0], os, k), BroadcastAt(in[1], s[1], os, k));
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
}

}  // namespace tensor_cases_internal

namespace {

using tensor_cases_internal::AddBinary;
using tensor_cases_internal::AddBroadcast;
using tensor_cases_internal::AddUnary;
using tensor_cases_internal::Fn2;
using tensor_cases_internal::Shapes;
using tensor_cases_internal::Tag;
using testing::OpCase;
using Values = std::vector<std::vector<double>>;

void ElemwiseCases(std::vector<OpCase>* cases) {
  AddBinary(cases, "elemwise_add", [](double a, double b) { return a + b; }, -1, 1);
  AddBinary(cases, "elemwise_sub", [](double a, double b) { return a - b; }, -1, 1);
  AddBinary(cases, "elemwise_mul", [](double a, double b) { return a * b; }, -1, 1);
  AddBinary(cases, "elemwise_div", [](double a, double b) { return a / b; }, 0.5, 2);
  AddBinary(cases, "_maximum", [](double a, double b) { return std::max(a, b); }, -1, 1);
  AddBinary(cases, "_minimum", [](double a, double b) { return std::min(a, b); }, -1, 1);
}

void ScalarCases(std::vector<OpCase>* cases) {
  const AttrMap a = {{"scalar", "1.5"}, {"is_int", "False"}};
  AddUnary(cases, "_plus_scalar", a, [](double x) { return x + 1.5; }, -1, 1);
  AddUnary(cases, "_minus_scalar", a, [](double x) { return x - 1.5; }, -1, 1);
  AddUnary(cases, "_rminus_scalar", a, [](double x) { return 1.5 - x; }, -1, 1);
  AddUnary(cases, "_mul_scalar", a, [](double x) { return x * 1.5; }, -1, 1);
  AddUnary(cases, "_div_scalar", a, [](double x) { return x / 1.5; }, -1, 1);
  AddUnary(cases, "_rdiv_scalar", a, [](double x) { return 1.5 / x; }, 0.5, 2);
  // Default scalar is 1.
  AddUnary(cases, "_PlusScalar", {}, [](double x) { return x + 1; }, -1, 1);
}

void UnaryCases(std::vector<OpCase>* cases) {
  AddUnary(cases, "exp", {}, [](double x) { return std::exp(x); }, -1, 1);
  AddUnary(cases, "log", {}, [](double x) { return std::log(x); }, 0.5, 2);
  AddUnary(cases, "sqrt", {}, [](double x) { return std::sqrt(x); }, 0.5, 2);
  AddUnary(cases, "square", {}, [](double x) { return x * x; }, -1, 1);
  AddUnary(cases, "abs", {}, [](double x) { return x < 0 ? -x : x; }, -1, 1);
  AddUnary(cases, "negative", {}, [](double x) { return -x; }, -1, 1);
  AddUnary(cases, "relu", {}, [](double x) { return x > 0 ? x : 0; }, -1, 1);
  AddUnary(cases, "sigmoid", {}, [](double x) { return 1 / (1 + std::exp(-x)); }, -2, 2);
  AddUnary(cases, "tanh", {}, [](double x) { return std::tanh(x); }, -2, 2);
  AddUnary(cases, "reciprocal", {}, [](double x) { return 1 / x; }, 0.5, 2);
  AddUnary(cases, "clip", {{"a_min", "-0.4"}, {"a_max", "0.6"}},
           [](double x) { return x < -0.4 ? -0.4 : x > 0.6 ? 0.6 : x; }, -1, 1);
  AddUnary(cases, "_copy", {}, [](double x) { return x; }, -1, 1);
  AddUnary(cases, "identity", {}, [](double x) { return x; }, -1, 1);
  AddUnary(cases, "BlockGrad", {}, [](double x) { return x; }, -1, 1, /*grad=*/false);
  AddUnary(cases, "zeros_like", {}, [](double) { return 0.0; }, -1, 1, false);
  AddUnary(cases, "ones_like", {}, [](double) { return 1.0; }, -1, 1, false);
  // The harness gives outputs the inputs' dtype, so only value-preserving casts are checked
  // here (conversions are tested in tensor_ops_test).
  AddUnary(cases, "Cast", {{"dtype", "float64"}}, [](double x) { return x; }, -1, 1);
  AddUnary(cases, "cast", {{"dtype", "float32"}}, [](double x) { return x; }, -1, 1);
}

void AggregateCases(std::vector<OpCase>* cases) {
  for (int n : {1, 2, 3}) {
    for (const Shape& s : Shapes()) {
      OpCase c;
      c.name = "ElementWiseSum" + std::to_string(n) + Tag(s);
      c.op = n == 2 ? "add_n" : "ElementWiseSum";
      c.attrs = {{"num_args", std::to_string(n)}};
      c.input_shapes.assign(n, s);
      c.reference = [](const Values& in, const std::vector<Shape>&) {
        std::vector<double> out(in[0].size(), 0.0);
        for (const auto& v : in) {
          for (size_t i = 0; i < out.size(); ++i) out[i] += v[i];
        }
        return Values{out};
      };
      cases->push_back(std::move(c));
    }
  }
  AddBinary(cases, "_grad_add", [](double a, double b) { return a + b; }, -1, 1);
}

void BroadcastCases(std::vector<OpCase>* cases) {
  const std::vector<std::pair<std::string, Fn2>> ops = {
      {"broadcast_add", [](double a, double b) { return a + b; }},
      {"broadcast_plus", [](double a, double b) { return a + b; }},
      {"broadcast_sub", [](double a, double b) { return a - b; }},
      {"broadcast_minus", [](double a, double b) { return a - b; }},
      {"broadcast_mul", [](double a, double b) { return a * b; }},
      {"broadcast_maximum", [](double a, double b) { return std::max(a, b); }},
      {"broadcast_minimum", [](double a, double b) { return std::min(a, b); }}};
  for (const auto& [op, f] : ops) AddBroadcast(cases, op, f, -1, 1);
  AddBroadcast(cases, "broadcast_div", [](double a, double b) { return a / b; }, 0.5, 2);
}

// Reference reduction: `red[i]` says whether axis i is reduced; kind 0 sum, 1 mean, 2 max,
// 3 min, 4 argmax (flat index within the reduced block, row-major over reduced axes).
std::vector<double> RefReduce(const std::vector<double>& x, const Shape& s,
                              const std::vector<bool>& red, int kind) {
  int64_t out_size = 1, count = 1;
  for (int i = 0; i < s.ndim(); ++i) (red[i] ? count : out_size) *= s[i];
  std::vector<double> acc(out_size, kind == 2 ? -1e300 : kind == 3 ? 1e300 : 0.0);
  std::vector<double> arg(out_size, -1);
  std::vector<int64_t> pos(out_size, 0);
  for (int64_t k = 0; k < s.Size(); ++k) {
    int64_t rest = k, o = 0, mult = 1;
    for (int i = s.ndim() - 1; i >= 0; --i) {
      const int64_t c = rest % s[i];
      rest /= s[i];
      if (!red[i]) {
        o += c * mult;
        mult *= s[i];
      }
    }
    const double v = x[k];
    if (kind <= 1) acc[o] += v;
    if (kind == 2) acc[o] = std::max(acc[o], v);
    if (kind == 3) acc[o] = std::min(acc[o], v);
    if (kind == 4 && (arg[o] < 0 || v > acc[o])) {
      acc[o] = v;
      arg[o] = static_cast<double>(pos[o]);
    }
    ++pos[o];
  }
  if (kind == 1) {
    for (double& v : acc) v /= static_cast<double>(count);
  }
  return kind == 4 ? arg : acc;
}

void ReduceCases(std::vector<OpCase>* cases) {
  struct Spec {
    std::string suffix;
    Shape shape;
    AttrMap attrs;
    std::vector<bool> red;
  };
  const std::vector<Spec> specs = {
      {"all", {2, 3}, {}, {true, true}},
      {"all_keep", {1, 3, 2}, {{"keepdims", "True"}}, {true, true, true}},
      {"ax1", {3, 1, 4}, {{"axis", "1"}}, {false, true, false}},
      {"ax_neg", {2, 3, 4}, {{"axis", "-1"}, {"keepdims", "1"}}, {false, false, true}},
      {"ax02", {2, 3, 2, 2}, {{"axis", "(0, 2)"}}, {true, false, true, false}},
      {"excl", {2, 3, 2}, {{"axis", "(1,)"}, {"exclude", "True"}}, {true, false, true}},
      {"vec", {7}, {{"axis", "0"}}, {true}},
      {"none", {1, 5}, {{"axis", "None"}}, {true, true}}};
  const std::vector<std::string> ops = {"sum", "mean", "max", "min"};
  for (int kind = 0; kind < 4; ++kind) {
    for (const Spec& sp : specs) {
      OpCase c;
      c.name = ops[kind] + "_" + sp.suffix;
      c.op = kind == 0 && sp.suffix == "ax1" ? "sum_axis" : ops[kind];
      c.attrs = sp.attrs;
      c.input_shapes = {sp.shape};
      c.reference = [red = sp.red, kind](const Values& in, const std::vector<Shape>& s) {
        return Values{RefReduce(in[0], s[0], red, kind)};
      };
      cases->push_back(std::move(c));
    }
  }
  const std::vector<Spec> arg_specs = {
      {"ax1", {2, 3}, {{"axis", "1"}}, {false, true}},
      {"ax0_keep", {4, 1, 3}, {{"axis", "0"}, {"keepdims", "True"}}, {true, false, false}},
      {"ax_neg", {2, 3, 5}, {{"axis", "-2"}}, {false, true, false}},
      {"all", {3, 4}, {}, {true, true}},
      {"vec", {6}, {{"axis", "0"}}, {true}}};
  for (const Spec& sp : arg_specs) {
    OpCase c;
    c.name = "argmax_" + sp.suffix;
    c.op = "argmax";
    c.attrs = sp.attrs;
    c.input_shapes = {sp.shape};
    c.check_grad = false;
    c.reference = [red = sp.red](const Values& in, const std::vector<Shape>& s) {
      return Values{RefReduce(in[0], s[0], red, 4)};
    };
    cases->push_back(std::move(c));
  }
}

// Ops whose output is the input's elements in order (shape ops).

}  // namespace

std::vector<OpCase> TensorCases() {
  std::vector<OpCase> cases;
  ElemwiseCases(&cases);
  ScalarCases(&cases);
  UnaryCases(&cases);
  AggregateCases(&cases);
  BroadcastCases(&cases);
  ReduceCases(&cases);
  tensor_cases_internal::MatrixCases(&cases);
  tensor_cases_internal::ConcatSliceCases(&cases);
  tensor_cases_internal::DotCases(&cases);
  tensor_cases_internal::IndexCases(&cases);
  tensor_cases_internal::PowerCompareCases(&cases);
  tensor_cases_internal::SliceBroadcastToCases(&cases);
  tensor_cases_internal::SliceAssignCases(&cases);
  tensor_cases_internal::UnaryMathCases(&cases);
  tensor_cases_internal::GatherCases(&cases);
  tensor_cases_internal::SortCases(&cases);
  tensor_cases_internal::LikeInitCases(&cases);
  return cases;
}

}  // namespace mxgrid::ops
