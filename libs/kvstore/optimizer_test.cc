#include "libs/kvstore/optimizer.h"

#include <cmath>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/testing/optimizer_testing.h"

namespace mxgrid::kvstore {
namespace {

using tensor::NDArray;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Params;

using testing::Apply;
using testing::F32;
using testing::Make;

constexpr double kTol = 1e-6;

TEST(OptimizerTest, SgdPlainAndWeightDecay) {
  EXPECT_THAT(Apply(Make("sgd", {{"learning_rate", "0.1"}}).get(), {1, -2}, {{0.5, 1}}),
              ElementsAre(DoubleNear(0.95, kTol), DoubleNear(-2.1, kTol)));
  // w -= lr * (g + wd * w)
  EXPECT_THAT(Apply(Make("sgd", {{"learning_rate", "0.1"}, {"wd", "0.1"}}).get(), {1, -2},
                  {{0.5, 1}}),
              ElementsAre(DoubleNear(0.94, kTol), DoubleNear(-2.08, kTol)));
}

TEST(OptimizerTest, SgdMomentumAccumulates) {
  // mom = 0.9 mom - 0.1 g; w += mom: -0.1, then -0.1 - 0.19.
  auto opt = Make("sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}});
  EXPECT_THAT(Apply(opt.get(), {0, 0}, {{1, -1}, {1, -1}}),
              ElementsAre(DoubleNear(-0.29, kTol), DoubleNear(0.29, kTol)));
}

TEST(OptimizerTest, SgdClipsRescaledGradientButNotWeightDecay) {
  // rescale 0.5 then clip to [-1, 1]: g 4, -1, 1 -> 1, -0.5, 0.5.
  auto opt = Make("sgd", {{"learning_rate", "1"}, {"rescale_grad", "0.5"}, {"clip_gradient", "1"}});
  EXPECT_THAT(Apply(opt.get(), {0, 0, 0}, {{4, -1, 1}}),
              ElementsAre(DoubleNear(-1, kTol), DoubleNear(0.5, kTol), DoubleNear(-0.5, kTol)));
  // w = 2 - 1 * (clip(4, 1) + 0.5 * 2) = 0: wd is added after clipping.
  auto wd = Make("sgd", {{"learning_rate", "1"}, {"wd", "0.5"}, {"clip_gradient", "1"}});
  EXPECT_THAT(Apply(wd.get(), {2}, {{4}}), ElementsAre(DoubleNear(0, kTol)));
  // clip_gradient=0 is falsy in MXNet's Python: no clipping.
  auto zero = Make("sgd", {{"learning_rate", "1"}, {"clip_gradient", "0"}});
  EXPECT_THAT(Apply(zero.get(), {0}, {{4}}), ElementsAre(DoubleNear(-4, kTol)));
}

TEST(OptimizerTest, NagMatchesNesterovFormula) {
  // state = 0.9 state + g; w -= 0.1 (g + 0.9 state): -0.19, then -0.19 - 0.271.
  auto opt = Make("nag", {{"learning_rate", "0.1"}, {"momentum", "0.9"}});
  EXPECT_THAT(Apply(opt.get(), {0}, {{1}, {1}}), ElementsAre(DoubleNear(-0.461, kTol)));
  // In place, as MXNet runs it, the momentum's wd term uses the updated weight:
  // w = 1 + 1.9 (0 - 0.1 * 0.1 * 1) = 0.981; mom = -0.1 * 0.1 * 0.981.
  auto wd = Make("nag", {{"learning_rate", "0.1"}, {"momentum", "0.9"}, {"wd", "0.1"}});
  const double w2 = 0.981 - 0.9 * -0.00981 + 1.9 * (0.9 * -0.00981 - 0.01 * 0.981);
  EXPECT_THAT(Apply(wd.get(), {1}, {{0}, {0}}), ElementsAre(DoubleNear(w2, kTol)));
  auto plain = Make("NAG", {{"learning_rate", "0.1"}, {"wd", "0.1"}});
  EXPECT_THAT(Apply(plain.get(), {1}, {{0.5}}), ElementsAre(DoubleNear(0.94, kTol)));
}

TEST(OptimizerTest, AdamBiasCorrectionUsesEachIndexCount) {
  // With a constant gradient the bias-corrected step is lr * sign(g) at every t.
  auto opt = Make("adam", {{"learning_rate", "0.1"}});
  NDArray w0 = F32({1, 1});
  NDArray w1 = F32({1, 1});
  NDArray g = F32({2, -3});
  ASSERT_TRUE(opt->Update(0, w0, g).ok());
  ASSERT_TRUE(opt->Update(0, w0, g).ok());
  ASSERT_TRUE(opt->Update(1, w1, g).ok());  // index 1's first update: t = 1, not 3
  ASSERT_TRUE(opt->Update(0, w0, g).ok());
  // (A shared count would make index 1's step 0.064, not 0.1.)
  EXPECT_THAT(*w0.ToVector<double>(), ElementsAre(DoubleNear(0.7, 1e-5), DoubleNear(1.3, 1e-5)));
  EXPECT_THAT(*w1.ToVector<double>(), ElementsAre(DoubleNear(0.9, 1e-5), DoubleNear(1.1, 1e-5)));
  EXPECT_EQ(opt->UpdateCount(0), 3);
  EXPECT_EQ(opt->UpdateCount(1), 1);
  EXPECT_EQ(opt->UpdateCount(2), 0);
}

TEST(OptimizerTest, AdamWeightDecayGoesInsideClip) {
  // t=1: gr = clip(0 + 0.5 * 2, 0.5) = 0.5; t=2 with g=-4: gr = clip(-4 + 0.5 w, 0.5) = -0.5.
  // m2 = 0.9*0.05 - 0.05 = -0.005, v2 = 0.999*0.00025 + 0.00025 = 0.00049975,
  // lr2 = 0.1 sqrt(1 - 0.999^2) / (1 - 0.81); w = 1.9 - lr2 m2 / sqrt(v2).
  auto opt = Make("adam", {{"learning_rate", "0.1"}, {"wd", "0.5"}, {"clip_gradient", "0.5"}});
  const double lr2 = 0.1 * std::sqrt(1 - 0.999 * 0.999) / 0.19;
  const double expected = 1.9 - lr2 * -0.005 / std::sqrt(0.00049975);
  EXPECT_THAT(Apply(opt.get(), {2}, {{0}, {-4}}), ElementsAre(DoubleNear(expected, 1e-5)));
}

TEST(OptimizerTest, RmsPropPlainAndClipWeights) {
  // n = 0.1 * 4; w = 1 - 0.01 * 2 / sqrt(0.4)
  auto opt = Make("rmsprop", {{"learning_rate", "0.01"}});
  EXPECT_THAT(Apply(opt.get(), {1}, {{2}}),
              ElementsAre(DoubleNear(1 - 0.02 / std::sqrt(0.4), kTol)));
  auto clipped = Make("rmsprop", {{"learning_rate", "0.01"}, {"clip_weights", "0.5"}});
  EXPECT_THAT(Apply(clipped.get(), {1, -3}, {{2, 1}}),
              ElementsAre(DoubleNear(0.5, kTol), DoubleNear(-0.5, kTol)));
}

TEST(OptimizerTest, RmsPropCenteredTwoSteps) {
  // n = 0.4, g = 0.2, delta = -0.02 / sqrt(0.36); then n = 0.76, g = 0.38,
  // delta = 0.9 delta - 0.02 / sqrt(0.76 - 0.1444).
  auto opt = Make("rmsprop", {{"learning_rate", "0.01"}, {"centered", "True"}});
  const double d1 = -0.02 / std::sqrt(0.36);
  const double d2 = 0.9 * d1 - 0.02 / std::sqrt(0.76 - 0.38 * 0.38);
  EXPECT_THAT(Apply(opt.get(), {1}, {{2}, {2}}), ElementsAre(DoubleNear(1 + d1 + d2, kTol)));
}

TEST(OptimizerTest, AdaGradHistoryAndClip) {
  // h = 4, w = 1 - 0.1 * 2 / 2; h = 8, w -= 0.1 * 2 / sqrt(8).
  auto opt = Make("adagrad", {{"learning_rate", "0.1"}});
  EXPECT_THAT(Apply(opt.get(), {1}, {{2}, {2}}),
              ElementsAre(DoubleNear(0.9 - 0.2 / std::sqrt(8.0), kTol)));
  // grad = clip(0.5 g, 0.5): 0.5 then 0.1; h = 0.25, 0.26; plus wd * w inside the step.
  auto clip = Make("adagrad", {{"learning_rate", "0.1"}, {"rescale_grad", "0.5"},
                               {"clip_gradient", "0.5"}, {"wd", "0.1"}, {"eps", "1e-12"}});
  const double w1 = 1 - 0.1 * (1 + 0.1 * 1);
  const double w2 = w1 - 0.1 * (0.1 / std::sqrt(0.26) + 0.1 * w1);
  EXPECT_THAT(Apply(clip.get(), {1}, {{4}, {0.2}}), ElementsAre(DoubleNear(w2, kTol)));
  // A negative clip_gradient means no clipping (as for the other optimizers): h = 4.
  auto unclipped = Make("adagrad", {{"learning_rate", "0.1"}, {"clip_gradient", "-0.5"},
                                    {"eps", "1e-12"}});
  EXPECT_THAT(Apply(unclipped.get(), {1}, {{2}}), ElementsAre(DoubleNear(0.9, kTol)));
}

TEST(OptimizerTest, Float64UpdatesInDouble) {
  auto opt = Make("sgd", {{"learning_rate", "0.5"}, {"momentum", "0.5"}});
  NDArray w = *NDArray::FromVector<double>({1}, std::vector<double>{1.0});
  NDArray g = *NDArray::FromVector<double>({1}, std::vector<double>{1.0});
  ASSERT_TRUE(opt->Update(7, w, g).ok());
  ASSERT_TRUE(opt->Update(7, w, g).ok());
  EXPECT_THAT(*w.ToVector<double>(), ElementsAre(-0.25));  // 1 - 0.5 - 0.75, exact
}

TEST(OptimizerTest, LearningRateAndMultipliers) {
  auto opt = Make("sgd", {{"wd", "1"}});
  EXPECT_DOUBLE_EQ(opt->learning_rate(), 0.01);
  EXPECT_DOUBLE_EQ(Make("adam", {})->learning_rate(), 0.001);
  EXPECT_DOUBLE_EQ(Make("rmsprop", {})->learning_rate(), 0.001);
  EXPECT_DOUBLE_EQ(Make("adam", {{"learning_rate", "None"}})->learning_rate(), 0.01);
  opt->set_learning_rate(0.5);
  opt->SetWdMult(1, 0.0);  // e.g. a bias
  opt->SetLrMult(2, 2.0);
  NDArray w0 = F32({1});
  NDArray w1 = F32({1});
  NDArray w2 = F32({1});
  NDArray g = F32({0.25});
  ASSERT_TRUE(opt->Update(0, w0, g).ok());
  ASSERT_TRUE(opt->Update(1, w1, g).ok());
  ASSERT_TRUE(opt->Update(2, w2, g).ok());
  EXPECT_THAT(*w0.ToVector<double>(), ElementsAre(DoubleNear(1 - 0.5 * 1.25, kTol)));
  EXPECT_THAT(*w1.ToVector<double>(), ElementsAre(DoubleNear(1 - 0.5 * 0.25, kTol)));
  EXPECT_THAT(*w2.ToVector<double>(), ElementsAre(DoubleNear(1 - 1.0 * 1.25, kTol)));
}

TEST(OptimizerTest, BadArgumentsAreInvalidArgument) {
  struct Bad {
    std::string name;
    Params params;
    std::string mentions;
  };
  const Bad cases[] = {
      {"adamw", {}, "adamw"},
      {"sgd", {{"beta1", "0.9"}}, "beta1"},
      {"adam", {{"momentum", "0.9"}}, "momentum"},
      {"adagrad", {{"epsilon", "1e-7"}}, "epsilon"},  // AdaGrad's is `eps`
      {"sgd", {{"learning_rate", "fast"}}, "fast"},
      {"sgd", {{"learning_rate", ""}}, "learning_rate"},
      {"sgd", {{"wd", "nan"}}, "wd"},
      {"rmsprop", {{"centered", "maybe"}}, "centered"},
      {"adam", {{"begin_num_update", "-1"}}, "begin_num_update"},
      {"adam", {{"begin_num_update", "1.5"}}, "begin_num_update"},
      {"adam", {{"beta1", "1"}}, "beta1"},
      {"unknown" + std::string(20000, 'x'), {}, "(20007 bytes)"},
      {"sgd", {{std::string(20000, 'k'), "1"}}, "(20000 bytes)"},
      {"sgd", {{"learning_rate", std::string(20000, '9') + "x"}}, "(20001 bytes)"},
  };
  for (const Bad& bad : cases) {
    absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(bad.name, bad.params);
    ASSERT_FALSE(opt.ok()) << bad.mentions;
    EXPECT_EQ(opt.status().code(), absl::StatusCode::kInvalidArgument) << opt.status();
    EXPECT_THAT(opt.status().message(), HasSubstr(bad.mentions));
  }
  OptimizerOptions options;
  options.begin_num_update = -2;
  EXPECT_EQ(Optimizer::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OptimizerTest, HyperparametersOutsideTheirRangeAreRefused) {
  struct Bad {
    std::string name;
    Params params;
    std::string mentions;
  };
  const Bad cases[] = {
      {"adam",
       {{"learning_rate", "-1"}},
       "optimizer adam: learning_rate = -1 is invalid; it must be finite and >= 0"},
      {"sgd", {{"learning_rate", "-0.001"}}, "learning_rate"},
      {"sgd", {{"learning_rate", "inf"}}, "learning_rate"},
      {"nag", {{"wd", "-0.1"}}, "wd = -0.1 is invalid; it must be finite and >= 0"},
      {"rmsprop", {{"rescale_grad", "nan"}}, "rescale_grad"},
      {"sgd", {{"clip_gradient", "inf"}}, "clip_gradient"},
      {"sgd", {{"momentum", "-0.5"}}, "momentum = -0.5 is invalid; it must be in [0, 1)"},
      {"sgd", {{"momentum", "1"}}, "momentum"},
      {"nag", {{"momentum", "1.5"}}, "momentum"},
      {"adam", {{"beta1", "1.5"}}, "beta1 = 1.5 is invalid; it must be in [0, 1)"},
      {"adam", {{"beta1", "-0.1"}}, "beta1"},
      {"adam", {{"beta2", "1"}}, "beta2"},
      {"adam", {{"epsilon", "0"}}, "epsilon = 0 is invalid; it must be finite and > 0"},
      {"rmsprop", {{"epsilon", "-1e-8"}}, "epsilon"},
      {"rmsprop", {{"gamma1", "2"}}, "gamma1 = 2 is invalid; it must be in [0, 1)"},
      {"rmsprop", {{"gamma2", "-0.5"}, {"centered", "True"}}, "gamma2"},
      {"rmsprop", {{"clip_weights", "-inf"}}, "clip_weights"},
      {"adagrad", {{"eps", "0"}}, "eps = 0 is invalid; it must be finite and > 0"},
      {"adagrad", {{"learning_rate", "-3"}}, "optimizer adagrad: learning_rate"},
  };
  for (const Bad& bad : cases) {
    absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(bad.name, bad.params);
    ASSERT_FALSE(opt.ok()) << bad.mentions;
    EXPECT_EQ(opt.status().code(), absl::StatusCode::kInvalidArgument) << opt.status();
    EXPECT_THAT(opt.status().message(), HasSubstr(bad.mentions));
  }
  // The edges of the ranges, and a negative clip_gradient (no clipping), are accepted.
  EXPECT_NE(Make("sgd", {{"learning_rate", "0"}, {"momentum", "0"}, {"wd", "0"},
                         {"clip_gradient", "-1"}, {"rescale_grad", "-2"}}), nullptr);
  EXPECT_NE(Make("adam", {{"beta1", "0"}, {"beta2", "0.9999999"}, {"epsilon", "1e-30"}}),
            nullptr);
  EXPECT_NE(Make("rmsprop", {{"gamma1", "0"}, {"gamma2", "0.99"}, {"clip_weights", "-1"}}),
            nullptr);
  // Options built in code go through the same checks; unused fields are not checked.
  OptimizerOptions options;
  options.kind = OptimizerKind::kAdam;
  options.learning_rate = -1;
  EXPECT_EQ(Optimizer::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.learning_rate = 0.1;
  options.momentum = 7;  // adam has no momentum
  EXPECT_TRUE(Optimizer::Create(options).ok());
  options.kind = OptimizerKind::kSGD;
  EXPECT_EQ(Optimizer::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OptimizerTest, AcceptsMxnetSpellings) {
  EXPECT_NE(Make("SGD", {{"lazy_update", "False"}, {"multi_precision", "true"},
                         {"clip_gradient", "None"}}), nullptr);
  EXPECT_NE(Make("RMSProp", {{"centered", "1"}, {"clip_weights", "None"}}), nullptr);
  EXPECT_NE(Make("AdaGrad", {{"eps", "1e-7"}}), nullptr);
}

TEST(OptimizerTest, BadArraysFailWithoutChangingState) {
  auto opt = Make("adam", {});
  NDArray w = F32({1, 2});
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(opt->Update(0, w, F32({1, 2, 3})).code(), invalid);  // shape
  NDArray g64 = *NDArray::FromVector<double>({2}, std::vector<double>{1, 2});
  EXPECT_EQ(opt->Update(0, w, g64).code(), invalid);  // dtype
  std::vector<int32_t> ints = {1, 2};
  NDArray wi = *NDArray::FromVector<int32_t>({2}, ints);
  absl::Status s = opt->Update(0, wi, wi);
  EXPECT_EQ(s.code(), invalid);
  EXPECT_THAT(s.message(), HasSubstr("int32"));
  EXPECT_EQ(opt->Update(0, w, NDArray()).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(opt->UpdateCount(0), 0);
  // The index's state now has shape (2,): a (3,) weight under the same index is refused.
  ASSERT_TRUE(opt->Update(0, w, F32({1, 1})).ok());
  s = opt->Update(0, F32({1, 2, 3}), F32({1, 1, 1}));
  EXPECT_EQ(s.code(), invalid);
  EXPECT_THAT(s.message(), HasSubstr("(2,)"));
  EXPECT_EQ(opt->UpdateCount(0), 1);
  EXPECT_TRUE(w.WaitToRead().ok());
}

TEST(OptimizerTest, ConcurrentUpdatesAreAllApplied) {
  auto opt = Make("sgd", {{"learning_rate", "1"}});
  NDArray shared = F32({0});
  std::vector<NDArray> own;
  for (int t = 0; t < 4; ++t) own.push_back(F32({0}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      NDArray g = F32({1});
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(opt->Update(100, shared, g).ok());
        EXPECT_TRUE(opt->Update(t, own[t], g).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(*shared.ToVector<double>(), ElementsAre(-200));
  for (const NDArray& a : own) EXPECT_THAT(*a.ToVector<double>(), ElementsAre(-50));
  EXPECT_EQ(opt->UpdateCount(100), 200);
}

// ---- testdata/optimizer_golden.txt: real MXNet 1.9.1, replayed ----

std::vector<double> ReadValues(std::istringstream& in) {
  std::vector<double> v;
  for (double x; in >> x;) v.push_back(x);
  return v;
}

NDArray MakeArray(const std::string& dtype, const std::vector<double>& v) {
  const Shape shape{static_cast<int64_t>(v.size())};
  if (dtype == "float64") return *NDArray::FromVector<double>(shape, v);
  std::vector<float> f(v.begin(), v.end());
  return *NDArray::FromVector<float>(shape, f);
}

TEST(OptimizerTest, NameAndParamsAreThoseItWasCreatedFrom) {
  auto opt = Make("Adam", {{"learning_rate", "0.5"}, {"beta1", "0.8"}});
  EXPECT_EQ(opt->name(), "adam");
  EXPECT_THAT(opt->params(), ::testing::ElementsAre(::testing::Pair("beta1", "0.8"),
                                                    ::testing::Pair("learning_rate", "0.5")));
  EXPECT_EQ(opt->NumStateArrays(), 2u);
  EXPECT_EQ(Make("sgd", {})->NumStateArrays(), 0u);
  EXPECT_EQ(Make("sgd", {{"momentum", "0.9"}})->NumStateArrays(), 1u);
  EXPECT_EQ(Make("rmsprop", {{"centered", "True"}})->NumStateArrays(), 3u);
}

// Two Adam steps on index 3 and one on index 1, exported, imported into a fresh optimizer:
// the next step of both gives the same weights (state arrays and bias-correction counts).
TEST(OptimizerTest, ExportImportRoundTripContinuesIdentically) {
  const Params params = {{"learning_rate", "0.1"}};
  auto a = Make("adam", params);
  NDArray w3 = F32({1, -2}), w1 = F32({0.5});
  ASSERT_TRUE(a->Update(3, w3, F32({0.3f, -1})).ok());
  ASSERT_TRUE(a->Update(3, w3, F32({0.1f, 2})).ok());
  ASSERT_TRUE(a->Update(1, w1, F32({4})).ok());
  absl::StatusOr<std::vector<OptimizerIndexState>> states = a->ExportStates();
  ASSERT_TRUE(states.ok()) << states.status();
  ASSERT_EQ(states->size(), 2u);
  EXPECT_EQ((*states)[0].index, 1);
  EXPECT_EQ((*states)[0].update_count, 1);
  EXPECT_EQ((*states)[1].index, 3);
  EXPECT_EQ((*states)[1].update_count, 2);
  ASSERT_EQ((*states)[1].arrays.size(), 2u);
  // The export is a copy: a later update does not change it.
  const std::vector<float> mean_before = *(*states)[1].arrays[0].ToVector<float>();

  auto b = Make("adam", params);
  ASSERT_TRUE(b->ImportState((*states)[0], Shape{1}, DType::kFloat32).ok());
  ASSERT_TRUE(b->ImportState((*states)[1], Shape{2}, DType::kFloat32).ok());
  EXPECT_EQ(b->UpdateCount(3), 2);
  NDArray v3 = *w3.CopyTo(Context::Cpu());
  ASSERT_TRUE(a->Update(3, w3, F32({-0.5f, 0.25f})).ok());
  ASSERT_TRUE(b->Update(3, v3, F32({-0.5f, 0.25f})).ok());
  EXPECT_EQ(*w3.ToVector<float>(), *v3.ToVector<float>());
  EXPECT_EQ(*(*states)[1].arrays[0].ToVector<float>(), mean_before);
}

TEST(OptimizerTest, SgdMomentumStateImportsAndBadStatesAreRefused) {
  auto opt = Make("sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}});
  OptimizerIndexState state{0, 5, {F32({1, -1})}};
  ASSERT_TRUE(opt->ImportState(state, Shape{2}, DType::kFloat32).ok());
  NDArray w = F32({0, 0});
  ASSERT_TRUE(opt->Update(0, w, F32({0, 0})).ok());  // mom = 0.9 mom
  EXPECT_THAT(*w.ToVector<float>(), ElementsAre(0.9f, -0.9f));
  EXPECT_EQ(opt->UpdateCount(0), 6);

  auto code = [&](const OptimizerIndexState& s, Shape shape, DType dtype) {
    return opt->ImportState(s, shape, dtype).code();
  };
  EXPECT_EQ(code({0, 0, {}}, Shape{2}, DType::kFloat32), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({0, 0, {F32({1, 2}), F32({1, 2})}}, Shape{2}, DType::kFloat32),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({0, 0, {F32({1, 2, 3})}}, Shape{2}, DType::kFloat32),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({0, 0, {F32({1, 2})}}, Shape{2}, DType::kFloat64),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({0, -1, {F32({1, 2})}}, Shape{2}, DType::kFloat32),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({0, 0, {NDArray()}}, Shape{2}, DType::kFloat32),
            absl::StatusCode::kFailedPrecondition);
  // The refused imports left the state alone.
  absl::StatusOr<std::vector<OptimizerIndexState>> states = opt->ExportStates();
  ASSERT_TRUE(states.ok());
  ASSERT_EQ(states->size(), 1u);
  EXPECT_EQ((*states)[0].update_count, 6);
  EXPECT_THAT(*(*states)[0].arrays[0].ToVector<float>(), ElementsAre(0.9f, -0.9f));
}

TEST(OptimizerGoldenTest, MatchesMxnet) {
  std::ifstream file("libs/kvstore/testdata/optimizer_golden.txt");
  ASSERT_TRUE(file.is_open()) << "missing data dependency testdata/optimizer_golden.txt";
  std::string label, dtype;
  std::unique_ptr<Optimizer> opt;
  std::map<int, NDArray> weights;
  int cases = 0, checks = 0;
  double worst = 0;
  for (std::string line; std::getline(file, line);) {
    std::istringstream in(line);
    std::string tag;
    if (!(in >> tag) || tag[0] == '#') continue;
    if (tag == "case") {
      std::string name;
      in >> label >> dtype >> name;
      Params params;
      for (std::string kv; in >> kv;) {
        const size_t eq = kv.find('=');
        ASSERT_NE(eq, std::string::npos) << line;
        params[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      absl::StatusOr<std::unique_ptr<Optimizer>> created = Optimizer::Create(name, params);
      ASSERT_TRUE(created.ok()) << label << ": " << created.status();
      opt = std::move(*created);
      weights.clear();
      ++cases;
      continue;
    }
    if (tag == "end") continue;
    int index;
    ASSERT_TRUE(in >> index) << line;
    const std::vector<double> values = ReadValues(in);
    ASSERT_NE(opt, nullptr) << line;
    if (tag == "weight") {
      weights[index] = MakeArray(dtype, values);
    } else if (tag == "step") {
      ASSERT_TRUE(opt->Update(index, weights.at(index), MakeArray(dtype, values)).ok());
    } else if (tag == "expect") {
      std::vector<double> got = *weights.at(index).ToVector<double>();
      ASSERT_EQ(got.size(), values.size()) << label;
      for (size_t i = 0; i < got.size(); ++i) {
        const double err = std::abs(got[i] - values[i]) / std::max(std::abs(values[i]), 1e-2);
        worst = std::max(worst, err);
        EXPECT_LE(err, 1e-5) << label << " index " << index << " element " << i << ": got "
                             << got[i] << ", MXNet " << values[i];
        ++checks;
      }
    } else {
      FAIL() << "unknown record: " << line;
    }
  }
  EXPECT_GE(cases, 20);
  EXPECT_GE(checks, 300);
  std::cout << cases << " MXNet cases, " << checks << " values, worst relative error " << worst
            << "\n";
}

}  // namespace
}  // namespace mxgrid::kvstore
