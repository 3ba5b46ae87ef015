// Executor errors: what Bind, SimpleBind, Forward and Backward reject (with the most specific
// code and a message naming what was wrong), and kernel failures surfacing at the next read
// of what they wrote without breaking the executor.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/executor/executor.h"
#include "libs/ops/builtin.h"

namespace mxgrid::executor {
namespace {

using graph::Symbol;
using ::testing::HasSubstr;

NDArray Zeros(const Shape& shape, DType dtype = DType::kFloat32) {
  absl::StatusOr<NDArray> a = NDArray::Zeros(shape, Context::Cpu(), dtype);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : NDArray();
}

class ExecutorErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Symbol> fc =
        Symbol::Create(ops::GlobalRegistry(), "FullyConnected", {{"num_hidden", "4"}},
                       {{}, {{"data", Symbol::Variable("data")}}}, "fc1", &names_);
    ASSERT_TRUE(fc.ok()) << fc.status();
    fc_ = *fc;
    absl::StatusOr<Symbol> bn =
        Symbol::Create(ops::GlobalRegistry(), "BatchNorm", {},
                       {{}, {{"data", Symbol::Variable("data")}}}, "bn", &names_);
    ASSERT_TRUE(bn.ok()) << bn.status();
    bn_ = *bn;
  }

  // Arguments of fc_ (data, fc1_weight, fc1_bias) for a batch of 2 over 3 features.
  std::vector<NDArray> FcArgs() { return {Zeros({2, 3}), Zeros({4, 3}), Zeros({4})}; }

  absl::Status BindStatus(const Symbol& s, std::vector<NDArray> args,
                          std::vector<NDArray> grads = {}, std::vector<NDArray> aux = {}) {
    return Executor::Bind(s, Context::Cpu(), std::move(args), std::move(grads), {},
                          std::move(aux))
        .status();
  }

  graph::NameManager names_;
  Symbol fc_, bn_;
};

TEST_F(ExecutorErrorsTest, BindRejectsMissingNoneAndMisshapedArguments) {
  absl::Status s = BindStatus(fc_, {Zeros({2, 3}), Zeros({4, 3})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fc1_bias"));

  std::vector<NDArray> args = FcArgs();
  args[1] = NDArray();
  s = BindStatus(fc_, args);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fc1_weight"));
  EXPECT_THAT(s.message(), HasSubstr("missing"));

  args = FcArgs();
  args[1] = Zeros({4, 5});  // data has 3 features
  s = BindStatus(fc_, args);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fc1"));
  EXPECT_THAT(s.message(), HasSubstr("weight"));
  EXPECT_THAT(s.message(), HasSubstr(Shape{4, 5}.ToString()));
  EXPECT_THAT(s.message(), HasSubstr(Shape{4, 3}.ToString()));

  EXPECT_TRUE(BindStatus(fc_, FcArgs()).ok());
}

TEST_F(ExecutorErrorsTest, BindRejectsWrongAuxAndGradients) {
  std::vector<NDArray> bn_args = {Zeros({2, 3}), Zeros({3}), Zeros({3})};
  absl::Status s = BindStatus(bn_, bn_args, {}, {Zeros({3})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bn_moving_var"));
  s = BindStatus(bn_, bn_args, {}, {Zeros({3}), NDArray()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bn_moving_var"));
  EXPECT_TRUE(BindStatus(bn_, bn_args, {}, {Zeros({3}), Zeros({3})}).ok());

  s = BindStatus(fc_, FcArgs(), {NDArray(), Zeros({3, 4}), Zeros({4})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fc1_weight"));
  s = BindStatus(fc_, FcArgs(), {NDArray(), Zeros({4, 3})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = BindStatus(fc_, FcArgs(), {NDArray(), Zeros({4, 3}, DType::kFloat64), Zeros({4})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fc1_weight"));
  absl::StatusOr<std::unique_ptr<Executor>> bad_req = Executor::Bind(
      fc_, Context::Cpu(), FcArgs(), {}, {GradReq::kWrite, GradReq::kNull}, {});
  EXPECT_EQ(bad_req.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ExecutorErrorsTest, SimpleBindListsUnknownShapes) {
  absl::StatusOr<std::unique_ptr<Executor>> e =
      Executor::SimpleBind(fc_, Context::Cpu(), {{"fc1_bias", Shape{4}}});
  ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << e.status();
  EXPECT_THAT(e.status().message(), HasSubstr("data"));
  EXPECT_THAT(e.status().message(), HasSubstr("fc1_weight"));
  e = Executor::SimpleBind(fc_, Context::Cpu(), {{"dtaa", Shape{2, 3}}});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("dtaa"));
  e = Executor::SimpleBind(fc_, Context::Cpu(), {{"data", Shape{2, 3}}}, GradReq::kWrite,
                           {{"fc2_weight", GradReq::kNull}});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("fc2_weight"));
  EXPECT_EQ(ParseGradReq("inplace").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseGradReq("add"), GradReq::kAdd);
}

TEST_F(ExecutorErrorsTest, ForwardRejectsUnknownNamesAndShapes) {
  absl::StatusOr<std::unique_ptr<Executor>> e =
      Executor::SimpleBind(fc_, Context::Cpu(), {{"data", Shape{2, 3}}});
  ASSERT_TRUE(e.ok()) << e.status();
  Executor& exec = **e;
  absl::Status s = exec.Forward(false, {{"dtaa", Zeros({2, 3})}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("dtaa"));
  s = exec.Forward(false, {{"data", Zeros({3, 3})}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("shape"));
  EXPECT_THAT(s.message(), HasSubstr("data"));
  s = exec.Forward(false, {{"data", NDArray()}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(exec.Forward(false, {{"data", Zeros({2, 3})}}).ok());
}

TEST_F(ExecutorErrorsTest, BackwardNeedsHeadGradientsForNonLossHeads) {
  absl::StatusOr<std::unique_ptr<Executor>> e =
      Executor::SimpleBind(fc_, Context::Cpu(), {{"data", Shape{2, 3}}});
  ASSERT_TRUE(e.ok()) << e.status();
  Executor& exec = **e;
  ASSERT_TRUE(exec.Forward(true).ok());
  absl::Status s = exec.Backward();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("head gradient"));
  s = exec.Backward({NDArray()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = exec.Backward({Zeros({2, 4}), Zeros({2, 4})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = exec.Backward({Zeros({4, 2})});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("shape"));
  EXPECT_TRUE(exec.Backward({Zeros({2, 4})}).ok());
}

TEST_F(ExecutorErrorsTest, BackwardWithoutGradientsIsFailedPrecondition) {
  absl::StatusOr<std::unique_ptr<Executor>> e =
      Executor::SimpleBind(fc_, Context::Cpu(), {{"data", Shape{2, 3}}}, GradReq::kNull);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE((*e)->grad_dict().empty());
  ASSERT_TRUE((*e)->Forward(true).ok());
  EXPECT_EQ((*e)->Backward({Zeros({2, 4})}).code(), absl::StatusCode::kFailedPrecondition);
  // Bind with every gradient array none is the same.
  e = Executor::Bind(fc_, Context::Cpu(), FcArgs(), {NDArray(), NDArray(), NDArray()}, {}, {});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->Backward({Zeros({2, 4})}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ExecutorErrorsTest, KernelErrorSurfacesAtReadAndExecutorStaysUsable) {
  // FullyConnected has no integer kernel (as in MXNet, whose type inference accepts int32 but
  // whose kernel fails): the int32 head fails at run time, the float32 head is unaffected.
  absl::StatusOr<Symbol> bad =
      Symbol::Create(ops::GlobalRegistry(), "FullyConnected", {{"num_hidden", "2"}},
                     {{}, {{"data", Symbol::Variable("idata")}}}, "ifc", &names_);
  ASSERT_TRUE(bad.ok()) << bad.status();
  Symbol both = Symbol::Group({*bad, fc_});
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::SimpleBind(
      both, Context::Cpu(), {{"idata", Shape{2, 3}}, {"data", Shape{2, 3}}}, GradReq::kNull, {},
      {{"idata", DType::kInt32}, {"ifc_weight", DType::kInt32}, {"ifc_bias", DType::kInt32}});
  ASSERT_TRUE(e.ok()) << e.status();
  Executor& exec = **e;
  ASSERT_EQ(exec.outputs()[0].dtype(), DType::kInt32);
  std::map<std::string, NDArray> args = exec.arg_dict();
  ASSERT_TRUE(args.at("fc1_bias").Fill(1.5).ok());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(exec.Forward(false, {{"data", Zeros({2, 3})}}).ok()) << round;
    absl::Status s = exec.outputs()[0].WaitToRead();
    EXPECT_FALSE(s.ok()) << round;
    EXPECT_THAT(s.message(), HasSubstr("FullyConnected")) << round;
    absl::StatusOr<std::vector<float>> good = exec.outputs()[1].ToVector<float>();
    ASSERT_TRUE(good.ok()) << round << ": " << good.status();
    EXPECT_EQ(*good, std::vector<float>(8, 1.5f + round)) << round;
    ASSERT_TRUE(args.at("fc1_bias").Fill(2.5).ok());
  }
}

}  // namespace
}  // namespace mxgrid::executor
