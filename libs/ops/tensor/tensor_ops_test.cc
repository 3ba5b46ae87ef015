#include "libs/ops/tensor/tensor_ops.h"

#include <cctype>
#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/base/status_macros.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_cases.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace testing {
// Names cases in gtest output instead of dumping their bytes.
void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }
}  // namespace testing
namespace {

const Registry& TestRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    absl::Status s = RegisterTensorOps(r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }();
  return *registry;
}

TEST(TensorOpsTest, EveryRegisteredOpHasCases) {
  std::set<std::string> covered = testing::CoveredOps(TestRegistry(), TensorCases());
  for (const OpDef* def : TestRegistry().List()) {
    EXPECT_TRUE(covered.count(def->name)) << def->name << " has no consistency case";
  }
}

TEST(TensorOpsTest, RegisteringTwiceIsAlreadyExists) {
  Registry r;
  ASSERT_TRUE(RegisterTensorOps(&r).ok());
  EXPECT_EQ(RegisterTensorOps(&r).code(), absl::StatusCode::kAlreadyExists);
}

TEST(TensorOpsTest, AliasesResolve) {
  for (const char* name : {"_plus", "_Plus", "_minus", "_Mul", "_Div"}) {
    EXPECT_TRUE(TestRegistry().Find(name).ok()) << name;
  }
}

TEST(TensorOpsTest, UnknownParameterIsInvalidArgument) {
  auto op = TestRegistry().Parse("elemwise_add", {{"bogus", "1"}});
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(op.status().message()).find("bogus"), std::string::npos);
}

TEST(TensorOpsTest, ElemwiseShapeConflictNamesBothShapes) {
  auto op = TestRegistry().Parse("elemwise_add", {});
  ASSERT_TRUE(op.ok());
  std::vector<InferShape> in = {Shape{2, 3}, Shape{2, 4}}, out(1);
  absl::Status s = op->InferShapes(&in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "elemwise_add: input 1 shape (2, 4) conflicts with (2, 3)");
}

TEST(TensorOpsTest, ElemwiseShapeFillsBothWays) {
  auto op = TestRegistry().Parse("elemwise_mul", {});
  ASSERT_TRUE(op.ok());
  std::vector<InferShape> in = {std::nullopt, Shape{-1, 3}}, out = {Shape{2, -1}};
  ASSERT_TRUE(op->InferShapes(&in, &out).ok());
  EXPECT_EQ(*in[0], (Shape{2, 3}));
  EXPECT_EQ(*out[0], (Shape{2, 3}));
}

TEST(TensorOpsTest, CastConvertsBetweenDtypes) {
  auto op = TestRegistry().Parse("Cast", {{"dtype", "int32"}});
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<InferType> in = {DType::kFloat32}, out(1);
  ASSERT_TRUE(op->InferTypes(&in, &out).ok());
  EXPECT_EQ(*out[0], DType::kInt32);
  std::vector<float> x = {1.7f, -2.5f, 3.0f};
  std::vector<int32_t> y = {9, 9, 9};
  TensorView xv{x.data(), Shape{3}, DType::kFloat32, Context::Cpu()};
  TensorView yv{y.data(), Shape{3}, DType::kInt32, Context::Cpu()};
  ASSERT_TRUE(op->Forward({}, {xv}, {OpReq::kWriteTo}, {yv}).ok());
  EXPECT_EQ(y, (std::vector<int32_t>{1, -2, 3}));
  // The gradient converts back.
  std::vector<int32_t> dy = {4, 5, 6};
  std::vector<float> dx = {1, 1, 1};
  TensorView dyv{dy.data(), Shape{3}, DType::kInt32, Context::Cpu()};
  TensorView dxv{dx.data(), Shape{3}, DType::kFloat32, Context::Cpu()};
  std::vector<OpReq> reqs = {OpReq::kAddTo};
  BackwardArgs args{absl::MakeSpan(&dyv, 1), {}, {}, absl::MakeSpan(&dxv, 1), reqs};
  ASSERT_TRUE(op->Backward({}, args).ok());
  EXPECT_EQ(dx, (std::vector<float>{5, 6, 7}));
}

TEST(TensorOpsTest, CastRequiresDtype) {
  auto op = TestRegistry().Parse("Cast", {});
  EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument);
  op = TestRegistry().Parse("Cast", {{"dtype", "float99"}});
  EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorOpsTest, ClipRequiresBounds) {
  auto op = TestRegistry().Parse("clip", {{"a_min", "0"}});
  EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(op.status().message()).find("a_max"), std::string::npos);
}

TEST(TensorOpsTest, ElementWiseSumNamesArgsAndNeedsNumArgs) {
  auto op = TestRegistry().Parse("ElementWiseSum", {{"num_args", "3"}});
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->input_names(), (std::vector<std::string>{"arg0", "arg1", "arg2"}));
  EXPECT_EQ(TestRegistry().Parse("add_n", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TestRegistry().Parse("add_n", {{"num_args", "x"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorOpsTest, BroadcastIncompatibleShapesIsInvalidArgument) {
  auto op = TestRegistry().Parse("broadcast_add", {});
  ASSERT_TRUE(op.ok());
  std::vector<InferShape> in = {Shape{2, 3}, Shape{4, 3}}, out(1);
  absl::Status s = op->InferShapes(&in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("(2, 3) (4, 3)"), std::string::npos) << s;
  in = {Shape{3, 1}, Shape{4}};
  out = {std::nullopt};
  ASSERT_TRUE(op->InferShapes(&in, &out).ok());
  EXPECT_EQ(*out[0], (Shape{3, 4}));
}

TEST(TensorOpsTest, ReduceShapes) {
  struct Want {
    AttrMap attrs;
    Shape out;
  };
  for (const Want& w : std::vector<Want>{{{}, {1}},
                                         {{{"axis", "()"}, {"keepdims", "1"}}, {1, 1, 1}},
                                         {{{"axis", "1"}, {"exclude", "True"}}, {3}},
                                         {{{"axis", "(0, -1)"}}, {3}}}) {
    auto op = TestRegistry().Parse("sum", w.attrs);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<InferShape> in = {Shape{2, 3, 4}}, out(1);
    ASSERT_TRUE(op->InferShapes(&in, &out).ok());
    EXPECT_EQ(*out[0], w.out);
  }
}

TEST(TensorOpsTest, ReduceAxisErrors) {
  std::vector<InferShape> in = {Shape{2, 3}}, out(1);
  auto op = TestRegistry().Parse("sum", {{"axis", "2"}});
  ASSERT_TRUE(op.ok());
  absl::Status s = op->InferShapes(&in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("axis 2 is out of range"), std::string::npos) << s;
  op = TestRegistry().Parse("mean", {{"axis", "(0, -2)"}});
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->InferShapes(&in, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TestRegistry().Parse("max", {{"axis", "(1, x)"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TestRegistry().Parse("argmax", {{"axis", "(1, 2)"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Output shape of `op` on `in`, or the error.
absl::StatusOr<Shape> OutShape(const std::string& op, const AttrMap& attrs, const Shape& in) {
  auto parsed = TestRegistry().Parse(op, attrs);
  if (!parsed.ok()) return parsed.status();
  std::vector<InferShape> ins = {in}, outs(1);
  absl::Status s = parsed->InferShapes(&ins, &outs);
  if (!s.ok()) return s;
  return *outs[0];
}

// Expected values are real MXNet 1.9.1's.
TEST(TensorOpsTest, ReshapeCodesMatchMXNet) {
  struct Want {
    Shape in;
    std::string shape;
    bool reverse;
    Shape out;
  };
  for (const Want& w : std::vector<Want>{
           {{2, 3, 4}, "(4, 0, 2)", false, {4, 3, 2}},
           {{2, 3, 4}, "(2, 0, 0)", false, {2, 3, 4}},
           {{2, 3, 4}, "(6, 1, -1)", false, {6, 1, 4}},
           {{2, 3, 4}, "(3, -1, 8)", false, {3, 1, 8}},
           {{2, 3, 4}, "(-1,)", false, {24}},
           {{2, 3, 4}, "(2, -2)", false, {2, 3, 4}},
           {{2, 3, 4}, "(-2, 1, 1)", false, {2, 3, 4, 1, 1}},
           {{2, 3, 4}, "(-3, 4)", false, {6, 4}},
           {{2, 3, 4, 5}, "(-3, -3)", false, {6, 20}},
           {{2, 3, 4, 5}, "(0, -3, -2)", false, {2, 12, 5}},
           {{2, 3, 4}, "(-4, 1, 2, -2)", false, {1, 2, 3, 4}},
           {{2, 3, 4}, "(2, -4, -1, 3, -2)", false, {2, 1, 3, 4}},
           {{10, 5, 4}, "(-1, 0)", true, {50, 4}},
           {{10, 5, 4}, "(-1, 0)", false, {40, 5}}}) {
    auto got = OutShape("Reshape", {{"shape", w.shape}, {"reverse", w.reverse ? "1" : "0"}},
                        w.in);
    ASSERT_TRUE(got.ok()) << w.shape << ": " << got.status();
    EXPECT_EQ(*got, w.out) << w.in << " " << w.shape;
  }
}

TEST(TensorOpsTest, ReshapeRejectsBadCodesAndSizes) {
  EXPECT_EQ(OutShape("Reshape", {{"shape", "(-5,)"}}, {2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OutShape("Reshape", {{"shape", "(2, x)"}}, {2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // MXNet 1.9's imperative reshape silently returns (5, 4) here (and (2, 12) for (0, -3) on
  // (2, 3, 4, 5)); a size mismatch is rejected instead.
  auto s = OutShape("Reshape", {{"shape", "(5, -1)"}}, {2, 3, 4}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("Reshape: cannot reshape (2, 3, 4)"),
            std::string::npos) << s;
  EXPECT_FALSE(OutShape("Reshape", {{"shape", "(-1, -1)"}}, {2, 3}).ok());
  EXPECT_FALSE(OutShape("Reshape", {{"shape", "(-4, -1, -1)"}}, {2, 3}).ok());
  EXPECT_FALSE(OutShape("Reshape", {{"shape", "(7,)"}}, {2, 3}).ok());
}

TEST(TensorOpsTest, ShapeOpsAxes) {
  EXPECT_EQ(*OutShape("expand_dims", {{"axis", "2"}}, {2, 3}), (Shape{2, 3, 1}));
  EXPECT_EQ(*OutShape("expand_dims", {{"axis", "-3"}}, {2, 3}), (Shape{1, 2, 3}));
  EXPECT_EQ(OutShape("expand_dims", {{"axis", "3"}}, {2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*OutShape("squeeze", {}, {1, 1}), (Shape{1}));
  EXPECT_EQ(*OutShape("squeeze", {{"axis", "None"}}, {2, 1, 3}), (Shape{2, 3}));
  EXPECT_EQ(OutShape("squeeze", {{"axis", "0"}}, {2, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*OutShape("Flatten", {}, {2, 3, 4}), (Shape{2, 12}));
  EXPECT_EQ(*OutShape("transpose", {}, {2, 3, 4}), (Shape{4, 3, 2}));
  EXPECT_EQ(OutShape("transpose", {{"axes", "(0, 0)"}}, {2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OutShape("transpose", {{"axes", "(0, 1)"}}, {2, 3, 4}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorOpsTest, ConcatInfersBothWays) {
  auto op = TestRegistry().Parse("Concat", {{"num_args", "2"}, {"dim", "1"}});
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->input_names(), (std::vector<std::string>{"arg0", "arg1"}));
  std::vector<InferShape> in = {Shape{2, 3}, std::nullopt}, out = {Shape{2, 5}};
  ASSERT_TRUE(op->InferShapes(&in, &out).ok());
  EXPECT_EQ(*in[1], (Shape{2, 2}));
  in = {Shape{2, 3}, Shape{3, 3}};
  out = {std::nullopt};
  absl::Status s = op->InferShapes(&in, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("Concat: input 1 shape"), std::string::npos) << s;
  op = TestRegistry().Parse("Concat", {{"num_args", "2"}, {"dim", "2"}});
  ASSERT_TRUE(op.ok());
  in = {Shape{2, 3}, Shape{2, 3}};
  EXPECT_EQ(op->InferShapes(&in, &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorOpsTest, SplitAndSliceErrors) {
  auto op = TestRegistry().Parse("SliceChannel", {{"num_outputs", "3"}});
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->output_names(), (std::vector<std::string>{"output0", "output1", "output2"}));
  std::vector<InferShape> in = {Shape{2, 4}}, out(3);
  EXPECT_EQ(op->InferShapes(&in, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OutShape("slice_axis", {{"axis", "0"}, {"begin", "3"}, {"end", "2"}}, {4})
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OutShape("slice_axis", {{"axis", "1"}, {"begin", "0"}, {"end", "None"}}, {4})
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TestRegistry().Parse("slice_axis", {{"axis", "0"}, {"begin", "0"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorOpsTest, DotShapes) {
  auto dot = [](const AttrMap& attrs, const Shape& l, const Shape& r,
                const std::string& op = "dot") -> absl::StatusOr<Shape> {
    auto parsed = TestRegistry().Parse(op, attrs);
    if (!parsed.ok()) return parsed.status();
    std::vector<InferShape> in = {l, r}, out(1);
    MXGRID_RETURN_IF_ERROR(parsed->InferShapes(&in, &out));
    return *out[0];
  };
  EXPECT_EQ(*dot({}, {5}, {5}), (Shape{1}));
  EXPECT_EQ(*dot({}, {2, 3, 4}, {4, 5}), (Shape{2, 3, 5}));
  EXPECT_EQ(*dot({{"transpose_a", "1"}}, {4, 2, 3}, {4, 5}), (Shape{2, 3, 5}));
  EXPECT_EQ(*dot({{"transpose_b", "1"}}, {2, 4}, {5, 3, 4}), (Shape{2, 5, 3}));
  EXPECT_EQ(*dot({}, {7, 2, 3}, {7, 3, 4}, "batch_dot"), (Shape{7, 2, 4}));
  absl::Status s = dot({}, {2, 3}, {4, 5}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("dot: lhs (2, 3) and rhs (4, 5)"), std::string::npos);
  EXPECT_EQ(dot({}, {2, 3}, {3, 4}, "batch_dot").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dot({}, {2, 2, 3}, {3, 3, 4}, "batch_dot").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorOpsTest, IndexOpShapesAndTypes) {
  EXPECT_EQ(*OutShape("one_hot", {{"depth", "4"}}, {2, 3}), (Shape{2, 3, 4}));
  EXPECT_EQ(TestRegistry().Parse("one_hot", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto oh = TestRegistry().Parse("one_hot", {{"depth", "2"}, {"dtype", "int32"}});
  ASSERT_TRUE(oh.ok());
  std::vector<InferType> tin(1), tout(1);
  ASSERT_TRUE(oh->InferTypes(&tin, &tout).ok());
  EXPECT_EQ(*tout[0], DType::kInt32);

  auto emb = TestRegistry().Parse("Embedding", {{"input_dim", "10"}, {"output_dim", "4"}});
  ASSERT_TRUE(emb.ok());
  EXPECT_EQ(emb->input_names(), (std::vector<std::string>{"data", "weight"}));
  std::vector<InferShape> in = {Shape{2, 3}, std::nullopt}, out(1);
  ASSERT_TRUE(emb->InferShapes(&in, &out).ok());
  EXPECT_EQ(*in[1], (Shape{10, 4}));
  EXPECT_EQ(*out[0], (Shape{2, 3, 4}));
  in = {Shape{2}, Shape{10, 5}};
  EXPECT_EQ(emb->InferShapes(&in, &out).code(), absl::StatusCode::kInvalidArgument);

  auto where = TestRegistry().Parse("where", {});
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(where->input_names(), (std::vector<std::string>{"condition", "x", "y"}));
  in = {Shape{3}, Shape{2, 3}, Shape{2, 3}};
  out = {std::nullopt};
  EXPECT_EQ(where->InferShapes(&in, &out).code(), absl::StatusCode::kInvalidArgument);
}

class TensorCaseTest : public ::testing::TestWithParam<testing::OpCase> {};

TEST_P(TensorCaseTest, MatchesReferenceAndGradients) {
  testing::CheckCase(TestRegistry(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(All, TensorCaseTest, ::testing::ValuesIn(TensorCases()),
                         [](const ::testing::TestParamInfo<testing::OpCase>& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace mxgrid::ops
