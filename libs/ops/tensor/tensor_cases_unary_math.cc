// Consistency cases for unary_math.cc (test-only): references from <cmath> in double, and
// for erfinv a bisection on std::erf, independent of the kernels' approximations.
#include <cmath>
#include <utility>
#include <vector>

#include "libs/ops/tensor/tensor_cases_internal.h"

namespace mxgrid::ops::tensor_cases_internal {
namespace {

constexpr double kPi = 3.14159265358979323846;

double ErfInvByBisection(double a) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (std::erf(mid) < a ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

}  // namespace

void UnaryMathCases(std::vector<testing::OpCase>* cases) {
  auto add = [cases](const char* op, Fn1 f, double lo, double hi, bool grad = true) {
    AddUnary(cases, op, {}, std::move(f), lo, hi, grad);
  };
  add("sin", [](double x) { return std::sin(x); }, -3, 3);
  add("cos", [](double x) { return std::cos(x); }, -3, 3);
  add("tan", [](double x) { return std::tan(x); }, -1.2, 1.2);
  add("arcsin", [](double x) { return std::asin(x); }, -0.9, 0.9);
  add("arccos", [](double x) { return std::acos(x); }, -0.9, 0.9);
  add("arctan", [](double x) { return std::atan(x); }, -3, 3);
  add("sinh", [](double x) { return std::sinh(x); }, -2, 2);
  add("cosh", [](double x) { return std::cosh(x); }, -2, 2);
  add("arcsinh", [](double x) { return std::asinh(x); }, -3, 3);
  add("arccosh", [](double x) { return std::acosh(x); }, 1.2, 4);
  add("arctanh", [](double x) { return std::atanh(x); }, -0.9, 0.9);
  add("degrees", [](double x) { return x * 180 / kPi; }, -3, 3);
  add("radians", [](double x) { return x * kPi / 180; }, -200, 200);
  // Zero gradient: the finite differences are skipped (step 7 still runs).
  add("floor", [](double x) { return std::floor(x); }, -4, 4, false);
  add("ceil", [](double x) { return std::ceil(x); }, -4, 4, false);
  add("round", [](double x) { return x < 0 ? -std::floor(-x + 0.5) : std::floor(x + 0.5); },
      -4, 4, false);
  add("rint", [](double x) { return std::nearbyint(x); }, -4, 4, false);
  add("fix", [](double x) { return x < 0 ? std::ceil(x) : std::floor(x); }, -4, 4, false);
  add("trunc", [](double x) { return x < 0 ? std::ceil(x) : std::floor(x); }, -4, 4, false);
  add("logical_not", [](double x) { return x == 0 ? 1.0 : 0.0; }, -4, 4, false);
  add("rsqrt", [](double x) { return 1 / std::sqrt(x); }, 0.5, 3);
  add("cbrt", [](double x) { return std::pow(x, 1.0 / 3); }, 0.5, 3);
  add("rcbrt", [](double x) { return std::pow(x, -1.0 / 3); }, 0.5, 3);
  add("erf", [](double x) { return std::erf(x); }, -2, 2);
  add("erfinv", ErfInvByBisection, -0.95, 0.95);
  add("gamma", [](double x) { return std::exp(std::lgamma(x)); }, 0.5, 4);
  add("gammaln", [](double x) { return std::lgamma(x); }, 0.5, 4);
  add("log1p", [](double x) { return std::log(1 + x); }, -0.5, 2);
  add("expm1", [](double x) { return std::exp(x) - 1; }, -2, 2);
  add("log2", [](double x) { return std::log(x) / std::log(2.0); }, 0.5, 4);
  add("log10", [](double x) { return std::log(x) / std::log(10.0); }, 0.5, 4);
}

}  // namespace mxgrid::ops::tensor_cases_internal
