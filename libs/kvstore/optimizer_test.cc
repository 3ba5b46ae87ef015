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

namespace mxgrid::kvstore {
namespace {

using tensor::NDArray;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Params = std::map<std::string, std::string>;

std::unique_ptr<Optimizer> Make(const std::string& name, const Params& params) {
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(name, params);
  EXPECT_TRUE(opt.ok()) << opt.status();
  return opt.ok() ? std::move(*opt) : nullptr;
}

NDArray F32(std::vector<float> v) {
  return *NDArray::FromVector<float>({static_cast<int64_t>(v.size())}, v);
}

// Applies `grads` in turn to a float32 weight starting at `w0` (index 0); returns the weight.
std::vector<double> Apply(Optimizer* opt, std::vector<float> w0,
                        const std::vector<std::vector<float>>& grads) {
  NDArray w = F32(w0);
  for (const auto& g : grads) EXPECT_TRUE(opt->Update(0, w, F32(g)).ok());
  return *w.ToVector<double>();
}

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

// ---- UpdateRows: row_sparse gradients ----

// An array of `shape` and `dtype` (float32 or float64) holding `v` in row-major order.
NDArray Arr(DType dtype, const Shape& shape, const std::vector<double>& v) {
  if (dtype == DType::kFloat64) return *NDArray::FromVector<double>(shape, v);
  std::vector<float> f(v.begin(), v.end());
  return *NDArray::FromVector<float>(shape, f);
}

NDArray Ids(const std::vector<int64_t>& ids) {
  return *NDArray::FromVector<int64_t>({static_cast<int64_t>(ids.size())}, ids);
}

Shape WithRows(Shape shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}

// `shape`'s dense gradient: `g` (k rows) in rows `rows`, zeros elsewhere.
std::vector<double> Densify(const Shape& shape, const std::vector<int64_t>& rows,
                            const std::vector<double>& g) {
  const int64_t cols = shape.Size() / shape[0];
  std::vector<double> dense(shape.Size(), 0.0);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int64_t j = 0; j < cols; ++j) dense[rows[i] * cols + j] = g[i * cols + j];
  }
  return dense;
}

// Gradient rows of call `call`: magnitudes 0.5 to 3.5, alternating signs (some clipped).
std::vector<double> GradRows(size_t values, int call) {
  std::vector<double> g(values);
  for (size_t e = 0; e < values; ++e) {
    g[e] = (e % 2 ? -1.0 : 1.0) * (0.5 + 0.75 * static_cast<double>(e % 5)) + 0.25 * call;
  }
  return g;
}

std::vector<double> InitialWeight(const Shape& shape) {
  std::vector<double> w(shape.Size());
  for (size_t e = 0; e < w.size(); ++e) w[e] = 0.25 * static_cast<double>(e % 7) - 0.625;
  return w;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double rel,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], rel * std::max(1.0, std::abs(want[i])))
        << what << " element " << i;
  }
}

// Hyperparameters of the reference below; the defaults are exact in float (MXNet's operator
// parameters are float), so float64 results agree with it to rounding.
struct Hyper {
  double lr = 0.125, wd = 0.0625, rescale = 0.5;
  double clip = 0.75;  // <= 0: no clipping
  double momentum = 0, beta1 = 0.875, beta2 = 0.984375, epsilon = 1e-8, eps = 1e-7;
  double lr_mult = 2, wd_mult = 0.5;  // of the index the checks update
};

// MXNet's lazy row_sparse updates, written out in double from optimizer.py's formulas and
// the row_sparse kernels (sgd_update, sgd_mom_update, adam_update, _sparse_adagrad_update):
// only the listed rows of the weight and of the states move; t counts every call.
class LazyReference {
 public:
  LazyReference(std::string kind, const Hyper& h, std::vector<double> w, int64_t cols)
      : kind_(std::move(kind)), h_(h), cols_(cols), w_(std::move(w)) {
    const size_t states = kind_ == "adam" ? 2 : (kind_ == "sgd" && h.momentum == 0) ? 0 : 1;
    states_.assign(states, std::vector<double>(w_.size(), 0.0));
  }

  void Step(const std::vector<int64_t>& rows, const std::vector<double>& g) {
    ++t_;
    const double lr = h_.lr * h_.lr_mult, wd = h_.wd * h_.wd_mult;
    // Adam's bias-corrected rate, passed to the operator as a float.
    const double lr_t = static_cast<float>(lr * std::sqrt(1 - std::pow(h_.beta2, t_)) /
                                           (1 - std::pow(h_.beta1, t_)));
    for (size_t i = 0; i < rows.size(); ++i) {
      for (int64_t j = 0; j < cols_; ++j) {
        const size_t e = rows[i] * cols_ + j;
        const double gi = g[i * cols_ + j];
        double& w = w_[e];
        if (kind_ == "sgd") {
          const double gr = Clip(h_.rescale * gi);
          if (h_.momentum > 0) {
            double& mom = states_[0][e];
            mom = h_.momentum * mom - lr * wd * w - lr * gr;
            w += mom;
          } else {
            w -= lr * (gr + wd * w);
          }
        } else if (kind_ == "adam") {
          const double gr = Clip(h_.rescale * gi + wd * w);
          double& mean = states_[0][e];
          double& var = states_[1][e];
          mean = h_.beta1 * mean + (1 - h_.beta1) * gr;
          var = h_.beta2 * var + (1 - h_.beta2) * gr * gr;
          w -= lr_t * mean / (std::sqrt(var) + h_.epsilon);
        } else {  // adagrad: no weight decay
          const double gr = Clip(h_.rescale * gi);
          double& history = states_[0][e];
          history += gr * gr;
          w -= lr * gr / std::sqrt(history + h_.eps);
        }
      }
    }
  }

  const std::vector<double>& weight() const { return w_; }
  const std::vector<std::vector<double>>& states() const { return states_; }

 private:
  double Clip(double x) const { return h_.clip > 0 ? std::max(-h_.clip, std::min(h_.clip, x)) : x; }

  std::string kind_;
  Hyper h_;
  int64_t cols_;
  int64_t t_ = 0;
  std::vector<double> w_;
  std::vector<std::vector<double>> states_;
};

// UpdateRows calls on index 5 of a weight of `shape` — rows {0, 2}, none, {1, 2} — checked
// against LazyReference; row 3, never listed, keeps its weight and zero state exactly.
void CheckLazyRows(const std::string& name, const Params& params, const Hyper& h,
                   const Shape& shape, DType dtype) {
  SCOPED_TRACE(absl::StrCat(name, " ", DTypeName(dtype), " ", shape.ToString()));
  auto opt = Make(name, params);
  ASSERT_NE(opt, nullptr);
  opt->SetLrMult(5, h.lr_mult);
  opt->SetWdMult(5, h.wd_mult);
  const int64_t cols = shape.Size() / shape[0];
  const std::vector<double> w0 = InitialWeight(shape);
  LazyReference ref(name, h, w0, cols);
  NDArray w = Arr(dtype, shape, w0);
  const std::vector<std::vector<int64_t>> calls = {{0, 2}, {}, {1, 2}};
  for (size_t c = 0; c < calls.size(); ++c) {
    const std::vector<int64_t>& rows = calls[c];
    const std::vector<double> g = GradRows(rows.size() * cols, static_cast<int>(c));
    const absl::Status s =
        opt->UpdateRows(5, w, Ids(rows), Arr(dtype, WithRows(shape, rows.size()), g));
    ASSERT_TRUE(s.ok()) << s;
    ref.Step(rows, g);
  }
  EXPECT_EQ(opt->UpdateCount(5), 3);
  const double tol = dtype == DType::kFloat32 ? 1e-5 : 1e-12;
  const std::vector<double> got = *w.ToVector<double>();
  ExpectNear(got, ref.weight(), tol, "weight");
  absl::StatusOr<std::vector<OptimizerIndexState>> states = opt->ExportStates();
  ASSERT_TRUE(states.ok()) << states.status();
  ASSERT_EQ(states->size(), 1u);
  ASSERT_EQ((*states)[0].arrays.size(), ref.states().size());
  for (size_t i = 0; i < ref.states().size(); ++i) {
    const std::vector<double> state = *(*states)[0].arrays[i].ToVector<double>();
    ExpectNear(state, ref.states()[i], tol, absl::StrCat("state ", i));
    for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(state[3 * cols + j], 0.0) << "state " << i;
  }
  const std::vector<double> start = *Arr(dtype, shape, w0).ToVector<double>();
  for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(got[3 * cols + j], start[3 * cols + j]);
}

const Params kSgdRowParams = {{"learning_rate", "0.125"}, {"wd", "0.0625"},
                              {"rescale_grad", "0.5"}, {"clip_gradient", "0.75"}};

TEST(OptimizerRowsTest, SgdLazyRowsMatchFormula) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    CheckLazyRows("sgd", kSgdRowParams, Hyper{}, Shape{4, 3}, dtype);
    Params momentum = kSgdRowParams;
    momentum["momentum"] = "0.875";
    Hyper h;
    h.momentum = 0.875;
    CheckLazyRows("sgd", momentum, h, Shape{4, 3}, dtype);
    CheckLazyRows("sgd", momentum, h, Shape{4, 3, 2}, dtype);  // a row of 6 values
    Params unclipped = momentum;
    unclipped.erase("clip_gradient");
    h.clip = 0;
    CheckLazyRows("sgd", unclipped, h, Shape{4, 3}, dtype);
  }
}

TEST(OptimizerRowsTest, AdamLazyRowsMatchFormula) {
  Params params = kSgdRowParams;
  params["beta1"] = "0.875";
  params["beta2"] = "0.984375";
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    CheckLazyRows("adam", params, Hyper{}, Shape{4, 3}, dtype);
    Params unclipped = params;
    unclipped["lazy_update"] = "True";
    unclipped["clip_gradient"] = "None";
    Hyper h;
    h.clip = 0;
    CheckLazyRows("adam", unclipped, h, Shape{4, 2, 2}, dtype);
  }
}

TEST(OptimizerRowsTest, AdaGradRowsMatchSparseAdaGradFormula) {
  const Params params = {{"learning_rate", "0.125"}, {"rescale_grad", "0.5"},
                         {"clip_gradient", "0.75"}};
  Hyper h;
  h.wd = 0;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    CheckLazyRows("adagrad", params, h, Shape{4, 3}, dtype);
    // clip_gradient=0 is falsy in MXNet's Python: the sparse operator does not clip (the
    // dense AdaGrad update would clip to [0, 0]).
    Params zero = params;
    zero["clip_gradient"] = "0";
    Hyper unclipped = h;
    unclipped.clip = 0;
    CheckLazyRows("adagrad", zero, unclipped, Shape{4, 3}, dtype);
  }
}

// nag, rmsprop, and sgd / adam with lazy_update=False: exactly Update with the densified
// gradient on a twin optimizer and weight (including the call with no rows).
TEST(OptimizerRowsTest, StandardUpdateEqualsUpdateWithDensifiedGradient) {
  const std::vector<std::pair<std::string, Params>> cases = {
      {"sgd", {{"learning_rate", "0.125"}, {"momentum", "0.875"}, {"wd", "0.0625"},
               {"clip_gradient", "0.75"}, {"lazy_update", "False"}}},
      {"sgd", {{"learning_rate", "0.125"}, {"wd", "0.0625"}, {"lazy_update", "False"}}},
      {"adam", {{"learning_rate", "0.125"}, {"wd", "0.0625"}, {"clip_gradient", "0.75"},
                {"lazy_update", "False"}}},
      {"nag", {{"learning_rate", "0.125"}, {"momentum", "0.875"}, {"wd", "0.0625"}}},
      {"rmsprop", {{"learning_rate", "0.125"}, {"wd", "0.0625"}}},
      {"rmsprop", {{"learning_rate", "0.125"}, {"wd", "0.0625"}, {"centered", "True"},
                   {"clip_weights", "0.5"}}},
  };
  const Shape shape{4, 3};
  const std::vector<double> w0 = InitialWeight(shape);
  for (const auto& [name, params] : cases) {
    SCOPED_TRACE(name + " " + absl::StrJoin(params, ",", absl::PairFormatter("=")));
    auto rows_opt = Make(name, params);
    auto dense_opt = Make(name, params);
    ASSERT_NE(rows_opt, nullptr);
    ASSERT_NE(dense_opt, nullptr);
    rows_opt->SetLrMult(2, 2.0);
    dense_opt->SetLrMult(2, 2.0);
    NDArray rows_w = Arr(DType::kFloat32, shape, w0);
    NDArray dense_w = Arr(DType::kFloat32, shape, w0);
    const std::vector<std::vector<int64_t>> calls = {{0, 2}, {}, {1, 2}};
    for (size_t c = 0; c < calls.size(); ++c) {
      const std::vector<int64_t>& rows = calls[c];
      const std::vector<double> g = GradRows(rows.size() * 3, static_cast<int>(c));
      ASSERT_TRUE(rows_opt
                      ->UpdateRows(2, rows_w, Ids(rows),
                                   Arr(DType::kFloat32, WithRows(shape, rows.size()), g))
                      .ok());
      ASSERT_TRUE(
          dense_opt->Update(2, dense_w, Arr(DType::kFloat32, shape, Densify(shape, rows, g)))
              .ok());
    }
    const std::vector<float> got = *rows_w.ToVector<float>();
    EXPECT_EQ(got, *dense_w.ToVector<float>());
    EXPECT_EQ(rows_opt->UpdateCount(2), 3);
    // A dense update: row 3, never in the gradient, moved too (weight decay).
    EXPECT_NE(got[9], static_cast<float>(w0[9]));
    absl::StatusOr<std::vector<OptimizerIndexState>> a = rows_opt->ExportStates();
    absl::StatusOr<std::vector<OptimizerIndexState>> b = dense_opt->ExportStates();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), 1u);
    ASSERT_EQ(b->size(), 1u);
    ASSERT_EQ((*a)[0].arrays.size(), (*b)[0].arrays.size());
    for (size_t i = 0; i < (*a)[0].arrays.size(); ++i) {
      EXPECT_EQ(*(*a)[0].arrays[i].ToVector<float>(), *(*b)[0].arrays[i].ToVector<float>());
    }
  }
}

TEST(OptimizerRowsTest, UpdateCountCountsEveryCallIncludingEmptyOnes) {
  for (const std::string name : {"sgd", "adam", "adagrad", "nag"}) {
    SCOPED_TRACE(name);
    auto opt = Make(name, {{"begin_num_update", "10"}});
    ASSERT_NE(opt, nullptr);
    NDArray w = F32({1, 2, 3, 4});
    NDArray none = *NDArray::Empty({0}, Context::Cpu(), DType::kFloat32);
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({}), none).ok());
    EXPECT_EQ(opt->UpdateCount(0), 11);
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({}), none).ok());
    EXPECT_EQ(opt->UpdateCount(0), 12);
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({1}), F32({0.5})).ok());
    EXPECT_EQ(opt->UpdateCount(0), 13);
    // Only row 1 had a gradient; with wd 0 every other weight stays.
    const std::vector<float> got = *w.ToVector<float>();
    EXPECT_EQ(got[0], 1);
    EXPECT_NE(got[1], 2);
    EXPECT_EQ(got[2], 3);
    EXPECT_EQ(got[3], 4);
  }
}

TEST(OptimizerRowsTest, LazyUpdateIsAnOption) {
  EXPECT_TRUE(ParseOptimizerOptions("sgd", {})->lazy_update);
  EXPECT_TRUE(ParseOptimizerOptions("adam", {{"lazy_update", "True"}})->lazy_update);
  EXPECT_FALSE(ParseOptimizerOptions("SGD", {{"lazy_update", "False"}})->lazy_update);
  EXPECT_FALSE(ParseOptimizerOptions("adam", {{"lazy_update", "0"}})->lazy_update);
  EXPECT_EQ(ParseOptimizerOptions("sgd", {{"lazy_update", "maybe"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOptimizerOptions("nag", {{"lazy_update", "False"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Dense updates ignore it.
  auto lazy = Make("sgd", {{"momentum", "0.5"}, {"wd", "0.25"}});
  auto eager = Make("sgd", {{"momentum", "0.5"}, {"wd", "0.25"}, {"lazy_update", "False"}});
  EXPECT_EQ(Apply(lazy.get(), {1, -2}, {{0.5, 1}, {1, 0}}),
            Apply(eager.get(), {1, -2}, {{0.5, 1}, {1, 0}}));
}

TEST(OptimizerRowsTest, BadRowArgumentsFailAndChangeNothing) {
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  const absl::StatusCode none = absl::StatusCode::kFailedPrecondition;
  std::vector<int32_t> int32_ids = {0};
  std::vector<int64_t> two_d_ids = {0};
  std::vector<int32_t> int32_values(12, 1);
  const NDArray g1 = Arr(DType::kFloat32, {1, 3}, {1, 2, 3});
  struct Bad {
    std::string what;
    NDArray weight;  // none: the (4, 3) float32 weight of the test
    NDArray rows;
    NDArray grad_rows;
    absl::StatusCode code;
    std::string mentions;
  };
  const std::vector<Bad> cases = {
      {"int32 rows", {}, *NDArray::FromVector<int32_t>({1}, int32_ids), g1, invalid, "int64"},
      {"2-d rows", {}, *NDArray::FromVector<int64_t>({1, 1}, two_d_ids), g1, invalid, "1-D"},
      {"short rows", {}, Ids({0}), Arr(DType::kFloat32, {1, 2}, {1, 2}), invalid, "(1, 3)"},
      {"k mismatch", {}, Ids({0, 1}), g1, invalid, "(2, 3)"},
      {"flat grad", {}, Ids({0}), F32({1, 2, 3}), invalid, "(1, 3)"},
      {"float64 grad", {}, Ids({0}), Arr(DType::kFloat64, {1, 3}, {1, 2, 3}), invalid,
       "float64"},
      {"grad on cpu(1)", {}, Ids({0}),
       *NDArray::FromVector<float>({1, 3}, std::vector<float>{1, 2, 3}, Context::Cpu(1)),
       invalid, "cpu(1)"},
      {"int32 weight", *NDArray::FromVector<int32_t>({4, 3}, int32_values), Ids({0}),
       *NDArray::FromVector<int32_t>({1, 3}, std::vector<int32_t>{1, 2, 3}), invalid, "int32"},
      {"0-d weight", *NDArray::FromVector<float>(Shape{}, std::vector<float>{1}), Ids({}),
       F32({}), invalid, "0-d"},
      {"none rows", {}, NDArray(), g1, none, "row ids"},
      {"none grad", {}, Ids({0}), NDArray(), none, "gradient rows"},
      {"id out of range", {}, Ids({1, 4}), Arr(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
       invalid, "row id 4 (position 1) is out of range [0, 4)"},
      {"negative id", {}, Ids({-1}), g1, invalid, "row id -1"},
      {"decreasing ids", {}, Ids({2, 1}), Arr(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
       invalid, "id 1 (position 1) follows 2"},
      {"repeated id", {}, Ids({1, 1}), Arr(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
       invalid, "strictly increasing"},
      {"weight unlike the state", Arr(DType::kFloat32, {5, 3}, std::vector<double>(15, 1)),
       Ids({0}), g1, invalid, "(4, 3)"},
  };
  // adam: the lazy path; nag: the densified one.
  for (const std::string name : {"adam", "nag"}) {
    SCOPED_TRACE(name);
    auto opt = name == "nag" ? Make(name, {{"momentum", "0.5"}}) : Make(name, {});
    ASSERT_NE(opt, nullptr);
    NDArray w = Arr(DType::kFloat32, {4, 3}, InitialWeight(Shape{4, 3}));
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({1}), g1).ok());
    const std::vector<float> w_before = *w.ToVector<float>();
    absl::StatusOr<std::vector<OptimizerIndexState>> before = opt->ExportStates();
    ASSERT_TRUE(before.ok());
    for (const Bad& bad : cases) {
      const NDArray& weight = bad.weight.is_none() ? w : bad.weight;
      for (int index : {0, 9}) {  // an index with state and one without
        if (bad.what == "weight unlike the state" && index == 9) continue;
        absl::Status s = opt->UpdateRows(index, weight, bad.rows, bad.grad_rows);
        EXPECT_EQ(s.code(), bad.code) << bad.what << ": " << s;
        EXPECT_THAT(s.message(), HasSubstr(bad.mentions)) << bad.what;
      }
    }
    absl::Status s = opt->UpdateRows(0, NDArray(), Ids({0}), g1);
    EXPECT_EQ(s.code(), none);
    EXPECT_THAT(s.message(), HasSubstr("weight"));
    // Nothing changed: weight, state, counts; index 9 has no state.
    EXPECT_EQ(*w.ToVector<float>(), w_before);
    EXPECT_EQ(opt->UpdateCount(0), 1);
    EXPECT_EQ(opt->UpdateCount(9), 0);
    absl::StatusOr<std::vector<OptimizerIndexState>> after = opt->ExportStates();
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), before->size());
    for (size_t i = 0; i < after->size(); ++i) {
      EXPECT_EQ((*after)[i].index, (*before)[i].index);
      EXPECT_EQ((*after)[i].update_count, (*before)[i].update_count);
      for (size_t j = 0; j < (*after)[i].arrays.size(); ++j) {
        EXPECT_EQ(*(*after)[i].arrays[j].ToVector<float>(),
                  *(*before)[i].arrays[j].ToVector<float>());
      }
    }
  }
}

TEST(OptimizerRowsTest, AdaGradRowsRefuseWeightDecay) {
  auto opt = Make("adagrad", {{"learning_rate", "0.1"}, {"wd", "0.01"}});
  NDArray w = F32({1, 2, 3});
  absl::Status s = opt->UpdateRows(0, w, Ids({1}), F32({1}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("weight decay"));
  EXPECT_EQ(opt->UpdateCount(0), 0);
  EXPECT_TRUE(opt->ExportStates()->empty());
  EXPECT_THAT(*w.ToVector<float>(), ElementsAre(1, 2, 3));
  // MXNet passes wd * wd_mult to the operator: a key with wd_mult 0 is updated.
  opt->SetWdMult(0, 0.0);
  ASSERT_TRUE(opt->UpdateRows(0, w, Ids({1}), F32({1})).ok());
  // h = 1, w = 2 - 0.1 * 1 / sqrt(1 + 1e-7)
  EXPECT_THAT(*w.ToVector<double>(), ElementsAre(1, DoubleNear(1.9, 1e-6), 3));
  EXPECT_EQ(opt->UpdateCount(0), 1);
}

}  // namespace
}  // namespace mxgrid::kvstore
