// Names, parameters, shapes, dtypes, validation and reproducibility of the random operators.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/random/random_cases.h"
#include "libs/ops/random/random_test_util.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

using random_test::Input;
using random_test::RandomRegistry;
using random_test::Result;
using random_test::RunOp;

TEST(RandomOpsTest, RegistersMXNetNamesAndAliases) {
  for (const char* name :
       {"_random_uniform", "uniform", "random_uniform", "_random_normal", "normal",
        "random_normal", "_random_gamma", "random_gamma", "_random_exponential",
        "_random_poisson", "_random_negative_binomial", "_random_generalized_negative_binomial",
        "_random_randint", "random_randint", "_random_uniform_like", "_random_normal_like",
        "_random_gamma_like", "_random_exponential_like", "_random_poisson_like",
        "_random_negative_binomial_like", "_random_generalized_negative_binomial_like",
        "_sample_uniform", "sample_uniform", "_sample_normal", "_sample_gamma",
        "_sample_exponential", "_sample_poisson", "_sample_negative_binomial",
        "_sample_generalized_negative_binomial", "_sample_multinomial", "sample_multinomial",
        "_shuffle", "shuffle"}) {
    absl::StatusOr<const OpDef*> def = RandomRegistry().Find(name);
    ASSERT_TRUE(def.ok()) << name;
    EXPECT_TRUE((*def)->random) << name;
  }
}

TEST(RandomOpsTest, ParameterNamesAndDefaultsAreMXNets) {
  auto names = [](const char* op) {
    std::vector<std::string> out;
    for (const ParamSpec& p : (*RandomRegistry().Find(op))->params) {
      out.push_back(p.name + "=" + p.default_value);
    }
    return out;
  };
  EXPECT_EQ(names("_random_uniform"),
            (std::vector<std::string>{"low=0", "high=1", "shape=None", "ctx=''", "dtype='None'"}));
  EXPECT_EQ(names("_random_negative_binomial"),
            (std::vector<std::string>{"k=1", "p=1", "shape=None", "ctx=''", "dtype='None'"}));
  EXPECT_EQ(names("_random_randint"),
            (std::vector<std::string>{"low=", "high=", "shape=None", "ctx=''", "dtype='None'"}));
  EXPECT_EQ(names("_random_normal_like"), (std::vector<std::string>{"loc=0", "scale=1"}));
  EXPECT_EQ(names("_sample_gamma"), (std::vector<std::string>{"shape=[]", "dtype='None'"}));
  EXPECT_EQ(names("_sample_multinomial"),
            (std::vector<std::string>{"shape=[]", "get_prob=0", "dtype='int32'"}));
  ParsedOp sample = *RandomRegistry().Parse("_sample_normal", {});
  EXPECT_EQ(sample.input_names(), (std::vector<std::string>{"mu", "sigma"}));
}

TEST(RandomOpsTest, ZeroInputSamplersTakeShapeAndDType) {
  Result r = *RunOp("_random_uniform", {{"shape", "(2, 3)"}, {"ctx", "cpu(0)"}}, {}, 1);
  EXPECT_EQ(r.shapes[0], (Shape{2, 3}));
  EXPECT_EQ(r.dtypes[0], DType::kFloat32);
  r = *RunOp("_random_normal", {{"shape", "(4,)"}, {"dtype", "float64"}}, {}, 1);
  EXPECT_EQ(r.dtypes[0], DType::kFloat64);
  r = *RunOp("_random_gamma", {{"shape", "5"}, {"dtype", "float16"}}, {}, 1);
  EXPECT_EQ(r.shapes[0], (Shape{5}));
  EXPECT_EQ(r.dtypes[0], DType::kFloat16);
  r = *RunOp("_random_exponential", {}, {}, 1);  // no shape: one element, as MXNet 1.x
  EXPECT_EQ(r.shapes[0], (Shape{1}));
  r = *RunOp("_random_randint", {{"low", "-3"}, {"high", "4"}, {"shape", "(100,)"}}, {}, 1);
  EXPECT_EQ(r.dtypes[0], DType::kInt32);
  for (double v : r.values[0]) {
    EXPECT_GE(v, -3);
    EXPECT_LT(v, 4);
  }
  r = *RunOp("_random_randint",
           {{"low", "0"}, {"high", "5000000000"}, {"shape", "(3,)"}, {"dtype", "int64"}}, {}, 1);
  EXPECT_EQ(r.dtypes[0], DType::kInt64);
}

TEST(RandomOpsTest, LikeAndSampleShapes) {
  Input data{Shape{3, 2}, {0, 0, 0, 0, 0, 0}, DType::kFloat64};
  Result r = *RunOp("_random_poisson_like", {{"lam", "3"}}, {data}, 1);
  EXPECT_EQ(r.shapes[0], (Shape{3, 2}));
  EXPECT_EQ(r.dtypes[0], DType::kFloat64);
  Input low{Shape{2}, {0, 10}}, high{Shape{2}, {1, 11}};
  r = *RunOp("_sample_uniform", {{"shape", "(4, 5)"}}, {low, high}, 1);
  EXPECT_EQ(r.shapes[0], (Shape{2, 4, 5}));
  EXPECT_EQ(r.dtypes[0], DType::kFloat32);
  for (int i = 0; i < 20; ++i) {
    EXPECT_GE(r.values[0][i], 0);
    EXPECT_LT(r.values[0][i], 1);
    EXPECT_GE(r.values[0][20 + i], 10);
    EXPECT_LT(r.values[0][20 + i], 11);
  }
  r = *RunOp("_sample_exponential", {{"dtype", "float16"}}, {Input{Shape{3}, {1, 2, 3}}}, 1);
  EXPECT_EQ(r.shapes[0], (Shape{3}));
  EXPECT_EQ(r.dtypes[0], DType::kFloat16);
}

TEST(RandomOpsTest, MultinomialShapesTypesAndLogProbabilities) {
  Input probs{Shape{2, 3}, {0, 0, 1, 0.5, 0.5, 0}};
  Result r = *RunOp("_sample_multinomial", {{"shape", "(4,)"}, {"get_prob", "True"}}, {probs}, 3);
  ASSERT_EQ(r.shapes.size(), 2u);
  EXPECT_EQ(r.shapes[0], (Shape{2, 4}));
  EXPECT_EQ(r.dtypes[0], DType::kInt32);
  EXPECT_EQ(r.dtypes[1], DType::kFloat32);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.values[0][i], 2);
    EXPECT_NEAR(r.values[1][i], 0.0, 1e-6);
    EXPECT_LT(r.values[0][4 + i], 2);
    EXPECT_NEAR(r.values[1][4 + i], std::log(0.5), 1e-6);
  }
  r = *RunOp("_sample_multinomial", {}, {Input{Shape{2}, {0.3, 0.7}}}, 3);
  EXPECT_EQ(r.shapes[0], (Shape{1}));
  r = *RunOp("_sample_multinomial", {{"dtype", "float64"}}, {probs}, 3);
  EXPECT_EQ(r.shapes[0], (Shape{2}));
  EXPECT_EQ(r.dtypes[0], DType::kFloat64);
}

TEST(RandomOpsTest, ShufflePermutesRows) {
  Input data{Shape{50, 2}, {}};
  for (int i = 0; i < 50; ++i) {
    data.values.push_back(i);
    data.values.push_back(100 + i);
  }
  Result r = *RunOp("_shuffle", {}, {data}, 5);
  std::set<double> seen;
  bool moved = false;
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(r.values[0][2 * i + 1], r.values[0][2 * i] + 100);  // rows stay whole
    seen.insert(r.values[0][2 * i]);
    moved |= r.values[0][2 * i] != i;
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_TRUE(moved);
}

TEST(RandomOpsTest, SameSeedSameValuesOtherSeedOtherValues) {
  const AttrMap attrs = {{"shape", "(64,)"}};
  for (const char* op : {"_random_uniform", "_random_normal", "_random_gamma",
                         "_random_poisson", "_random_exponential"}) {
    Result a = *RunOp(op, attrs, {}, 11), b = *RunOp(op, attrs, {}, 11);
    Result c = *RunOp(op, attrs, {}, 12);
    EXPECT_EQ(a.values, b.values) << op;
    EXPECT_NE(a.values, c.values) << op;
  }
}

TEST(RandomOpsTest, BadParametersAreInvalidArgument) {
  const std::vector<std::pair<std::string, AttrMap>> bad = {
      {"_random_uniform", {{"low", "2"}, {"high", "1"}}},
      {"_random_uniform", {{"shape", "(2, -1)"}}},
      {"_random_uniform", {{"dtype", "int32"}}},
      {"_random_uniform", {{"ctx", "tpu(0)"}}},
      {"_random_uniform", {{"bogus", "1"}}},
      {"_random_normal", {{"scale", "-1"}}},
      {"_random_normal", {{"scale", "0"}}},
      {"_random_gamma", {{"alpha", "0"}}},
      {"_random_gamma", {{"beta", "-2"}}},
      {"_random_exponential", {{"lam", "0"}}},
      {"_random_poisson", {{"lam", "-1"}}},
      {"_random_negative_binomial", {{"k", "0"}}},
      {"_random_negative_binomial", {{"p", "1.5"}}},
      {"_random_negative_binomial", {{"k", "1.5"}}},
      {"_random_generalized_negative_binomial", {{"mu", "-1"}}},
      {"_random_randint", {{"low", "5"}, {"high", "5"}}},
      {"_random_randint", {{"low", "0"}}},
      {"_random_randint", {{"low", "0"}, {"high", "2"}, {"dtype", "float32"}}},
      {"_random_normal_like", {{"shape", "(2,)"}}},
      {"_sample_multinomial", {{"dtype", "int64"}}},
      {"_shuffle", {{"axis", "1"}}},
  };
  for (const auto& [op, attrs] : bad) {
    absl::Status s = RandomRegistry().Parse(op, attrs).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << op;
    EXPECT_NE(std::string(s.message()).find(op), std::string::npos) << s;
  }
}

TEST(RandomOpsTest, BadArraysAreInvalidArgument) {
  auto code = [](const std::string& op, const std::vector<Input>& in) {
    return RunOp(op, {}, in, 1).status().code();
  };
  // Parameter values outside the domain, found by the kernel.
  EXPECT_EQ(code("_sample_normal", {Input{Shape{2}, {0, 0}}, Input{Shape{2}, {1, -1}}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("_sample_poisson", {Input{Shape{1}, {-0.5}}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("_sample_multinomial", {Input{Shape{2}, {0.5, -0.5}}}),
            absl::StatusCode::kInvalidArgument);
  // Shapes and dtypes, found by inference.
  EXPECT_EQ(code("_sample_uniform", {Input{Shape{2}, {0, 0}}, Input{Shape{3}, {1, 1, 1}}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("_sample_gamma", {Input{Shape{1}, {1}, DType::kInt32},
                                   Input{Shape{1}, {1}, DType::kInt32}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("_sample_gamma", {Input{Shape{1}, {1}, DType::kFloat32},
                                   Input{Shape{1}, {1}, DType::kFloat64}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("_sample_multinomial", {Input{Shape{2, 0}, {}}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("_random_uniform_like", {Input{Shape{2}, {0, 0}, DType::kInt32}}),
            absl::StatusCode::kInvalidArgument);
}

TEST(RandomOpsTest, MultinomialGradientIsOneOverProbabilityAtEachDraw) {
  ParsedOp op = *RandomRegistry().Parse("_sample_multinomial",
                                        {{"shape", "(3,)"}, {"get_prob", "True"}});
  std::vector<float> data = {0.25f, 0.75f}, logp(3), ones = {1, 1, 1};
  std::vector<float> grad = {9, 9};  // overwritten (kWriteTo)
  std::vector<int32_t> g0(3, 0);
  const Context cpu = Context::Cpu();
  TensorView in{data.data(), Shape{2}, DType::kFloat32, cpu};
  std::vector<int32_t> idx = {1, 0, 1};
  TensorView out_idx{idx.data(), Shape{3}, DType::kInt32, cpu};
  TensorView out1{logp.data(), Shape{3}, DType::kFloat32, cpu};
  TensorView og0{g0.data(), Shape{3}, DType::kInt32, cpu};
  TensorView og1{ones.data(), Shape{3}, DType::kFloat32, cpu};
  TensorView gv{grad.data(), Shape{2}, DType::kFloat32, cpu};
  std::vector<TensorView> out_grads = {og0, og1}, inputs = {in}, outputs = {out_idx, out1},
                          in_grads = {gv};
  std::vector<OpReq> reqs = {OpReq::kWriteTo};
  BackwardArgs args{out_grads, inputs, outputs, in_grads, reqs};
  ASSERT_TRUE(op.Backward(OpContext{}, args).ok());
  EXPECT_FLOAT_EQ(grad[0], 1 / 0.25f);
  EXPECT_FLOAT_EQ(grad[1], 2 / 0.75f);
}

TEST(RandomOpsTest, ConsistencyCasesCoverEveryRandomOp) {
  const std::vector<testing::OpCase> cases = RandomCases();
  const std::set<std::string> covered = testing::CoveredOps(RandomRegistry(), cases);
  for (const OpDef* def : RandomRegistry().List()) {
    EXPECT_EQ(covered.count(def->name), 1u) << def->name << " has no consistency case";
  }
  for (const testing::OpCase& c : cases) testing::CheckCase(RandomRegistry(), c);
}

}  // namespace
}  // namespace mxgrid::ops
