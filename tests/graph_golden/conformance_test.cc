// Conformance with real MXNet 1.9.1 on whole networks: for each net written by
// make_graph_golden.py (MLP, LeNet, a ResNet block with BatchNorm, a Reshape/SliceChannel/
// Concat/slice_axis net, a non-loss Group needing head gradients) the -symbol.json MXNet wrote
// loads here with identical argument/output/aux lists and inferred shapes and types, and an
// executor bound to the same weights gives the same outputs, gradients and updated
// auxiliary states (float32 tolerance).
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/graph/infer.h"
#include "libs/graph/json.h"
#include "libs/tensor/ndarray_io.h"

namespace mxgrid {
namespace {

using executor::Executor;
using executor::GradReq;
using graph::Symbol;
using tensor::NDArray;

const char kData[] = "tests/graph_golden/data/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::map<std::string, NDArray> LoadParams(const std::string& path) {
  absl::StatusOr<tensor::LoadedArrays> loaded = tensor::Load(path);
  EXPECT_TRUE(loaded.ok()) << path << ": " << loaded.status();
  std::map<std::string, NDArray> out;
  if (!loaded.ok()) return out;
  for (size_t i = 0; i < loaded->arrays.size(); ++i) out[loaded->names[i]] = loaded->arrays[i];
  return out;
}

// MXNet's legacy form of a partially known shape: unknown dims 0, unknown shape ().
std::vector<int64_t> Legacy(const ops::InferShape& s) {
  if (!s) return {};
  std::vector<int64_t> dims(s->dims().begin(), s->dims().end());
  for (int64_t& d : dims) d = d < 0 ? 0 : d;
  return dims;
}

std::vector<std::vector<int64_t>> Legacy(const std::vector<ops::InferShape>& v) {
  std::vector<std::vector<int64_t>> out;
  for (const ops::InferShape& s : v) out.push_back(Legacy(s));
  return out;
}

std::map<std::string, ops::InferShape> Given(const nlohmann::json& given) {
  std::map<std::string, ops::InferShape> known;
  for (const auto& [name, dims] : given.items()) {
    std::vector<int64_t> d = dims.get<std::vector<int64_t>>();
    for (int64_t& x : d) x = x == 0 ? -1 : x;
    known[name] = Shape(absl::MakeConstSpan(d));
  }
  return known;
}

void ExpectClose(const NDArray& got, const NDArray& want, const std::string& what) {
  ASSERT_FALSE(got.is_none()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  absl::StatusOr<std::vector<double>> g = got.ToVector<double>();
  ASSERT_TRUE(g.ok()) << what << ": " << g.status();
  std::vector<double> w = *want.ToVector<double>();
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_NEAR((*g)[i], w[i], 1e-4 + 1e-3 * std::abs(w[i])) << what << " element " << i;
  }
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::string(kData) + GetParam() + "/";
    manifest_ = nlohmann::json::parse(ReadFile(dir_ + "manifest.json"), nullptr, false);
    ASSERT_TRUE(manifest_.is_object()) << "missing " << dir_;
    absl::StatusOr<Symbol> s = graph::LoadJson(ReadFile(dir_ + "symbol.json"));
    ASSERT_TRUE(s.ok()) << s.status();
    symbol_ = *s;
  }

  std::vector<std::string> List(const char* key) {
    return manifest_.at(key).get<std::vector<std::string>>();
  }

  // Binds the fixture's arguments (and aux states) with zeroed gradients for every argument.
  std::unique_ptr<Executor> Bind() {
    std::map<std::string, NDArray> args = LoadParams(dir_ + "args.params");
    std::map<std::string, NDArray> aux = LoadParams(dir_ + "aux.params");
    std::vector<NDArray> arg_list, grads, aux_list;
    for (const std::string& name : symbol_.ListArguments()) {
      NDArray a = *args.at(name).CopyTo(Context::Cpu());  // a private copy per executor
      arg_list.push_back(a);
      grads.push_back(*NDArray::Zeros(a.shape(), a.context(), a.dtype()));
    }
    for (const std::string& name : symbol_.ListAuxiliaryStates()) {
      aux_list.push_back(*aux.at(name).CopyTo(Context::Cpu()));
    }
    absl::StatusOr<std::unique_ptr<Executor>> exec = Executor::Bind(
        symbol_, Context::Cpu(), arg_list, grads, {GradReq::kWrite}, aux_list);
    EXPECT_TRUE(exec.ok()) << exec.status();
    return exec.ok() ? std::move(*exec) : nullptr;
  }

  std::string dir_;
  nlohmann::json manifest_;
  Symbol symbol_;
};

TEST_P(ConformanceTest, ListsMatchMxnet) {
  EXPECT_EQ(symbol_.ListArguments(), List("arguments"));
  EXPECT_EQ(symbol_.ListOutputs(), List("outputs"));
  EXPECT_EQ(symbol_.ListAuxiliaryStates(), List("aux"));
  EXPECT_EQ(symbol_.ListInputs(), List("inputs"));
  EXPECT_EQ(symbol_.GetInternals().ListOutputs(), List("internals"));
}

TEST_P(ConformanceTest, InferredShapesAndTypesMatchMxnet) {
  using Shapes = std::vector<std::vector<int64_t>>;
  absl::StatusOr<graph::ShapeInference> full =
      graph::InferShape(symbol_, Given(manifest_.at("input_shapes")));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_TRUE(full->complete);
  EXPECT_EQ(Legacy(full->arg_shapes), manifest_.at("arg_shapes").get<Shapes>());
  EXPECT_EQ(Legacy(full->out_shapes), manifest_.at("out_shapes").get<Shapes>());
  EXPECT_EQ(Legacy(full->aux_shapes), manifest_.at("aux_shapes").get<Shapes>());

  absl::StatusOr<graph::ShapeInference> partial =
      graph::InferShape(symbol_, Given(manifest_.at("partial_given")));
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(Legacy(partial->arg_shapes), manifest_.at("partial_arg_shapes").get<Shapes>());
  EXPECT_EQ(Legacy(partial->out_shapes), manifest_.at("partial_out_shapes").get<Shapes>());
  EXPECT_EQ(Legacy(partial->aux_shapes), manifest_.at("partial_aux_shapes").get<Shapes>());
  // reshape_concat's extra case records an MXNet quirk (Concat sums only inputs of known
  // rank, giving fc_weight (2, 3) where (2, 17) is right); mxgrid does not copy it.
  if (GetParam() != "reshape_concat") {
    for (const nlohmann::json& c : manifest_.at("partial_extra")) {
      absl::StatusOr<graph::ShapeInference> r = graph::InferShape(symbol_, Given(c.at("given")));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(Legacy(r->arg_shapes), c.at("arg_shapes").get<Shapes>()) << c.dump();
      EXPECT_EQ(Legacy(r->out_shapes), c.at("out_shapes").get<Shapes>()) << c.dump();
      EXPECT_EQ(Legacy(r->aux_shapes), c.at("aux_shapes").get<Shapes>()) << c.dump();
    }
  }

  absl::StatusOr<graph::TypeInference> types =
      graph::InferType(symbol_, {{"data", DType::kFloat32}});
  ASSERT_TRUE(types.ok()) << types.status();
  auto names = [](const std::vector<ops::InferType>& v) {
    std::vector<std::string> out;
    for (const ops::InferType& t : v) out.push_back(t ? std::string(DTypeName(*t)) : "");
    return out;
  };
  EXPECT_EQ(names(types->arg_types), List("arg_types"));
  EXPECT_EQ(names(types->out_types), List("out_types"));
  EXPECT_EQ(names(types->aux_types), List("aux_types"));
}

TEST_P(ConformanceTest, TrainingStepMatchesMxnet) {
  std::unique_ptr<Executor> exec = Bind();
  ASSERT_NE(exec, nullptr);
  ASSERT_TRUE(exec->Forward(/*is_train=*/true).ok());
  std::vector<NDArray> heads;
  if (manifest_.at("has_head_grads").get<bool>()) {
    std::map<std::string, NDArray> h = LoadParams(dir_ + "head_grads.params");
    for (size_t k = 0; k < h.size(); ++k) heads.push_back(h.at("head" + std::to_string(k)));
  }
  absl::Status s = exec->Backward(heads);
  ASSERT_TRUE(s.ok()) << s;
  std::map<std::string, NDArray> outputs = LoadParams(dir_ + "outputs.params");
  for (size_t k = 0; k < exec->outputs().size(); ++k) {
    ExpectClose(exec->outputs()[k], outputs.at("output" + std::to_string(k)),
                "output " + std::to_string(k));
  }
  std::map<std::string, NDArray> grads = LoadParams(dir_ + "grads.params");
  for (const auto& [name, grad] : exec->grad_dict()) {
    ExpectClose(grad, grads.at(name), "gradient of " + name);
  }
  std::map<std::string, NDArray> aux_after = LoadParams(dir_ + "aux_after.params");
  for (const auto& [name, value] : exec->aux_dict()) {
    ExpectClose(value, aux_after.at(name), "aux state " + name);
  }
}

TEST_P(ConformanceTest, InferenceMatchesMxnet) {
  std::unique_ptr<Executor> exec = Bind();
  ASSERT_NE(exec, nullptr);
  ASSERT_TRUE(exec->Forward(/*is_train=*/false).ok());
  std::map<std::string, NDArray> outputs = LoadParams(dir_ + "outputs_infer.params");
  for (size_t k = 0; k < exec->outputs().size(); ++k) {
    ExpectClose(exec->outputs()[k], outputs.at("output" + std::to_string(k)),
                "inference output " + std::to_string(k));
  }
}

TEST_P(ConformanceTest, JsonRoundTripKeepsTheGraph) {
  absl::StatusOr<Symbol> again = graph::LoadJson(graph::SaveJson(symbol_));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(graph::SaveJson(*again), graph::SaveJson(symbol_));
  EXPECT_EQ(again->GetInternals().ListOutputs(), List("internals"));
}

INSTANTIATE_TEST_SUITE_P(Nets, ConformanceTest,
                         ::testing::Values("mlp", "lenet", "resblock", "reshape_concat",
                                           "non_loss"));

}  // namespace
}  // namespace mxgrid
