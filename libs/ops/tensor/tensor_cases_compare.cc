// Cases for the power, max/min-scalar, comparison, slice and broadcast_to/like ops (see
// tensor_cases.h). Each op gets plain-loop references on random inputs (gradients by finite
// differences) plus literal cases: fixed inputs whose expected outputs were printed by
// MXNet 1.9.1 from the venv (float64 NDArrays, e.g.
// mx.nd._internal._power(nd.array(A, dtype='float64'), nd.array(B, dtype='float64'))).
// Comparisons have no gradient: their inputs' gradients are checked to be zero.
#include <cmath>
#include <string>
#include <utility>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

// A case with fixed inputs and MXNet 1.9.1's literal output.
OpCase Literal(const std::string& name, const std::string& op, const AttrMap& attrs,
               std::vector<Shape> shapes, Values inputs, std::vector<double> want) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = attrs;
  c.input_shapes = std::move(shapes);
  c.input_values = std::move(inputs);
  c.reference = [want](const Values&, const std::vector<Shape>&) { return Values{want}; };
  return c;
}

const std::vector<std::pair<std::string, Fn2>>& Comparisons() {
  static const auto* ops = new std::vector<std::pair<std::string, Fn2>>{
      {"equal", [](double a, double b) { return a == b ? 1.0 : 0.0; }},
      {"not_equal", [](double a, double b) { return a != b ? 1.0 : 0.0; }},
      {"greater", [](double a, double b) { return a > b ? 1.0 : 0.0; }},
      {"greater_equal", [](double a, double b) { return a >= b ? 1.0 : 0.0; }},
      {"lesser", [](double a, double b) { return a < b ? 1.0 : 0.0; }},
      {"lesser_equal", [](double a, double b) { return a <= b ? 1.0 : 0.0; }}};
  return *ops;
}

void PowerCases(std::vector<OpCase>* cases) {
  AddBinary(cases, "_power", [](double a, double b) { return std::pow(a, b); }, 0.5, 2);
  AddBroadcast(cases, "broadcast_power", [](double a, double b) { return std::pow(a, b); },
               0.5, 2);
  const AttrMap s = {{"scalar", "1.5"}, {"is_int", "False"}};
  AddUnary(cases, "_power_scalar", s, [](double x) { return std::pow(x, 1.5); }, 0.5, 2);
  AddUnary(cases, "_rpower_scalar", s, [](double x) { return std::pow(1.5, x); }, -1, 1);
  AddUnary(cases, "_PowerScalar", {{"scalar", "-2"}}, [](double x) { return 1 / (x * x); },
           0.5, 2);
  AddBinary(cases, "_hypot", [](double a, double b) { return std::sqrt(a * a + b * b); }, -2,
            2);
  AddBroadcast(cases, "broadcast_hypot",
               [](double a, double b) { return std::sqrt(a * a + b * b); }, 0.5, 2);
  AddUnary(cases, "_hypot_scalar", s, [](double x) { return std::sqrt(x * x + 2.25); }, -2, 2);
  AddUnary(cases, "_maximum_scalar", s, [](double x) { return std::max(x, 1.5); }, 0, 3);
  AddUnary(cases, "_MinimumScalar", s, [](double x) { return std::min(x, 1.5); }, 0, 3);
  cases->push_back(Literal("power_mxnet_literal", "_Power", {}, {{6}, {6}},
                           {{0.5, 1, 2, 3, 1.5, 0.25}, {2, -1, 0.5, 3, -0.5, 1}},
                           {0.25, 1.0, 1.4142135623730951, 27.0, 0.816496580927726, 0.25}));
  cases->push_back(Literal("broadcast_power_mxnet_literal", "broadcast_power", {},
                           {{2, 3}, {3}}, {{1, 2, 3, 3, 2, 1}, {2, 2, 1}},
                           {1.0, 4.0, 3.0, 9.0, 4.0, 1.0}));
  const Values x = {{1, 2, 3, 2.5, -2, 2}};
  const AttrMap two = {{"scalar", "2"}};
  cases->push_back(Literal("power_scalar_mxnet_literal", "_power_scalar", two, {{6}}, x,
                           {1.0, 4.0, 9.0, 6.25, 4.0, 4.0}));
  cases->push_back(Literal("rpower_scalar_mxnet_literal", "_RPowerScalar", two, {{6}}, x,
                           {2.0, 4.0, 8.0, 5.656854249492381, 0.25, 4.0}));
  // Ties (x == scalar) route the gradient to x; finite differences cannot check there.
  OpCase mx = Literal("maximum_scalar_mxnet_literal", "_MaximumScalar", two, {{6}}, x,
                      {2.0, 2.0, 3.0, 2.5, 2.0, 2.0});
  mx.check_grad = false;
  cases->push_back(mx);
  OpCase mn = Literal("minimum_scalar_mxnet_literal", "_minimum_scalar", two, {{6}}, x,
                      {1.0, 2.0, 2.0, 2.0, -2.0, 2.0});
  mn.check_grad = false;
  cases->push_back(mn);
}

void ComparisonCases(std::vector<OpCase>* cases) {
  const AttrMap s = {{"scalar", "0.25"}};
  for (const auto& [name, f] : Comparisons()) {
    AddBinary(cases, "_" + name, f, -1, 1);
    AddBroadcast(cases, "broadcast_" + name, f, -1, 1);
    AddUnary(cases, "_" + name + "_scalar", s, [f = f](double x) { return f(x, 0.25); }, -1, 1);
  }
  // MXNet 1.9.1 on ties: _op(CA, CB), _op_scalar(X, scalar=2), broadcast_op(L, R).
  const Values ab = {{1, 2, 3, 2, -1, 0}, {1, 3, 2, 2, -2, 0}};
  const Values x = {{1, 2, 3, 2.5, -2, 2}};
  const Values lr = {{1, 2, 3, 3, 2, 1}, {2, 2, 1}};
  struct Want {
    const char* name;
    const char* alias;
    const char* scalar_alias;
    std::vector<double> pair, scalar, broadcast;
  };
  const std::vector<Want> wants = {
      {"equal", "_Equal", "_EqualScalar", {1, 0, 0, 1, 0, 1}, {0, 1, 0, 0, 0, 1},
       {0, 1, 0, 0, 1, 1}},
      {"not_equal", "_Not_Equal", "_NotEqualScalar", {0, 1, 1, 0, 1, 0}, {1, 0, 1, 1, 1, 0},
       {1, 0, 1, 1, 0, 0}},
      {"greater", "_Greater", "_GreaterScalar", {0, 0, 1, 0, 1, 0}, {0, 0, 1, 1, 0, 0},
       {0, 0, 1, 1, 0, 0}},
      {"greater_equal", "_Greater_Equal", "_GreaterEqualScalar", {1, 0, 1, 1, 1, 1},
       {0, 1, 1, 1, 0, 1}, {0, 1, 1, 1, 1, 1}},
      {"lesser", "_Lesser", "_LesserScalar", {0, 1, 0, 0, 0, 0}, {1, 0, 0, 0, 1, 0},
       {1, 0, 0, 0, 0, 0}},
      {"lesser_equal", "_Lesser_Equal", "_LesserEqualScalar", {1, 1, 0, 1, 0, 1},
       {1, 1, 0, 0, 1, 1}, {1, 1, 0, 0, 1, 1}}};
  for (const Want& w : wants) {
    const std::string n = w.name;
    OpCase pair = Literal(n + "_mxnet_literal", w.alias, {}, {{6}, {6}}, ab, w.pair);
    OpCase scalar =
        Literal(n + "_scalar_mxnet_literal", w.scalar_alias, {{"scalar", "2"}}, {{6}}, x,
                w.scalar);
    OpCase bcast = Literal("broadcast_" + n + "_mxnet_literal", "broadcast_" + n, {},
                           {{2, 3}, {3}}, lr, w.broadcast);
    for (OpCase* c : {&pair, &scalar, &bcast}) {
      c->check_grad = false;  // ties sit on the step: no finite difference there
      cases->push_back(std::move(*c));
    }
  }
}

// Copies of arange inputs: the expected output lists which input elements are read.
std::vector<double> Arange(int64_t n) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

void SliceCases(std::vector<OpCase>* cases) {
  struct S {
    std::string name;
    AttrMap attrs;
    std::vector<double> want;  // MXNet 1.9.1: nd.slice(nd.arange(24).reshape((2, 3, 4)), ...)
  };
  const std::vector<S> specs = {
      {"slice_basic", {{"begin", "(0, 1)"}, {"end", "(2, 3)"}},
       {4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}},
      {"slice_step_neg2", {{"begin", "(1, 2, 3)"}, {"end", "(0, None, 0)"},
                           {"step", "(-1, -1, -2)"}},
       {23, 21, 19, 17, 15, 13}},
      {"slice_none", {{"begin", "(None, None, 1)"}, {"end", "(None, None, None)"}},
       {1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21, 22, 23}},
      {"slice_neg_end", {{"begin", "(None, None, -1)"}, {"end", "(None, None, -5)"},
                         {"step", "(None, None, -1)"}},
       {3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16, 23, 22, 21, 20}},
      {"slice_clip", {{"begin", "(-5,)"}, {"end", "(None,)"}}, Arange(24)},
      {"slice_step2", {{"begin", "(0, 0, 1)"}, {"end", "(2, 3, 4)"}, {"step", "(1, 2, 2)"}},
       {1, 3, 9, 11, 13, 15, 21, 23}},
      {"crop_alias", {{"begin", "[0, 1]"}, {"end", "[1, 2]"}}, {4, 5, 6, 7}}};
  for (const S& s : specs) {
    OpCase c = Literal(s.name, s.name == "crop_alias" ? "crop" : "slice", s.attrs, {{2, 3, 4}},
                       {Arange(24)}, s.want);
    cases->push_back(c);
    // The same slice of random values: the gradient (a scatter) by finite differences.
    c.name += "_random";
    c.input_values.clear();
    c.reference = nullptr;
    cases->push_back(std::move(c));
  }
}

void BroadcastToCases(std::vector<OpCase>* cases) {
  struct B {
    std::string name;
    Shape in;
    std::string shape;
    Shape out;
  };
  for (const B& b : std::vector<B>{{"broadcast_to_rows", {1, 3}, "(4, 3)", {4, 3}},
                                   {"broadcast_to_keep0", {1, 3}, "(2, 0)", {2, 3}},
                                   {"broadcast_to_3d", {2, 1, 1}, "(2, 3, 4)", {2, 3, 4}},
                                   {"broadcast_to_same", {2, 3}, "(2, 3)", {2, 3}}}) {
    OpCase c;
    c.name = b.name;
    c.op = "broadcast_to";
    c.attrs = {{"shape", b.shape}};
    c.input_shapes = {b.in};
    c.reference = [in = b.in, out = b.out](const Values& v, const std::vector<Shape>&) {
      std::vector<double> y(out.Size());
      for (int64_t k = 0; k < out.Size(); ++k) y[k] = BroadcastAt(v[0], in, out, k);
      return Values{y};
    };
    cases->push_back(std::move(c));
  }
  cases->push_back(Literal("broadcast_to_mxnet_literal", "broadcast_to", {{"shape", "(2, 0)"}},
                           {{1, 3}}, {{1, 2, 3}}, {1, 2, 3, 1, 2, 3}));
  struct L {
    std::string name;
    Shape lhs, rhs;
    AttrMap attrs;
    Shape out;
  };
  for (const L& l : std::vector<L>{
           {"broadcast_like_full", {1, 3}, {4, 3}, {}, {4, 3}},
           {"broadcast_like_3d", {2, 1, 1}, {2, 3, 2}, {}, {2, 3, 2}},
           {"broadcast_like_axes", {2, 1}, {5, 7}, {{"lhs_axes", "(1,)"}, {"rhs_axes", "(0,)"}},
            {2, 5}},
           {"broadcast_like_axes_neg", {1, 1}, {3, 4},
            {{"lhs_axes", "(0, -1)"}, {"rhs_axes", "(-1, 0)"}}, {4, 3}}}) {
    OpCase c;
    c.name = l.name;
    c.op = "broadcast_like";
    c.attrs = l.attrs;
    c.input_shapes = {l.lhs, l.rhs};
    c.reference = [in = l.lhs, out = l.out](const Values& v, const std::vector<Shape>&) {
      std::vector<double> y(out.Size());
      for (int64_t k = 0; k < out.Size(); ++k) y[k] = BroadcastAt(v[0], in, out, k);
      return Values{y};
    };
    cases->push_back(std::move(c));
  }
  // MXNet 1.9.1: broadcast_like([[1], [2]], zeros((5, 7)), lhs_axes=(-1,), rhs_axes=(0,)).
  cases->push_back(Literal("broadcast_like_mxnet_literal", "broadcast_like",
                           {{"lhs_axes", "(-1,)"}, {"rhs_axes", "(0,)"}}, {{2, 1}, {5, 7}},
                           {{1, 2}, {}}, {1, 1, 1, 1, 1, 2, 2, 2, 2, 2}));
}

// Python's modulo (the sign of the divisor), MXNet's mod.
double PyMod(double a, double b) { return a - b * std::floor(a / b); }

void ModSignCases(std::vector<OpCase>* cases) {
  AddBinary(cases, "_mod", PyMod, 0.5, 2);
  // Broadcast reuses each input many times: fixed values with |a| < |b| keep every a / b
  // away from the jumps of floor, where finite differences fail.
  OpCase bmod;
  bmod.name = "broadcast_mod_3_1_4_x_2_1";
  bmod.op = "broadcast_mod";
  bmod.input_shapes = {{3, 1, 4}, {2, 1}};
  std::vector<double> lhs(12);
  for (int i = 0; i < 12; ++i) lhs[i] = (i % 2 ? -1 : 1) * (0.5 + 0.2 * i);
  bmod.input_values = {lhs, {3.1, -3.3}};
  bmod.reference = [](const Values& v, const std::vector<Shape>& s) {
    const Shape out = {3, 2, 4};
    std::vector<double> y(out.Size());
    for (int64_t k = 0; k < out.Size(); ++k) {
      y[k] = PyMod(BroadcastAt(v[0], s[0], out, k), BroadcastAt(v[1], s[1], out, k));
    }
    return Values{y};
  };
  cases->push_back(std::move(bmod));
  AddUnary(cases, "_mod_scalar", {{"scalar", "0.75"}}, [](double x) { return PyMod(x, 0.75); },
           0.5, 2);
  AddUnary(cases, "_rmod_scalar", {{"scalar", "1.7"}}, [](double x) { return PyMod(1.7, x); },
           0.5, 2);
  AddUnary(cases, "sign", {}, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }, -1, 1);
  // MXNet 1.9.1: nd.array(A, dtype='float64') % nd.array(B, dtype='float64'); X % 0 is 0.
  OpCase mod = Literal("mod_mxnet_literal", "_Mod", {}, {{6}, {6}},
                       {{7, -7, 7, -7, 5.5, 3}, {3, 3, -3, -3, 2, 0}}, {1, 2, -2, -1, 1.5, 0});
  mod.check_grad = false;  // the zero divisor has no derivative
  cases->push_back(mod);
  cases->push_back(Literal("rmod_scalar_mxnet_literal", "_RModScalar", {{"scalar", "7"}},
                           {{2}}, {{3, -3}}, {1, -2}));
  cases->push_back(Literal("broadcast_mod_mxnet_literal", "broadcast_mod", {}, {{1, 3}, {2, 1}},
                           {{7, -7, 8}, {3, -3}}, {1, 2, 2, -2, -1, -1}));
}

}  // namespace

void PowerCompareCases(std::vector<OpCase>* cases) {
  PowerCases(cases);
  ComparisonCases(cases);
  ModSignCases(cases);
}

void SliceBroadcastToCases(std::vector<OpCase>* cases) {
  SliceCases(cases);
  BroadcastToCases(cases);
}

}  // namespace mxgrid::ops::tensor_cases_internal
