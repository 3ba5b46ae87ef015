#include "libs/graph/json.h"

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/symbol.h"
#include "libs/ops/builtin.h"

namespace mxgrid::graph {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using Names = std::vector<std::string>;

// Files written by real MXNet 1.9.1 (testdata/make_testdata.py), except the hand-written
// legacy_000800-symbol.json.
std::string ReadTestdata(const std::string& name) {
  std::ifstream in("libs/graph/testdata/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Symbol MustLoad(const std::string& text) {
  absl::StatusOr<Symbol> s = LoadJson(text);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : Symbol();
}

Symbol MustCreate(const char* op, ops::AttrMap attrs, Symbol::Inputs inputs, const char* name) {
  absl::StatusOr<Symbol> s =
      Symbol::Create(ops::GlobalRegistry(), op, attrs, inputs, name, nullptr);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : Symbol();
}

// A one-line graph: `nodes` and `heads` as JSON text, the current version.
std::string Graph(const std::string& nodes, const std::string& heads,
                  const std::string& attrs = R"({"mxnet_version": ["int", 10901]})") {
  return absl::StrCat(R"({"nodes": [)", nodes, R"(], "heads": )", heads, R"(, "attrs": )",
                      attrs, "}");
}
constexpr char kVarX[] = R"({"op": "null", "name": "x", "inputs": []})";

TEST(JsonTest, LoadsMXNetMlp) {
  Symbol mlp = MustLoad(ReadTestdata("mlp-symbol.json"));
  EXPECT_EQ(mlp.ListArguments(), (Names{"data", "fc1_weight", "fc1_bias", "fc2_weight",
                                        "fc2_bias", "softmax_label"}));
  EXPECT_EQ(mlp.ListOutputs(), Names{"softmax_output"});
  EXPECT_TRUE(mlp.ListAuxiliaryStates().empty());
  const std::vector<const Node*> order = mlp.PostOrder();
  ASSERT_EQ(order.size(), 10u);
  EXPECT_EQ(order[1]->attrs, (ops::AttrMap{{"num_hidden", "128"}}));
  EXPECT_EQ(order[3]->op->def().name, "FullyConnected");
}

TEST(JsonTest, SaveOfLoadedMXNetFileIsByteIdenticalAndFixedPoint) {
  for (const char* file : {"mlp-symbol.json", "bn_mean_var-symbol.json"}) {
    SCOPED_TRACE(file);
    const std::string text = ReadTestdata(file);
    const std::string saved = SaveJson(MustLoad(text));
    EXPECT_EQ(saved, text);
    EXPECT_EQ(SaveJson(MustLoad(saved)), saved);
  }
}

TEST(JsonTest, MlpBuiltInCppSavesAsMXNet) {
  Symbol data = Symbol::Variable("data");
  Symbol fc1 = MustCreate("FullyConnected", {{"num_hidden", "128"}}, {{data}, {}}, "fc1");
  Symbol relu1 = MustCreate("Activation", {{"act_type", "relu"}}, {{fc1}, {}}, "relu1");
  Symbol fc2 = MustCreate("FullyConnected", {{"num_hidden", "10"}}, {{relu1}, {}}, "fc2");
  Symbol net = MustCreate("SoftmaxOutput", {}, {{fc2}, {}}, "softmax");
  const std::string expected = ReadTestdata("mlp-symbol.json");
  EXPECT_EQ(Json::parse(SaveJson(net)), Json::parse(expected));
  EXPECT_EQ(SaveJson(net), expected);
}

TEST(JsonTest, BatchNormOutputMeanVarCountsThreeOutputs) {
  Symbol bn = MustCreate("BatchNorm", {{"output_mean_var", "True"}},
                         {{Symbol::Variable("x")}, {}}, "bn");
  const Json saved = Json::parse(SaveJson(bn));
  EXPECT_EQ(saved["node_row_ptr"], Json::parse("[0, 1, 2, 3, 4, 5, 8]"));
  EXPECT_EQ(saved["heads"], Json::parse("[[5, 0, 0], [5, 1, 0], [5, 2, 0]]"));
  // nnvm gives the mutated aux-state entries version 1.
  EXPECT_EQ(saved["nodes"][5]["inputs"][3], Json::parse("[3, 0, 1]"));
  EXPECT_EQ(saved, Json::parse(ReadTestdata("bn_mean_var-symbol.json")));
  Symbol loaded = MustLoad(ReadTestdata("bn_mean_var-symbol.json"));
  EXPECT_EQ(loaded.ListOutputs(), (Names{"bn_output", "bn_mean", "bn_var"}));
  EXPECT_EQ(loaded.ListAuxiliaryStates(), (Names{"bn_moving_mean", "bn_moving_var"}));
}

// Entries' version fields set to 0: MXNet keeps a loaded file's versions (0 in a 0.8 file)
// where SaveJson renumbers them as nnvm's composition would.
Json ZeroVersions(Json graph) {
  for (Json& node : graph["nodes"]) {
    for (Json& input : node["inputs"]) input[2] = 0;
  }
  return graph;
}

TEST(JsonTest, LegacyFileUpgradesAsMXNet) {
  Symbol legacy = MustLoad(ReadTestdata("legacy_000800-symbol.json"));
  // As MXNet 1.9.1 reports them for the same file (make_testdata.py).
  EXPECT_EQ(legacy.ListArguments(), (Names{"data", "fc1_weight", "fc1_bias", "batchnorm0_gamma",
                                           "batchnorm0_beta", "softmax_label"}));
  EXPECT_EQ(legacy.ListAuxiliaryStates(),
            (Names{"batchnorm0_moving_mean", "batchnorm0_moving_var"}));
  EXPECT_EQ(legacy.ListOutputs(), Names{"softmax_output"});
  // Hidden keys, "weight_lr_mult" moved onto fc1_weight, aux variables with the BatchNorm's
  // attributes and their __init__: everything as MXNet 1.9.1 saves the upgraded graph.
  const Json saved = Json::parse(SaveJson(legacy));
  EXPECT_EQ(ZeroVersions(saved), Json::parse(ReadTestdata("legacy_000800-upgraded.json")));
  EXPECT_EQ(saved["nodes"][1]["attrs"]["__lr_mult__"], "1.2");
  EXPECT_EQ(saved["nodes"][7]["attrs"]["__init__"], "[\"zero\", {}]");
}

TEST(JsonTest, LegacyUpgradesArgmaxAxisAndAddsEveryMissingInput) {
  Symbol s = MustLoad(R"({"nodes": [{"op": "null", "name": "x", "inputs": []},
      {"op": "argmax", "name": "am", "param": {"axis": "-1"}, "inputs": [[0, 0]]},
      {"op": "FullyConnected", "name": "fc", "param": {"num_hidden": "2"}, "inputs": [[1, 0]]}],
      "arg_nodes": [0], "heads": [[2, 0]]})");
  EXPECT_EQ(s.ListArguments(), (Names{"x", "fc_weight", "fc_bias"}));
  EXPECT_TRUE(s.PostOrder()[1]->attrs.empty());  // axis dropped, as MXNet 1.9.1 does
}

TEST(JsonTest, AcceptsHandWrittenForms) {
  // Later ids, 2-element entries, an alias, control_deps, backward_source_id, no arg_nodes,
  // an unreachable node (dropped).
  Symbol s = MustLoad(Graph(
      R"({"op": "_Plus", "name": "p", "inputs": [[1, 0], [2, 0, 0]], "control_deps": [1],
          "backward_source_id": -1},
         {"op": "null", "name": "a", "inputs": []}, {"op": "null", "name": "b", "inputs": []},
         {"op": "null", "name": "unused", "inputs": []})",
      "[[0, 0]]"));
  EXPECT_EQ(s.ListArguments(), (Names{"a", "b"}));
  const Json saved = Json::parse(SaveJson(s));
  EXPECT_EQ(saved["nodes"][2]["op"], "elemwise_add");
  EXPECT_EQ(saved["arg_nodes"], Json::parse("[0, 1]"));
}

TEST(JsonTest, ParamLosesToAttrs) {
  Symbol s = MustLoad(Graph(absl::StrCat(kVarX, R"(, {"op": "Activation", "name": "r",
      "attrs": {"act_type": "tanh"}, "param": {"act_type": "relu"}, "inputs": [[0, 0, 0]]})"),
                            "[[1, 0, 0]]"));
  EXPECT_EQ(s.PostOrder()[1]->attrs.at("act_type"), "tanh");
}

struct ErrorCase {
  const char* name;
  std::string text;
  const char* message;
};

std::string Relu(const std::string& inputs, const char* name = "r") {
  return absl::StrCat(R"({"op": "Activation", "name": ")", name,
                      R"(", "attrs": {"act_type": "relu"}, "inputs": )", inputs, "}");
}

TEST(JsonTest, RejectsBadInputWithInvalidArgumentNamingThePlace) {
  const std::string x_r = absl::StrCat(kVarX, ", ", Relu("[[0, 0, 0]]"));
  const std::vector<ErrorCase> cases = {
      {"malformed", R"({"nodes": [)", "malformed JSON at byte offset 11"},
      {"not an object", "[1]", "must be an object"},
      {"no nodes", R"({"heads": [[0, 0, 0]]})", "needs a \"nodes\" array"},
      {"no heads", absl::StrCat(R"({"nodes": [)", kVarX, "]}"), "needs a \"heads\" array"},
      {"node not object", Graph("3", "[[0, 0, 0]]"), "node #0 is not an object"},
      {"name not string", Graph(R"({"op": "null", "name": 1, "inputs": []})", "[[0, 0]]"),
       "node #0: \"name\" must be a string"},
      {"inputs missing", Graph(R"({"op": "null", "name": "x"})", "[[0, 0]]"),
       "node 'x': \"inputs\" must be an array"},
      {"attr not string",
       Graph(R"({"op": "null", "name": "x", "attrs": {"a": 1}, "inputs": []})", "[[0, 0]]"),
       "node 'x': attribute 'a' must be a string"},
      {"unknown node field", Graph(R"({"op": "null", "name": "x", "inputs": [], "z": 1})",
                                   "[[0, 0]]"),
       "node 'x': unknown field 'z'"},
      {"unknown graph field", absl::StrCat(R"({"z": 1, "nodes": [)", kVarX,
                                           R"(], "heads": [[0, 0]]})"),
       "unknown field 'z' in symbol JSON"},
      {"entry size", Graph(absl::StrCat(kVarX, ", ", Relu("[[0]]")), "[[1, 0, 0]]"),
       "node 'r': an entry must be"},
      {"entry type", Graph(absl::StrCat(kVarX, ", ", Relu("[[0, \"0\"]]")), "[[1, 0, 0]]"),
       "node 'r': entry [0,\"0\"] must hold integers"},
      {"input out of range", Graph(absl::StrCat(kVarX, ", ", Relu("[[7, 0, 0]]")),
                                   "[[1, 0, 0]]"),
       "node 'r': node id 7 out of range [0, 2)"},
      {"self input", Graph(absl::StrCat(kVarX, ", ", Relu("[[1, 0, 0]]")), "[[1, 0, 0]]"),
       "cyclic graph at node 'r'"},
      {"cycle through a later node",
       Graph(absl::StrCat(Relu("[[1, 0, 0]]", "a"), ", ", Relu("[[0, 0, 0]]", "b")),
             "[[0, 0, 0]]"),
       "cyclic graph at node 'a'"},
      {"output index", Graph(absl::StrCat(kVarX, ", ", Relu("[[0, 1, 0]]")), "[[1, 0, 0]]"),
       "node 'r' input 0 refers to output 1 of node 'x', which has 1 outputs"},
      {"too few inputs",
       Graph(absl::StrCat(kVarX, R"(, {"op": "FullyConnected", "name": "fc1",
             "attrs": {"num_hidden": "2"}, "inputs": [[0, 0, 0], [0, 0, 0]]})"),
             "[[1, 0, 0]]"),
       "node 'fc1' (FullyConnected) has 2 inputs, expects 3: data, weight, bias"},
      {"too many inputs", Graph(absl::StrCat(kVarX, ", ", Relu("[[0, 0, 0], [0, 0, 0]]")),
                                "[[1, 0, 0]]"),
       "node 'r' (Activation) has 2 inputs, expects 1: data"},
      {"variable with inputs",
       Graph(absl::StrCat(kVarX, R"(, {"op": "null", "name": "y", "inputs": [[0, 0, 0]]})"),
             "[[1, 0, 0]]"),
       "variable node 'y' has inputs"},
      {"unknown operator",
       Graph(R"({"op": "Foo", "name": "x", "inputs": []})", "[[0, 0, 0]]"),
       "unknown operator 'Foo' at node 'x'"},
      {"bad parameter",
       Graph(absl::StrCat(kVarX, R"(, {"op": "Activation", "name": "r",
             "attrs": {"act_type": "relux"}, "inputs": [[0, 0, 0]]})"),
             "[[1, 0, 0]]"),
       "node 'r': Activation"},
      {"huge num_args",
       Graph(absl::StrCat(kVarX, R"(, {"op": "Concat", "name": "c",
             "attrs": {"num_args": "1e12"}, "inputs": [[0, 0, 0]]})"),
             "[[1, 0, 0]]"),
       "node 'c': parameter 'num_args' = '1e12' exceeds"},
      {"empty heads", Graph(kVarX, "[]"), "\"heads\" is empty"},
      {"head out of range", Graph(kVarX, "[[1, 0, 0]]"), "heads: node id 1 out of range"},
      {"head index", Graph(x_r, "[[1, 1, 0]]"),
       "head 0 refers to output 1 of node 'r', which has 1 outputs"},
      {"subgraphs", Graph(R"({"op": "null", "name": "x", "inputs": [], "subgraphs": [{}]})",
                          "[[0, 0, 0]]"),
       "node 'x': control-flow subgraphs are not supported"},
      {"bad version", Graph(kVarX, "[[0, 0, 0]]", R"({"mxnet_version": ["str", "10901"]})"),
       "mxnet_version must be [\"int\", <version>]"},
      {"too deep", std::string(5000, '[') + std::string(5000, ']'),
       "nested deeper than 1000 levels at byte offset 1000"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Symbol> s = LoadJson(c.text);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.message));
  }
}

TEST(JsonTest, ErrorsQuoteAtMost256BytesOfTheInput) {
  const std::string big(20000, 'A');
  const std::string cases[] = {
      Graph(absl::StrCat(R"({"op": ")", big, R"(", "name": "x", "inputs": []})"), "[[0, 0, 0]]"),
      Graph(absl::StrCat(R"({"op": "null", "name": ")", big, R"(", "inputs": [], "z": 1})"),
            "[[0, 0, 0]]"),
      Graph(absl::StrCat(R"({"op": "null", "name": "x", "inputs": [], ")", big, R"(": 1})"),
            "[[0, 0, 0]]"),
      Graph(absl::StrCat(R"({"op": "null", "name": "x", "inputs": [], "attrs": {")", big,
                         R"(": 1}})"),
            "[[0, 0, 0]]"),
      absl::StrCat(R"({")", big, R"(": 1, "nodes": [)", kVarX, R"(], "heads": [[0, 0]]})"),
      // Unterminated: nlohmann's description repeats the whole string token it read.
      absl::StrCat(R"({"nodes": [{"op": ")", std::string(1 << 20, 'x')),
  };
  for (const std::string& text : cases) {
    absl::StatusOr<Symbol> s = LoadJson(text);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_LT(s.status().message().size(), 600u) << s.status().message().substr(0, 600);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(" bytes)"));
  }
}

TEST(JsonTest, DeepChainLoadsAndSavesWithoutRecursion) {
  constexpr int kDepth = 100000;
  std::string nodes = kVarX;
  for (int i = 1; i <= kDepth; ++i) {
    absl::StrAppend(&nodes, ", ", Relu(absl::StrCat("[[", i - 1, ", 0, 0]]"),
                                       absl::StrCat("r", i).c_str()));
  }
  Symbol chain = MustLoad(Graph(nodes, absl::StrCat("[[", kDepth, ", 0, 0]]")));
  EXPECT_EQ(chain.ListOutputs(), Names{absl::StrCat("r", kDepth, "_output")});
  const std::string saved = SaveJson(chain);
  Symbol again = MustLoad(saved);
  EXPECT_EQ(SaveJson(again), saved);
  // Both graphs are dropped here: Node's destructor must not recurse 100,000 deep.
}

}  // namespace
}  // namespace mxgrid::graph
