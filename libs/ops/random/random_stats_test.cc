// Goodness of fit of the samplers: moments within several standard errors and chi-square
// statistics of binned draws, with fixed seeds (so the tests are deterministic) and bounds
// loose enough for any correct sampler yet failing for a wrong mean, scale or shape.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/ops/random/random_test_util.h"

namespace mxgrid::ops {
namespace {

using random_test::Input;
using random_test::Mean;
using random_test::RunOp;
using random_test::Variance;

constexpr int kN = 20000;

struct Moments {
  std::string op;
  AttrMap attrs;
  double mean, variance;
};

void ExpectMoments(const std::vector<double>& v, double mean, double variance,
                   const std::string& what) {
  const double se = std::sqrt(variance / v.size());
  EXPECT_NEAR(Mean(v), mean, 5 * se + 1e-9) << what;
  EXPECT_NEAR(Variance(v), variance, 0.1 * variance + 1e-9) << what;
}

TEST(RandomStatsTest, ScalarSamplersHaveTheirMoments) {
  const std::string n = absl::StrCat("(", kN, ",)");
  const std::vector<Moments> cases = {
      {"_random_uniform", {{"low", "-2"}, {"high", "6"}}, 2, 64.0 / 12},
      {"_random_normal", {{"loc", "3"}, {"scale", "0.5"}}, 3, 0.25},
      {"_random_gamma", {{"alpha", "2.5"}, {"beta", "2"}}, 5, 10},
      {"_random_gamma", {{"alpha", "0.5"}, {"beta", "1"}}, 0.5, 0.5},
      {"_random_exponential", {{"lam", "4"}}, 0.25, 1.0 / 16},
      {"_random_poisson", {{"lam", "7.5"}}, 7.5, 7.5},
      {"_random_negative_binomial", {{"k", "3"}, {"p", "0.4"}}, 4.5, 11.25},
      {"_random_generalized_negative_binomial", {{"mu", "2"}, {"alpha", "0.5"}}, 2, 4},
      {"_random_generalized_negative_binomial", {{"mu", "3"}, {"alpha", "0"}}, 3, 3},
  };
  for (const Moments& c : cases) {
    AttrMap attrs = c.attrs;
    attrs["shape"] = n;
    for (const char* dtype : {"float32", "float64"}) {
      attrs["dtype"] = dtype;
      absl::StatusOr<random_test::Result> r = RunOp(c.op, attrs, {}, 2024);
      ASSERT_TRUE(r.ok()) << c.op << ": " << r.status();
      ExpectMoments(r->values[0], c.mean, c.variance, c.op + " " + dtype);
    }
  }
}

TEST(RandomStatsTest, Float16SamplesKeepTheirMean) {
  random_test::Result r =
      *RunOp("_random_normal", {{"loc", "1"}, {"scale", "2"}, {"shape", "(20000,)"},
                              {"dtype", "float16"}}, {}, 9);
  ExpectMoments(r.values[0], 1, 4, "float16 normal");
}

// Pearson's chi-square of `counts` against `expected` (same length).
double ChiSquare(const std::vector<double>& counts, const std::vector<double>& expected) {
  double chi = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    chi += (counts[i] - expected[i]) * (counts[i] - expected[i]) / expected[i];
  }
  return chi;
}

TEST(RandomStatsTest, UniformBinsPassChiSquare) {
  random_test::Result r = *RunOp("_random_uniform", {{"shape", "(20000,)"}}, {}, 77);
  std::vector<double> counts(10, 0), expected(10, kN / 10.0);
  for (double v : r.values[0]) counts[static_cast<int>(v * 10)] += 1;
  EXPECT_LT(ChiSquare(counts, expected), 40.0);  // df 9: P(chi > 40) < 1e-5
}

TEST(RandomStatsTest, PoissonFrequenciesPassChiSquare) {
  const double lam = 4;
  random_test::Result r = *RunOp("_random_poisson", {{"lam", "4"}, {"shape", "(20000,)"}}, {}, 5);
  std::vector<double> counts(12, 0), expected(12, 0);
  double pmf = std::exp(-lam), tail = 1;
  for (int k = 0; k < 11; ++k) {
    expected[k] = kN * pmf;
    tail -= pmf;
    pmf *= lam / (k + 1);
  }
  expected[11] = kN * tail;
  for (double v : r.values[0]) counts[std::min(static_cast<int>(v), 11)] += 1;
  EXPECT_LT(ChiSquare(counts, expected), 45.0);  // df 11
}

TEST(RandomStatsTest, RandintAndMultinomialFrequenciesPassChiSquare) {
  random_test::Result r =
      *RunOp("_random_randint", {{"low", "-2"}, {"high", "5"}, {"shape", "(21000,)"}}, {}, 8);
  std::vector<double> counts(7, 0), expected(7, 3000);
  for (double v : r.values[0]) counts[static_cast<int>(v) + 2] += 1;
  EXPECT_LT(ChiSquare(counts, expected), 35.0);  // df 6

  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  r = *RunOp("_sample_multinomial", {{"shape", "(20000,)"}}, {Input{Shape{4}, probs}}, 8);
  std::vector<double> hits(4, 0), want(4, 0);
  for (double v : r.values[0]) hits[static_cast<int>(v)] += 1;
  for (int i = 0; i < 4; ++i) want[i] = kN * probs[i];
  EXPECT_LT(ChiSquare(hits, want), 30.0);  // df 3
}

TEST(RandomStatsTest, ArraySamplersFollowEachParameterElement) {
  random_test::Result r =
      *RunOp("_sample_normal", {{"shape", "(20000,)"}},
           {Input{Shape{2}, {0, 10}}, Input{Shape{2}, {1, 3}}}, 31);
  const std::vector<double>& v = r.values[0];
  ExpectMoments(std::vector<double>(v.begin(), v.begin() + kN), 0, 1, "row 0");
  ExpectMoments(std::vector<double>(v.begin() + kN, v.end()), 10, 9, "row 1");

  r = *RunOp("_sample_gamma", {{"shape", "(20000,)"}, {"dtype", "float64"}},
           {Input{Shape{1}, {3}, DType::kFloat64}, Input{Shape{1}, {0.5}, DType::kFloat64}}, 4);
  ExpectMoments(r.values[0], 1.5, 0.75, "sample gamma");
  r = *RunOp("_sample_negative_binomial", {{"shape", "(20000,)"}},
           {Input{Shape{1}, {2}}, Input{Shape{1}, {0.5}}}, 4);
  ExpectMoments(r.values[0], 2, 4, "sample negative binomial");
  r = *RunOp("_sample_exponential", {{"shape", "(20000,)"}}, {Input{Shape{1}, {2}}}, 4);
  ExpectMoments(r.values[0], 0.5, 0.25, "sample exponential");
  r = *RunOp("_sample_uniform", {{"shape", "(20000,)"}},
           {Input{Shape{1}, {-1}}, Input{Shape{1}, {1}}}, 4);
  ExpectMoments(r.values[0], 0, 4.0 / 12, "sample uniform");
  r = *RunOp("_sample_poisson", {{"shape", "(20000,)"}}, {Input{Shape{1}, {0.5}}}, 4);
  ExpectMoments(r.values[0], 0.5, 0.5, "sample poisson");
  r = *RunOp("_sample_generalized_negative_binomial", {{"shape", "(20000,)"}},
           {Input{Shape{1}, {4}}, Input{Shape{1}, {0.25}}}, 4);
  ExpectMoments(r.values[0], 4, 8, "sample generalized negative binomial");
}

TEST(RandomStatsTest, LikeSamplersHaveTheirMoments) {
  Input data{Shape{100, 200}, std::vector<double>(kN, 0.0), DType::kFloat64};
  random_test::Result r = *RunOp("_random_exponential_like", {{"lam", "0.5"}}, {data}, 12);
  ExpectMoments(r.values[0], 2, 4, "exponential_like");
}

}  // namespace
}  // namespace mxgrid::ops
