// Symbol construction, naming and listing against what MXNet 1.9.1 reports for the same
// Python code (tests/graph_golden/data/naming/manifest.json, written by
// tests/graph_golden/make_graph_golden.py; each case ran with fresh name counters).
#include "libs/graph/symbol.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/infer.h"
#include "libs/graph/json.h"
#include "libs/ops/builtin.h"

namespace mxgrid::graph {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Lists {
  std::vector<std::string> arguments, outputs, aux;
};

const nlohmann::json& Manifest() {
  static const nlohmann::json* m = [] {
    std::ifstream in("tests/graph_golden/data/naming/manifest.json");
    std::stringstream text;
    text << in.rdbuf();
    return new nlohmann::json(nlohmann::json::parse(text.str(), nullptr, false));
  }();
  return *m;
}

void ExpectLikeMxnet(const Symbol& s, const std::string& name) {
  ASSERT_TRUE(Manifest().is_object()) << "naming manifest missing";
  const nlohmann::json& want = Manifest().at(name);
  EXPECT_EQ(s.ListArguments(), want.at("arguments").get<std::vector<std::string>>()) << name;
  EXPECT_EQ(s.ListOutputs(), want.at("outputs").get<std::vector<std::string>>()) << name;
  EXPECT_EQ(s.ListAuxiliaryStates(), want.at("aux").get<std::vector<std::string>>()) << name;
}

class SymbolTest : public ::testing::Test {
 protected:
  // An operator application with fresh counters per test, as each MXNet case ran.
  Symbol Op(const std::string& op, ops::AttrMap attrs, Symbol::Inputs in,
            const std::string& name = "") {
    absl::StatusOr<Symbol> s =
        Symbol::Create(ops::GlobalRegistry(), op, attrs, in, name, &names_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : Symbol();
  }
  Symbol Calc(Arith op, const Symbol& a, const Symbol& b) { return *Apply(op, a, b, &names_); }
  Symbol Calc(Arith op, const Symbol& a, double b) { return *Apply(op, a, b, &names_); }
  Symbol Calc(Arith op, double a, const Symbol& b) { return *Apply(op, a, b, &names_); }

  NameManager names_;
};

TEST_F(SymbolTest, TutorialMlp) {
  Symbol net = Symbol::Variable("data");
  net = Op("FullyConnected", {{"num_hidden", "128"}}, {{}, {{"data", net}}}, "fc1");
  net = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", net}}}, "relu1");
  net = Op("FullyConnected", {{"num_hidden", "64"}}, {{}, {{"data", net}}}, "fc2");
  net = Op("SoftmaxOutput", {}, {{}, {{"data", net}}}, "out");
  ExpectLikeMxnet(net, "tutorial_mlp");
  EXPECT_EQ(*net.name(), "out");
}

TEST_F(SymbolTest, ExplicitWeightAndSumInput) {
  Symbol w = Symbol::Variable("myweight");
  Symbol fc = Op("FullyConnected", {{"num_hidden", "128"}},
                 {{}, {{"data", Symbol::Variable("data")}, {"weight", w}}}, "fc1");
  ExpectLikeMxnet(fc, "explicit_weight");
  Symbol sum = Calc(Arith::kAdd, Symbol::Variable("data1"), Symbol::Variable("data2"));
  ExpectLikeMxnet(Op("FullyConnected", {{"num_hidden", "128"}}, {{}, {{"data", sum}}}, "fc1"),
                  "sum_into_fc");
}

TEST_F(SymbolTest, ComposeReplacesVariablesAndRenamesHead) {
  Symbol net = Op("FullyConnected", {{"num_hidden", "128"}},
                  {{}, {{"data", Symbol::Variable("data")}}}, "fc1");
  Symbol net2 = Op("FullyConnected", {{"num_hidden", "128"}},
                   {{}, {{"data", Symbol::Variable("data2")}}}, "net2");
  absl::StatusOr<Symbol> composed = net.Compose({{}, {{"data", net2}}}, "compose");
  ASSERT_TRUE(composed.ok()) << composed.status();
  ExpectLikeMxnet(*composed, "compose");
  // The original is untouched.
  EXPECT_THAT(net.ListArguments(), ElementsAre("data", "fc1_weight", "fc1_bias"));
  EXPECT_EQ(*net.name(), "fc1");
  absl::StatusOr<Symbol> bad = net.Compose({{}, {{"nope", net2}}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("nope"));
  EXPECT_FALSE(Symbol::Variable("x").Compose({{}, {{"x", net2}}}).ok());
}

TEST_F(SymbolTest, ArithmeticNamesAsMxnet) {
  Symbol a = Symbol::Variable("a"), b = Symbol::Variable("b");
  ExpectLikeMxnet(Calc(Arith::kAdd, Calc(Arith::kMul, Calc(Arith::kAdd, a, b), 2.0), a),
                  "arith_mixed");
}

TEST_F(SymbolTest, MergeIdenticalJoinsNodesThatTraveledSeparately) {
  // x * 2 + x and Group([fc, relu(fc)]) as a client builds them from separate JSON texts:
  // each text has its own copy of the shared nodes.
  auto reload = [](const Symbol& s) { return *LoadJson(SaveJson(s), ops::GlobalRegistry()); };
  Symbol x = Symbol::Variable("x");
  Symbol twice = Calc(Arith::kMul, reload(x), 2.0);
  Symbol sum = Calc(Arith::kAdd, reload(twice), reload(x));
  EXPECT_EQ(sum.ListArguments(), (std::vector<std::string>{"x", "x"}));
  EXPECT_EQ(sum.MergeIdentical().ListArguments(), (std::vector<std::string>{"x"}));
  Symbol fc = Op("FullyConnected", {{"num_hidden", "4"}}, {{x}, {}}, "fc1");
  Symbol act = Op("Activation", {{"act_type", "relu"}}, {{reload(fc)}, {}}, "relu1");
  const std::vector<Symbol> parts = {reload(fc), act};
  Symbol group = Symbol::Group(parts).MergeIdentical();
  EXPECT_EQ(group.ListArguments(), (std::vector<std::string>{"x", "fc1_weight", "fc1_bias"}));
  EXPECT_EQ(group.ListOutputs(), (std::vector<std::string>{"fc1_output", "relu1_output"}));
  // Different attributes or names stay apart.
  Symbol y1 = Symbol::Variable("y", {{"__shape__", "(2,)"}});
  Symbol two = Calc(Arith::kAdd, y1, reload(Symbol::Variable("y")));
  EXPECT_EQ(two.MergeIdentical().ListArguments(), (std::vector<std::string>{"y", "y"}));
}

TEST_F(SymbolTest, ScalarForms) {
  Symbol a = Symbol::Variable("a");
  ExpectLikeMxnet(Calc(Arith::kSub, a, 1.0), "minus_scalar");
}

TEST_F(SymbolTest, ReverseScalarForms) {
  Symbol a = Symbol::Variable("a"), b = Symbol::Variable("b");
  ExpectLikeMxnet(Calc(Arith::kSub, 1.0, a), "rminus_scalar");
  ExpectLikeMxnet(Calc(Arith::kDiv, 2.0, a), "rdiv_scalar");
  ExpectLikeMxnet(Calc(Arith::kDiv, a, b), "div");
}

TEST_F(SymbolTest, MixedElementwiseExpression) {
  Symbol a = Symbol::Variable("a"), b = Symbol::Variable("b");
  // ((a + b) - (a * b)) / (b + 3) - 0.5 * a, evaluated in Python's order.
  Symbol sum = Calc(Arith::kAdd, a, b);
  Symbol prod = Calc(Arith::kMul, a, b);
  Symbol diff = Calc(Arith::kSub, sum, prod);
  Symbol denom = Calc(Arith::kAdd, b, 3.0);
  Symbol q = Calc(Arith::kDiv, diff, denom);
  Symbol half = Calc(Arith::kMul, 0.5, a);
  ExpectLikeMxnet(Calc(Arith::kSub, q, half), "elemwise_all");
}


TEST_F(SymbolTest, InternalsGroupAndIndexing) {
  Symbol net = Op("FullyConnected", {{"num_hidden", "4"}},
                  {{}, {{"data", Symbol::Variable("data")}}}, "fc1");
  net = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", net}}}, "relu1");
  net = Op("FullyConnected", {{"num_hidden", "2"}}, {{}, {{"data", net}}}, "fc2");
  Symbol internals = net.GetInternals();
  ExpectLikeMxnet(internals, "internals");
  ExpectLikeMxnet(*internals.GetOutput("relu1_output"), "internals_pick");
  EXPECT_EQ(internals.GetOutput("nope").status().code(), absl::StatusCode::kNotFound);

  Symbol a = Symbol::Variable("a");
  Symbol fc = Op("FullyConnected", {{"num_hidden", "3"}}, {{}, {{"data", a}}}, "fc");
  Symbol act = Op("Activation", {{"act_type", "tanh"}}, {{}, {{"data", fc}}}, "act");
  Symbol g = Symbol::Group({fc, act, a});
  ExpectLikeMxnet(g, "group");
  ExpectLikeMxnet(*g.GetOutput(1), "group_index");
  EXPECT_EQ(g.GetOutput(3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g.GetOutput(-1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.GetOutput(3).status().message(), HasSubstr("outside [0, 3)"));
  EXPECT_FALSE(g.name().has_value());
  // A multi-output symbol cannot feed a single input.
  absl::StatusOr<Symbol> bad =
      Symbol::Create(ops::GlobalRegistry(), "Activation", {{"act_type", "relu"}},
                     {{}, {{"data", g}}}, "bad", &names_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("single-output"));
}

TEST_F(SymbolTest, MultiOutputAndAuxStates) {
  ExpectLikeMxnet(Op("SliceChannel", {{"num_outputs", "3"}, {"axis", "1"}},
                     {{Symbol::Variable("x")}, {}}, "split"),
                  "slice_channel_outputs");
  Symbol bn = Op("BatchNorm", {{"fix_gamma", "False"}}, {{}, {{"data", Symbol::Variable("data")}}},
                 "bn");
  ExpectLikeMxnet(bn, "batchnorm_aux");
  // Auto-created variables carry the operator's attributes; moving stats their initializers.
  const Node& node = *bn.outputs()[0].node;
  EXPECT_EQ(node.inputs[1].node->attrs.at("fix_gamma"), "False");
  EXPECT_EQ(node.inputs[3].node->attrs.at("__init__"), "[\"zero\", {}]");
  EXPECT_EQ(node.inputs[4].node->attrs.at("__init__"), "[\"one\", {}]");
  ExpectLikeMxnet(Op("BatchNorm", {}, {{}, {{"data", Symbol::Variable("data")}}}),
                  "batchnorm_unnamed");
}

TEST_F(SymbolTest, UnnamedCounters) {
  Symbol net =
      Op("FullyConnected", {{"num_hidden", "4"}}, {{}, {{"data", Symbol::Variable("data")}}});
  net = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", net}}});
  Symbol r = Op("Reshape", {{"shape", "(0, 1, 2, 2)"}}, {{net}, {}});
  net = Op("Convolution", {{"kernel", "(1, 1)"}, {"num_filter", "2"}}, {{}, {{"data", r}}});
  net = Op("Activation", {{"act_type", "relu"}}, {{}, {{"data", net}}});
  net = Op("Flatten", {}, {{}, {{"data", net}}});
  net = Op("FullyConnected", {{"num_hidden", "3"}}, {{}, {{"data", net}}});
  ExpectLikeMxnet(net, "unnamed_counters");
}

TEST_F(SymbolTest, BadApplications) {
  const ops::Registry& r = ops::GlobalRegistry();
  Symbol x = Symbol::Variable("x");
  EXPECT_EQ(Symbol::Create(r, "NoSuchOp", {}, {{x}, {}}, "", &names_).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<Symbol> s =
      Symbol::Create(r, "FullyConnected", {{"num_hidden", "4"}}, {{}, {{"wieght", x}}}, "fc",
                     &names_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("wieght"));
  s = Symbol::Create(r, "FullyConnected", {{"num_hidden", "four"}}, {{x}, {}}, "fc", &names_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  s = Symbol::Create(r, "Activation", {{"act_type", "relu"}}, {{x, x}, {}}, "a", &names_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  s = Symbol::Create(r, "Activation", {{"act_type", "relu"}}, {{x}, {{"data", x}}}, "a",
                     &names_);
  EXPECT_THAT(s.status().message(), HasSubstr("twice"));
}

TEST(PythonFloatStringTest, MatchesPythonStr) {
  EXPECT_EQ(PythonFloatString(2), "2.0");
  EXPECT_EQ(PythonFloatString(0.5), "0.5");
  EXPECT_EQ(PythonFloatString(1e-5), "1e-05");
  EXPECT_EQ(PythonFloatString(-3.25), "-3.25");
  EXPECT_EQ(PythonFloatString(0.1), "0.1");
}

}  // namespace
}  // namespace mxgrid::graph
