// Parameter parsing, shape inference and error messages of the nn operators.
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "libs/ops/nn/nn_ops.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

class NNParamsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(RegisterNNOps(&registry_).ok()); }

  absl::Status ParseStatus(const std::string& op, const AttrMap& attrs) {
    return registry_.Parse(op, attrs).status();
  }

  // Runs shape inference; returns the status and leaves the shapes in in/out.
  absl::Status Infer(const std::string& op, const AttrMap& attrs, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) {
    absl::StatusOr<ParsedOp> parsed = registry_.Parse(op, attrs);
    if (!parsed.ok()) return parsed.status();
    out->resize(parsed->num_outputs());
    return parsed->InferShapes(in, out);
  }

  Registry registry_;
};

TEST_F(NNParamsTest, UnknownParameterIsInvalidArgument) {
  absl::Status s = ParseStatus("FullyConnected", {{"num_hidden", "3"}, {"bogus", "1"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("bogus"), std::string::npos) << s;
  EXPECT_EQ(ParseStatus("Dropout", {{"rate", "0.1"}}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NNParamsTest, HiddenAttributesAreIgnored) {
  EXPECT_TRUE(ParseStatus("FullyConnected", {{"num_hidden", "3"}, {"__lr_mult__", "2"}}).ok());
}

TEST_F(NNParamsTest, MalformedValuesAreInvalidArgument) {
  const std::vector<std::pair<std::string, AttrMap>> bad = {
      {"FullyConnected", {{"num_hidden", "abc"}}},
      {"FullyConnected", {{"num_hidden", "3"}, {"no_bias", "maybe"}}},
      {"FullyConnected", {{"num_hidden", "0"}}},
      {"Activation", {{"act_type", "bogus"}}},
      {"LeakyReLU", {{"slope", "steep"}}},
      {"SoftmaxOutput", {{"normalization", "all"}}},
      {"softmax", {{"axis", "last"}}},
      {"softmax", {{"temperature", "0"}}},
      {"SoftmaxActivation", {{"mode", "pixel"}}},
      {"LinearRegressionOutput", {{"grad_scale", "x"}}},
      {"Dropout", {{"p", "1.5"}}},
      {"Dropout", {{"mode", "sometimes"}}},
  };
  for (const auto& [op, attrs] : bad) {
    absl::Status s = ParseStatus(op, attrs);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << op << ": " << s;
    EXPECT_NE(std::string(s.message()).find(op), std::string::npos) << s;
  }
}

TEST_F(NNParamsTest, MissingRequiredParameterIsInvalidArgument) {
  EXPECT_EQ(ParseStatus("FullyConnected", {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseStatus("Activation", {}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NNParamsTest, UnsupportedLeakyReLUTypesAreRejectedClearly) {
  for (const char* act : {"prelu", "selu", "gelu", "rrelu"}) {
    absl::Status s = ParseStatus("LeakyReLU", {{"act_type", act}});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << act;
    EXPECT_NE(std::string(s.message()).find("not supported"), std::string::npos) << s;
  }
  EXPECT_TRUE(ParseStatus("LeakyReLU", {{"act_type", "elu"}, {"slope", "1"}}).ok());
}

TEST_F(NNParamsTest, OptionalNoneValuesAreAccepted) {
  EXPECT_TRUE(ParseStatus("softmax", {{"temperature", "None"}, {"dtype", "None"}}).ok());
  EXPECT_TRUE(ParseStatus("Dropout", {{"cudnn_off", "None"}, {"axes", "()"}}).ok());
  EXPECT_TRUE(ParseStatus("Softmax", {{"multi_output", "True"}}).ok());  // alias
}

TEST_F(NNParamsTest, FullyConnectedWeightConflictNamesBothShapes) {
  std::vector<InferShape> in = {Shape{2, 5}, Shape{3, 4}, std::nullopt}, out;
  absl::Status s = Infer("FullyConnected", {{"num_hidden", "3"}}, &in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "FullyConnected: weight shape (3, 4) conflicts with inferred (3, 5)");
}

TEST_F(NNParamsTest, FullyConnectedInfersParametersAndBatchBothWays) {
  std::vector<InferShape> in = {Shape{-1, 2, 3}, std::nullopt, std::nullopt};
  std::vector<InferShape> out = {Shape{7, 4}};
  ASSERT_TRUE(Infer("FullyConnected", {{"num_hidden", "4"}}, &in, &out).ok());
  EXPECT_EQ(*in[0], (Shape{7, 2, 3}));
  EXPECT_EQ(*in[1], (Shape{4, 6}));
  EXPECT_EQ(*in[2], (Shape{4}));

  in = {Shape{-1, -1, 5}, std::nullopt};
  out = {Shape{2, 3, 8}};
  ASSERT_TRUE(Infer("FullyConnected",
                    {{"num_hidden", "8"}, {"flatten", "False"}, {"no_bias", "True"}}, &in, &out)
                  .ok());
  EXPECT_EQ(*in[0], (Shape{2, 3, 5}));
  EXPECT_EQ(*in[1], (Shape{8, 5}));

  in = {Shape{2, 5}, std::nullopt, Shape{3, 1}};  // MXNet also accepts a (num_hidden, 1) bias
  out = {std::nullopt};
  ASSERT_TRUE(Infer("FullyConnected", {{"num_hidden", "3"}}, &in, &out).ok());
  EXPECT_EQ(*out[0], (Shape{2, 3}));
}

TEST_F(NNParamsTest, ActivationOutputConflictIsInvalidArgument) {
  std::vector<InferShape> in = {Shape{2, 3}}, out = {Shape{2, 4}};
  absl::Status s = Infer("Activation", {{"act_type", "relu"}}, &in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("(2, 3)"), std::string::npos) << s;
  EXPECT_NE(std::string(s.message()).find("(2, 4)"), std::string::npos) << s;
  in = {std::nullopt};
  out = {Shape{5, 6}};
  ASSERT_TRUE(Infer("Activation", {{"act_type", "tanh"}}, &in, &out).ok());
  EXPECT_EQ(*in[0], (Shape{5, 6}));
}

TEST_F(NNParamsTest, SoftmaxOutputLabelShapes) {
  std::vector<InferShape> in = {Shape{4, 3, 5}, std::nullopt}, out;
  ASSERT_TRUE(Infer("SoftmaxOutput", {}, &in, &out).ok());
  EXPECT_EQ(*in[1], (Shape{4, 3}));
  in = {Shape{2, 3, 4, 5}, std::nullopt};
  out = {std::nullopt};
  ASSERT_TRUE(Infer("SoftmaxOutput", {{"multi_output", "True"}}, &in, &out).ok());
  EXPECT_EQ(*in[1], (Shape{2, 20}));
  in = {Shape{4, 3}, Shape{5}};
  out = {std::nullopt};
  absl::Status s = Infer("SoftmaxOutput", {}, &in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "SoftmaxOutput: label shape (5,) conflicts with inferred (4,)");
  in = {Shape{2, 3, 4}, Shape{2, 5}};
  out = {std::nullopt};
  EXPECT_EQ(Infer("SoftmaxOutput", {{"multi_output", "True"}}, &in, &out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NNParamsTest, RegressionLabelShapes) {
  std::vector<InferShape> in = {Shape{6, 1}, std::nullopt}, out;
  ASSERT_TRUE(Infer("LinearRegressionOutput", {}, &in, &out).ok());
  EXPECT_EQ(*in[1], (Shape{6}));
  in = {Shape{6, 2}, std::nullopt};
  out = {std::nullopt};
  ASSERT_TRUE(Infer("MAERegressionOutput", {}, &in, &out).ok());
  EXPECT_EQ(*in[1], (Shape{6, 2}));
  in = {Shape{6, 2}, Shape{3, 4}};
  out = {std::nullopt};
  absl::Status s = Infer("LogisticRegressionOutput", {}, &in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "LogisticRegressionOutput: label shape (3, 4) conflicts with inferred (6, 2)");
}

TEST_F(NNParamsTest, DropoutMaskShapeFollowsAxes) {
  std::vector<InferShape> in = {Shape{2, 3, 4}}, out;
  ASSERT_TRUE(Infer("Dropout", {{"axes", "(0, -1)"}}, &in, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(*out[0], (Shape{2, 3, 4}));
  EXPECT_EQ(*out[1], (Shape{1, 3, 1}));
  in = {Shape{2, 3}};
  out = {};
  EXPECT_EQ(Infer("Dropout", {{"axes", "(2,)"}}, &in, &out).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::ops
