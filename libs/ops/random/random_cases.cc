#include "libs/ops/random/random_cases.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mxgrid::ops {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;

OpCase Case(std::string name, std::string op, AttrMap attrs, std::vector<Shape> shapes,
            Values values = {}) {
  OpCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.attrs = std::move(attrs);
  c.input_shapes = std::move(shapes);
  c.input_values = std::move(values);
  c.check_grad = false;  // no gradient, as in MXNet
  return c;
}

}  // namespace

std::vector<OpCase> RandomCases() {
  std::vector<OpCase> cases;
  const char* dists[] = {"uniform", "normal", "gamma", "exponential", "poisson",
                         "negative_binomial", "generalized_negative_binomial"};
  for (const char* d : dists) {
    AttrMap params;
    if (std::string(d) == "negative_binomial") params = {{"k", "3"}, {"p", "0.5"}};
    AttrMap with_shape = params;
    with_shape["shape"] = "(3, 4)";
    cases.push_back(Case(absl::StrCat("random_", d), absl::StrCat("_random_", d), with_shape, {}));
    cases.push_back(
        Case(absl::StrCat("random_", d, "_like"), absl::StrCat("_random_", d, "_like"), params,
             {Shape{2, 5}}));
  }
  // _sample_*: parameter values exactly representable in float32, so that the float32 run
  // draws from the same distributions.
  const Values two = {{0.5, 1.0, 2.0}, {1.0, 1.5, 4.0}};
  const Values probs = {{0.5, 0.25, 0.75}, {0.5, 0.5, 0.25}};
  cases.push_back(Case("sample_uniform", "_sample_uniform", {{"shape", "(4,)"}},
                       {Shape{3}, Shape{3}}, two));
  cases.push_back(Case("sample_normal", "_sample_normal", {{"shape", "(2, 2)"}},
                       {Shape{3}, Shape{3}}, two));
  cases.push_back(Case("sample_gamma", "_sample_gamma", {}, {Shape{3}, Shape{3}}, two));
  cases.push_back(Case("sample_exponential", "_sample_exponential", {{"shape", "(5,)"}},
                       {Shape{3}}, {two[1]}));
  cases.push_back(Case("sample_poisson", "_sample_poisson", {{"shape", "(5,)"}}, {Shape{3}},
                       {two[1]}));
  cases.push_back(Case("sample_negative_binomial", "_sample_negative_binomial",
                       {{"shape", "(2,)"}}, {Shape{3}, Shape{3}}, {two[1], probs[0]}));
  cases.push_back(Case("sample_generalized_negative_binomial",
                       "_sample_generalized_negative_binomial", {{"shape", "(2,)"}},
                       {Shape{3}, Shape{3}}, two));
  cases.push_back(Case("random_randint", "_random_randint",
                       {{"low", "-5"}, {"high", "5"}, {"shape", "(6,)"}}, {}));
  cases.push_back(Case("random_randint_int64", "_random_randint",
                       {{"low", "-3000000000"}, {"high", "3000000000"}, {"shape", "(2, 3)"},
                        {"dtype", "int64"}},
                       {}));
  cases.push_back(Case("shuffle", "_shuffle", {}, {Shape{5, 3}}));
  cases.push_back(Case("shuffle_1d", "_shuffle", {}, {Shape{7}}));
  cases.push_back(Case("multinomial_float32_3d", "_sample_multinomial",
                       {{"shape", "(2,)"}, {"dtype", "float32"}}, {Shape{2, 1, 3}},
                       {{0.125, 0.25, 0.625, 0.5, 0.25, 0.25}}));
  cases.push_back(Case("multinomial", "_sample_multinomial", {{"shape", "(3,)"}}, {Shape{2, 3}},
                       {{0.125, 0.25, 0.625, 0.5, 0.25, 0.25}}));
  // With get_prob, the log-probability output's gradient: 1/p at each drawn category.
  OpCase prob = Case("multinomial_get_prob", "_sample_multinomial",
                     {{"shape", "(4,)"}, {"get_prob", "True"}}, {Shape{2, 3}},
                     {{0.125, 0.25, 0.625, 0.5, 0.25, 0.25}});
  prob.check_grad = true;
  cases.push_back(std::move(prob));
  return cases;
}

}  // namespace mxgrid::ops
