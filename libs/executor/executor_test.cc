// Executor behaviour against hand-computed values: the tutorial's bind, simple_bind training
// of an MLP, grad_req write/add/null, Dropout and BatchNorm train/inference modes, Reshape
// (shrinking views, up-sizing, partial shaping) and independent branches run repeatedly.
// Errors are in executor_errors_test.cc.
#include "libs/executor/executor.h"

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using graph::Symbol;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> RandomValues(size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

NDArray Array(const Shape& shape, const std::vector<float>& values) {
  absl::StatusOr<NDArray> a = NDArray::FromVector<float>(shape, values);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : NDArray();
}

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>();
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float tol,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol + tol * std::abs(want[i])) << what << " element " << i;
  }
}

void Set(const NDArray& a, const std::vector<float>& values) {
  ASSERT_TRUE(a.CopyFromHost(values.data(), values.size() * sizeof(float)).ok());
}

class ExecutorTest : public ::testing::Test {
 protected:
  Symbol Op(const std::string& op, ops::AttrMap attrs, Symbol::Inputs in,
            const std::string& name = "") {
    absl::StatusOr<Symbol> s =
        Symbol::Create(ops::GlobalRegistry(), op, attrs, in, name, &names_);
    EXPECT_TRUE(s.ok()) << op << ": " << s.status();
    return s.ok() ? *s : Symbol();
  }
  Symbol Fc(const Symbol& data, int hidden, const std::string& name) {
    return Op("FullyConnected", {{"num_hidden", absl::StrCat(hidden)}}, {{}, {{"data", data}}},
              name);
  }
  // data (N, 20) -> fc1 16 -> relu -> fc2 5 -> SoftmaxOutput.
  Symbol Mlp() {
    Symbol net = Fc(Symbol::Variable("data"), 16, "fc1");
    net = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", net}}}, "relu1");
    return Op("SoftmaxOutput", {}, {{}, {{"data", Fc(net, 5, "fc2")}}}, "softmax");
  }
  std::unique_ptr<Executor> SimpleBindOrDie(const Symbol& s,
                                            const std::map<std::string, Shape>& shapes,
                                            GradReq req = GradReq::kWrite) {
    absl::StatusOr<std::unique_ptr<Executor>> e =
        Executor::SimpleBind(s, Context::Cpu(), shapes, req);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }
  // Deterministic weights for every argument but data and label.
  static void InitWeights(const Executor& exec, uint32_t seed) {
    for (const auto& [name, a] : exec.arg_dict()) {
      if (name == "data" || name == "softmax_label") continue;
      Set(a, RandomValues(a.size(), seed++, -0.5, 0.5));
    }
  }
  static void CopyWeights(const Executor& from, const Executor& to) {
    std::map<std::string, NDArray> dst = to.arg_dict();
    for (const auto& [name, a] : from.arg_dict()) {
      if (name == "data" || name == "softmax_label") continue;
      ASSERT_TRUE(a.CopyTo(dst.at(name)).ok());
    }
  }

  graph::NameManager names_;
};

TEST_F(ExecutorTest, TutorialBindMultiplies) {
  Symbol a = Symbol::Variable("A"), b = Symbol::Variable("B");
  Symbol c = *graph::Apply(graph::Arith::kMul, a, b, &names_);
  absl::StatusOr<std::unique_ptr<Executor>> exec =
      Executor::Bind(c, Context::Cpu(), {*NDArray::Full(Shape{3}, 4), *NDArray::Full(Shape{3}, 2)},
                     {}, {}, {});
  ASSERT_TRUE(exec.ok()) << exec.status();
  ASSERT_TRUE((*exec)->Forward(false).ok());
  ASSERT_EQ((*exec)->outputs().size(), 1u);
  EXPECT_THAT(Values((*exec)->outputs()[0]), ElementsAre(8, 8, 8));
  EXPECT_TRUE((*exec)->grad_dict().empty());
  EXPECT_EQ((*exec)->output_dict().count(c.ListOutputs()[0]), 1u);
}

TEST_F(ExecutorTest, SimpleBindMlpTrains) {
  Symbol net = Mlp();
  std::unique_ptr<Executor> exec = SimpleBindOrDie(net, {{"data", Shape{8, 20}}});
  ASSERT_NE(exec, nullptr);
  EXPECT_THAT(exec->arg_dict().at("softmax_label").shape(), (Shape{8}));
  EXPECT_EQ(exec->grad_dict().size(), 6u);  // every argument, data and label included
  for (const auto& [name, g] : exec->grad_dict()) {
    EXPECT_EQ(g.shape(), exec->arg_dict().at(name).shape()) << name;
  }
  InitWeights(*exec, 1);
  const std::vector<float> labels = {0, 1, 2, 3, 4, 0, 1, 2};
  ASSERT_TRUE(exec->Forward(true, {{"data", Array(Shape{8, 20}, RandomValues(160, 99))},
                                   {"softmax_label", Array(Shape{8}, labels)}})
                  .ok());
  ASSERT_TRUE(exec->Backward().ok());
  const std::vector<float> p = Values(exec->outputs()[0]);
  ASSERT_EQ(p.size(), 40u);
  // SoftmaxOutput: rows are distributions; d loss / d fc2_output = p - onehot(label), so the
  // bias gradient is its column sum over the batch.
  std::vector<float> want_bias(5, 0);
  for (int i = 0; i < 8; ++i) {
    float row = 0;
    for (int j = 0; j < 5; ++j) {
      row += p[i * 5 + j];
      want_bias[j] += p[i * 5 + j] - (labels[i] == j ? 1 : 0);
    }
    EXPECT_NEAR(row, 1, 1e-5);
  }
  ExpectNear(Values(exec->grad_dict().at("fc2_bias")), want_bias, 1e-5, "fc2_bias grad");
  float weight_norm = 0;
  for (float g : Values(exec->grad_dict().at("fc1_weight"))) weight_norm += g * g;
  EXPECT_GT(weight_norm, 0);
}

TEST_F(ExecutorTest, GradReqAddAccumulatesAndNullSkips) {
  Symbol net = Mlp();
  const NDArray data = Array(Shape{4, 20}, RandomValues(80, 7));
  const NDArray label = Array(Shape{4}, {1, 0, 3, 2});
  std::unique_ptr<Executor> write = SimpleBindOrDie(net, {{"data", Shape{4, 20}}});
  ASSERT_NE(write, nullptr);
  InitWeights(*write, 5);
  ASSERT_TRUE(write->Forward(true, {{"data", data}, {"softmax_label", label}}).ok());
  ASSERT_TRUE(write->Backward().ok());

  absl::StatusOr<std::unique_ptr<Executor>> add = Executor::SimpleBind(
      net, Context::Cpu(), {{"data", Shape{4, 20}}}, GradReq::kAdd,
      {{"data", GradReq::kNull}, {"softmax_label", GradReq::kNull}, {"fc1_bias", GradReq::kNull}});
  ASSERT_TRUE(add.ok()) << add.status();
  CopyWeights(*write, **add);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE((*add)->Forward(true, {{"data", data}, {"softmax_label", label}}).ok());
    ASSERT_TRUE((*add)->Backward().ok());
  }
  std::map<std::string, NDArray> grads = (*add)->grad_dict();
  EXPECT_EQ(grads.count("fc1_bias"), 0u);
  EXPECT_EQ(grads.count("data"), 0u);
  // grad_arrays follow list_arguments: data, fc1_weight, fc1_bias, ...
  EXPECT_TRUE((*add)->grad_arrays()[0].is_none());
  EXPECT_FALSE((*add)->grad_arrays()[1].is_none());
  EXPECT_TRUE((*add)->grad_arrays()[2].is_none());
  for (const char* name : {"fc1_weight", "fc2_weight", "fc2_bias"}) {
    ASSERT_EQ(grads.count(name), 1u) << name;
    std::vector<float> twice = Values(write->grad_dict().at(name));
    for (float& v : twice) v *= 2;
    ExpectNear(Values(grads.at(name)), twice, 1e-5, name);
  }
  // No work for null requests: no step writes a gradient of fc1_bias or data.
  const graph::Plan& plan = (*add)->plan();
  std::vector<std::string> args = net.ListArguments();
  for (size_t k = 0; k < args.size(); ++k) {
    const bool wanted = grads.count(args[k]) > 0;
    EXPECT_EQ(plan.arg_grad_entries[k] != graph::Plan::kNone, wanted) << args[k];
  }
  int fc1_backward = 0;
  for (const graph::Plan::Step& s : plan.steps) {
    if (s.kind != graph::Plan::StepKind::kBackward) continue;
    const graph::Node& node = *plan.graph->node(s.node).node;
    if (node.name != "fc1") continue;
    ++fc1_backward;
    EXPECT_EQ(s.reqs[0], ops::OpReq::kNull);  // data
    EXPECT_EQ(s.reqs[2], ops::OpReq::kNull);  // fc1_bias
    EXPECT_EQ(s.reqs[1], ops::OpReq::kAddTo);
  }
  EXPECT_EQ(fc1_backward, 1);
}

TEST_F(ExecutorTest, ForwardCopiesInputsByName) {
  Symbol net = Mlp();
  std::unique_ptr<Executor> exec = SimpleBindOrDie(net, {{"data", Shape{2, 20}}}, GradReq::kNull);
  ASSERT_NE(exec, nullptr);
  InitWeights(*exec, 3);
  NDArray data = Array(Shape{2, 20}, RandomValues(40, 11));
  ASSERT_TRUE(exec->Forward(false, {{"data", data}}).ok());
  const std::vector<float> first = Values(exec->outputs()[0]);
  NDArray bound = exec->arg_dict().at("data");
  EXPECT_FALSE(bound.SharesStorageWith(data));
  ExpectNear(Values(bound), Values(data), 0, "bound data");
  ASSERT_TRUE(data.Fill(5).ok());  // the executor holds a copy
  ASSERT_TRUE(exec->Forward(false).ok());
  ExpectNear(Values(exec->outputs()[0]), first, 1e-6, "rerun");
}

TEST_F(ExecutorTest, DuplicatedAndInternalHeadsSumTheirGradients) {
  // Group(fc, fc, tanh(fc)): fc's gradient is h0 + h1 + tanh'(fc) * h2.
  Symbol fc = Op("FullyConnected", {{"num_hidden", "1"}, {"no_bias", "True"}},
                 {{}, {{"data", Symbol::Variable("x")}}}, "fc");
  Symbol t = Op("Activation", {{"act_type", "tanh"}}, {{}, {{"data", fc}}}, "t");
  Symbol g = Symbol::Group({fc, fc, t});
  NDArray x = Array(Shape{1, 2}, {1, 2});
  NDArray w = Array(Shape{1, 2}, {0.5, -0.25});  // fc = 0
  NDArray dw = *NDArray::Zeros(Shape{1, 2});
  absl::StatusOr<std::unique_ptr<Executor>> exec =
      Executor::Bind(g, Context::Cpu(), {x, w}, {NDArray(), dw}, {}, {});
  ASSERT_TRUE(exec.ok()) << exec.status();
  ASSERT_TRUE((*exec)->Forward(true).ok());
  ASSERT_TRUE((*exec)->Backward({Array(Shape{1, 1}, {1}), Array(Shape{1, 1}, {2}),
                                 Array(Shape{1, 1}, {4})})
                  .ok());
  // d fc = 1 + 2 + (1 - tanh(0)^2) * 4 = 7; d w = 7 * x.
  ExpectNear(Values(dw), {7, 14}, 1e-6, "dw");
}

TEST_F(ExecutorTest, DropoutTrainInferenceAndBackwardMask) {
  Symbol net = Op("Dropout", {{"p", "0.3"}}, {{}, {{"data", Symbol::Variable("x")}}}, "drop");
  const Shape shape{200, 50};
  std::vector<float> x(shape.Size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1 + static_cast<float>(i % 7);
  std::unique_ptr<Executor> exec = SimpleBindOrDie(net, {{"x", shape}});
  ASSERT_NE(exec, nullptr);
  ASSERT_TRUE(exec->Forward(false, {{"x", Array(shape, x)}}).ok());
  ExpectNear(Values(exec->outputs()[0]), x, 0, "inference is identity");

  ASSERT_TRUE(exec->Forward(true).ok());
  ASSERT_TRUE(exec->Backward({*NDArray::Full(shape, 2.0)}).ok());
  const std::vector<float> y = Values(exec->outputs()[0]);
  const std::vector<float> dx = Values(exec->grad_dict().at("x"));
  ASSERT_EQ(y.size(), x.size());
  ASSERT_EQ(dx.size(), x.size());
  size_t zeros = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (y[i] == 0) {
      ++zeros;
      EXPECT_EQ(dx[i], 0) << i;
    } else {
      ASSERT_NEAR(y[i], x[i] / 0.7f, 1e-4) << i;
      ASSERT_NEAR(dx[i], 2 / 0.7f, 1e-5) << i;
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros) / x.size(), 0.3, 0.03);
}

TEST_F(ExecutorTest, BatchNormUpdatesAndUsesMovingStats) {
  Symbol net = Op("BatchNorm", {{"fix_gamma", "False"}},
                  {{}, {{"data", Symbol::Variable("data")}}}, "bn");
  const int n = 4, c = 3, hw = 4;
  const Shape shape{n, c, 2, 2};
  std::unique_ptr<Executor> exec = SimpleBindOrDie(net, {{"data", shape}}, GradReq::kNull);
  ASSERT_NE(exec, nullptr);
  const std::vector<float> gamma = {1, 2, 0.5}, beta = {0, 1, -1};
  const std::vector<float> mm0 = {0.1, 0.2, 0.3}, mv0 = {1, 2, 3};
  Set(exec->arg_dict().at("bn_gamma"), gamma);
  Set(exec->arg_dict().at("bn_beta"), beta);
  Set(exec->aux_dict().at("bn_moving_mean"), mm0);
  Set(exec->aux_dict().at("bn_moving_var"), mv0);
  std::vector<float> x = RandomValues(shape.Size(), 21, -2, 3);
  ASSERT_TRUE(exec->Forward(true, {{"data", Array(shape, x)}}).ok());
  auto at = [&](int b, int ch, int i) { return (b * c + ch) * hw + i; };
  std::vector<float> want(x.size()), mm(c), mv(c);
  for (int ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    for (int b = 0; b < n; ++b) for (int i = 0; i < hw; ++i) mean += x[at(b, ch, i)];
    mean /= n * hw;
    for (int b = 0; b < n; ++b) {
      for (int i = 0; i < hw; ++i) var += std::pow(x[at(b, ch, i)] - mean, 2);
    }
    var /= n * hw;
    for (int b = 0; b < n; ++b) {
      for (int i = 0; i < hw; ++i) {
        want[at(b, ch, i)] =
            gamma[ch] * (x[at(b, ch, i)] - mean) / std::sqrt(var + 1e-3) + beta[ch];
      }
    }
    mm[ch] = 0.9 * mm0[ch] + 0.1 * mean;
    mv[ch] = 0.9 * mv0[ch] + 0.1 * var;
  }
  ExpectNear(Values(exec->outputs()[0]), want, 1e-4, "training output");
  ExpectNear(Values(exec->aux_dict().at("bn_moving_mean")), mm, 1e-5, "moving mean");
  ExpectNear(Values(exec->aux_dict().at("bn_moving_var")), mv, 1e-5, "moving var");

  ASSERT_TRUE(exec->Forward(false).ok());
  for (int ch = 0; ch < c; ++ch) {
    for (int b = 0; b < n; ++b) {
      for (int i = 0; i < hw; ++i) {
        want[at(b, ch, i)] =
            gamma[ch] * (x[at(b, ch, i)] - mm[ch]) / std::sqrt(mv[ch] + 1e-3) + beta[ch];
      }
    }
  }
  ExpectNear(Values(exec->outputs()[0]), want, 1e-4, "inference output");
  // Inference leaves the moving stats alone.
  ExpectNear(Values(exec->aux_dict().at("bn_moving_mean")), mm, 1e-5, "moving mean after");
}

TEST_F(ExecutorTest, ReshapeShrinksToViewsAndGrowsOnRequest) {
  Symbol net = Mlp();
  std::unique_ptr<Executor> exec8 = SimpleBindOrDie(net, {{"data", Shape{8, 20}}});
  ASSERT_NE(exec8, nullptr);
  InitWeights(*exec8, 40);
  const NDArray data8 = Array(Shape{8, 20}, RandomValues(160, 41));
  ASSERT_TRUE(exec8->Forward(false, {{"data", data8}}).ok());
  const std::vector<float> out8 = Values(exec8->outputs()[0]);

  // Each reshaped executor against a fresh one with the same weights.
  auto check = [&](Executor* reshaped, int batch, uint32_t seed) {
    std::unique_ptr<Executor> fresh = SimpleBindOrDie(net, {{"data", Shape{batch, 20}}});
    ASSERT_NE(fresh, nullptr);
    CopyWeights(*exec8, *fresh);
    NDArray data = Array(Shape{batch, 20}, RandomValues(batch * 20, seed));
    std::vector<float> label(batch);
    for (int i = 0; i < batch; ++i) label[i] = i % 5;
    std::map<std::string, NDArray> in = {{"data", data},
                                         {"softmax_label", Array(Shape{batch}, label)}};
    ASSERT_TRUE(reshaped->Forward(true, in).ok());
    ASSERT_TRUE(reshaped->Backward().ok());
    ASSERT_TRUE(fresh->Forward(true, in).ok());
    ASSERT_TRUE(fresh->Backward().ok());
    ASSERT_EQ(reshaped->outputs()[0].shape(), (Shape{batch, 5}));
    ExpectNear(Values(reshaped->outputs()[0]), Values(fresh->outputs()[0]), 1e-5, "output");
    for (const char* name : {"fc1_weight", "fc2_bias"}) {
      ExpectNear(Values(reshaped->grad_dict().at(name)), Values(fresh->grad_dict().at(name)),
                 1e-5, name);
    }
  };

  absl::StatusOr<std::unique_ptr<Executor>> exec4 =
      exec8->Reshape({{"data", Shape{4, 20}}, {"softmax_label", Shape{4}}});
  ASSERT_TRUE(exec4.ok()) << exec4.status();
  std::map<std::string, NDArray> args4 = (*exec4)->arg_dict(), args8 = exec8->arg_dict();
  EXPECT_EQ(args4.at("data").shape(), (Shape{4, 20}));
  EXPECT_TRUE(args4.at("data").SharesStorageWith(args8.at("data")));
  EXPECT_TRUE(args4.at("fc1_weight").SharesStorageWith(args8.at("fc1_weight")));
  EXPECT_TRUE((*exec4)->grad_dict().at("data").SharesStorageWith(exec8->grad_dict().at("data")));
  check(exec4->get(), 4, 42);

  absl::StatusOr<std::unique_ptr<Executor>> exec16 =
      exec8->Reshape({{"data", Shape{16, 20}}, {"softmax_label", Shape{16}}});
  EXPECT_EQ(exec16.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(exec16.status().message(), HasSubstr("data"));
  exec16 = exec8->Reshape({{"data", Shape{16, 20}}, {"softmax_label", Shape{16}}},
                          /*partial_shaping=*/false, /*allow_up_sizing=*/true);
  ASSERT_TRUE(exec16.ok()) << exec16.status();
  EXPECT_TRUE((*exec16)->arg_dict().at("fc2_weight").SharesStorageWith(args8.at("fc2_weight")));
  check(exec16->get(), 16, 43);

  // The label is inferred from data: changing it unnamed needs partial_shaping.
  absl::StatusOr<std::unique_ptr<Executor>> partial = exec8->Reshape({{"data", Shape{2, 20}}});
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(partial.status().message(), HasSubstr("softmax_label"));
  partial = exec8->Reshape({{"data", Shape{2, 20}}}, /*partial_shaping=*/true);
  ASSERT_TRUE(partial.ok()) << partial.status();
  check(partial->get(), 2, 44);

  // The original still works once the others are done (they shared its memory).
  ASSERT_TRUE(exec8->Forward(false, {{"data", data8}}).ok());
  ExpectNear(Values(exec8->outputs()[0]), out8, 1e-6, "original after reshapes");
}

TEST_F(ExecutorTest, IndependentBranchesGiveReferenceResults) {
  const int batch = 16, in = 128, hidden = 256;
  Symbol data = Symbol::Variable("data");
  Symbol a = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", Fc(data, hidden, "fa")}}},
                "ra");
  Symbol b = Op("Activation", {{"act_type", "tanh"}}, {{}, {{"data", Fc(data, hidden, "fb")}}},
                "tb");
  Symbol net = Op("elemwise_add", {}, {{}, {{"lhs", a}, {"rhs", b}}}, "sum");
  std::unique_ptr<Executor> exec =
      SimpleBindOrDie(net, {{"data", Shape{batch, in}}}, GradReq::kNull);
  ASSERT_NE(exec, nullptr);
  std::map<std::string, std::vector<float>> w;
  uint32_t seed = 60;
  for (const auto& [name, arr] : exec->arg_dict()) {
    if (name == "data") continue;
    w[name] = RandomValues(arr.size(), seed++, -0.1, 0.1);
    Set(arr, w[name]);
  }
  std::vector<std::vector<float>> inputs = {RandomValues(batch * in, 70),
                                            RandomValues(batch * in, 71)};
  std::vector<std::vector<float>> refs;
  for (const std::vector<float>& x : inputs) {
    std::vector<float> ref(batch * hidden);
    for (int i = 0; i < batch; ++i) {
      for (int j = 0; j < hidden; ++j) {
        double ya = w["fa_bias"][j], yb = w["fb_bias"][j];
        for (int k = 0; k < in; ++k) {
          ya += static_cast<double>(x[i * in + k]) * w["fa_weight"][j * in + k];
          yb += static_cast<double>(x[i * in + k]) * w["fb_weight"][j * in + k];
        }
        ref[i * hidden + j] = static_cast<float>(std::max(ya, 0.0) + std::tanh(yb));
      }
    }
    refs.push_back(std::move(ref));
  }
  for (int round = 0; round < 20; ++round) {
    const int k = round % 2;
    ASSERT_TRUE(exec->Forward(false, {{"data", Array(Shape{batch, in}, inputs[k])}}).ok());
    ExpectNear(Values(exec->outputs()[0]), refs[k], 1e-4, absl::StrCat("round ", round));
  }
}

}  // namespace
}  // namespace mxgrid::executor
