#include "libs/executor/autograd.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "libs/executor/imperative.h"
#include "libs/ops/builtin.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::executor {
namespace {

using tensor::NDArray;

std::shared_ptr<const ops::ParsedOp> Parse(const char* name, const ops::AttrMap& attrs = {}) {
  absl::StatusOr<ops::ParsedOp> op = ops::GlobalRegistry().Parse(name, attrs);
  EXPECT_TRUE(op.ok()) << op.status();
  return std::make_shared<const ops::ParsedOp>(*op);
}

NDArray Array(const Shape& shape, std::vector<float> values) {
  return *NDArray::FromVector<float>(shape, values);
}

std::vector<float> Values(const NDArray& a) {
  absl::StatusOr<std::vector<float>> v = a.ToVector<float>();
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>{};
}

// Invokes and records like the worker does for a call made inside autograd.record().
NDArray Call(Tape& tape, const char* name, std::vector<NDArray> inputs,
             const ops::AttrMap& attrs = {}, bool is_train = true,
             std::vector<NDArray> out = {}) {
  std::shared_ptr<const ops::ParsedOp> op = Parse(name, attrs);
  std::vector<NDArray> all;
  InvokeOptions options;
  options.is_train = is_train;
  options.all_outputs = &all;
  options.out = out;
  absl::StatusOr<std::vector<NDArray>> r = Invoke(op, inputs, options);
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(tape.Record(op, inputs, all, is_train).ok());
  return (*r)[0];
}

struct Var {
  NDArray x, grad;
};

Var Mark(Tape& tape, const Shape& shape, std::vector<float> values,
         GradReq req = GradReq::kWrite) {
  Var v{Array(shape, values), *NDArray::Zeros(shape)};
  EXPECT_TRUE(tape.MarkVariables({v.x}, {v.grad}, {req}).ok());
  return v;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
}

TEST(TapeTest, ProductAndSumOfVariables) {
  Tape tape;
  Var x = Mark(tape, {3}, {1, 2, 3});
  Var y = Mark(tape, {3}, {4, 5, 6});
  // z = x * y + x: dz/dx = y + 1, dz/dy = x.
  NDArray xy = Call(tape, "elemwise_mul", {x.x, y.x});
  NDArray z = Call(tape, "elemwise_add", {xy, x.x});
  ASSERT_TRUE(tape.Backward({z}, {}).ok());
  ExpectNear(Values(x.grad), {5, 6, 7});
  ExpectNear(Values(y.grad), {1, 2, 3});
}

TEST(TapeTest, InputUsedTwiceSumsItsGradients) {
  Tape tape;
  Var x = Mark(tape, {2}, {3, -2});
  NDArray sq = Call(tape, "elemwise_mul", {x.x, x.x});            // x^2
  NDArray cube = Call(tape, "elemwise_mul", {sq, x.x});           // x^3
  NDArray head_grad = Array({2}, {1, 10});
  BackwardOptions options;
  std::vector<NDArray> hg = {head_grad};
  options.head_grads = hg;
  ASSERT_TRUE(tape.Backward({cube}, options).ok());
  ExpectNear(Values(x.grad), {27, 120});  // 3 x^2 * head_grad
}

TEST(TapeTest, FullyConnectedMatchesAnalyticGradients) {
  Tape tape;
  Var data = Mark(tape, {2, 3}, {1, 2, 3, 4, 5, 6});
  Var w = Mark(tape, {2, 3}, {1, 0, -1, 2, 1, 0});
  Var b = Mark(tape, {2}, {0.5, -0.5});
  NDArray y = Call(tape, "FullyConnected", {data.x, w.x, b.x}, {{"num_hidden", "2"}});
  NDArray head = Array({2, 2}, {1, 2, 3, 4});
  std::vector<NDArray> hg = {head};
  BackwardOptions options;
  options.head_grads = hg;
  ASSERT_TRUE(tape.Backward({y}, options).ok());
  // dW = G^T X, dX = G W, db = column sums of G.
  ExpectNear(Values(w.grad), {1 * 1 + 3 * 4, 1 * 2 + 3 * 5, 1 * 3 + 3 * 6,
                              2 * 1 + 4 * 4, 2 * 2 + 4 * 5, 2 * 3 + 4 * 6});
  ExpectNear(Values(data.grad), {1 + 4, 2, -1, 3 + 8, 4, -3});
  ExpectNear(Values(b.grad), {4, 6});
}

TEST(TapeTest, GradReqAddAccumulatesAndNullSkips) {
  Tape tape;
  Var x = Mark(tape, {2}, {1, 2}, GradReq::kAdd);
  Var y = Mark(tape, {2}, {5, 7}, GradReq::kNull);
  for (int i = 0; i < 3; ++i) {
    NDArray z = Call(tape, "elemwise_mul", {x.x, y.x});
    ASSERT_TRUE(tape.Backward({z}, {}).ok());
  }
  ExpectNear(Values(x.grad), {15, 21});
  ExpectNear(Values(y.grad), {0, 0});
}

TEST(TapeTest, SecondBackwardNeedsRetainGraph) {
  Tape tape;
  Var x = Mark(tape, {2}, {1, 2});
  NDArray z = Call(tape, "_mul_scalar", {x.x}, {{"scalar", "3"}});
  BackwardOptions retain;
  retain.retain_graph = true;
  ASSERT_TRUE(tape.Backward({z}, retain).ok());
  ASSERT_TRUE(tape.Backward({z}, {}).ok());
  ExpectNear(Values(x.grad), {3, 3});
  absl::Status again = tape.Backward({z}, {});
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_NE(again.message().find("retain_graph"), std::string::npos);
}

// MXNet's test_cached: `b = b + 1` recorded, backward without retain_graph, then
// `b = b + 1` recorded again from the freed graph's output: that output is a constant now.
TEST(TapeTest, OutputOfAFreedGraphIsAConstantInANewRecording) {
  Tape tape;
  Var x = Mark(tape, {2}, {1, 2});
  Var w = Mark(tape, {2}, {3, 4});
  NDArray b = Call(tape, "_plus_scalar", {x.x}, {{"scalar", "1"}});
  ASSERT_TRUE(tape.Backward({b}, {}).ok());
  ExpectNear(Values(x.grad), {1, 1});
  NDArray c = Call(tape, "elemwise_mul", {b, w.x});  // b = x + 1 = [2, 3]
  ASSERT_TRUE(tape.Backward({c}, {}).ok());
  ExpectNear(Values(w.grad), {2, 3});
  ExpectNear(Values(x.grad), {1, 1});  // untouched: no path back through the freed graph
}

TEST(TapeTest, DropoutBackwardReusesTheForwardMask) {
  Tape tape;
  std::vector<float> ones(1000, 1.0f);
  Var x = Mark(tape, {1000}, ones);
  NDArray y = Call(tape, "Dropout", {x.x}, {{"p", "0.5"}});
  ASSERT_TRUE(tape.Backward({y}, {}).ok());
  std::vector<float> fwd = Values(y), grad = Values(x.grad);
  int zeros = 0;
  for (size_t i = 0; i < fwd.size(); ++i) {
    EXPECT_FLOAT_EQ(grad[i], fwd[i]) << "at " << i;  // y = mask * x / (1-p), x = 1
    zeros += fwd[i] == 0;
  }
  EXPECT_GT(zeros, 350);
  EXPECT_LT(zeros, 650);
}

TEST(TapeTest, InPlaceWriteMakesTheArrayTheNewNodesOutput) {
  Tape tape;
  Var x = Mark(tape, {2}, {1, 2});
  NDArray a = Call(tape, "_mul_scalar", {x.x}, {{"scalar", "2"}});  // a = 2x
  Call(tape, "_mul_scalar", {a}, {{"scalar", "5"}}, true, {a});      // a *= 5
  ASSERT_TRUE(tape.Backward({a}, {}).ok());
  ExpectNear(Values(x.grad), {10, 10});
}

TEST(TapeTest, GradReturnsNewArraysAndLeavesVariablesAlone) {
  Tape tape;
  Var x = Mark(tape, {2}, {1, 2});
  NDArray unused = Array({2}, {0, 0});
  NDArray mid = Call(tape, "elemwise_mul", {x.x, x.x});
  NDArray z = Call(tape, "_mul_scalar", {mid}, {{"scalar", "3"}});
  BackwardOptions options;
  options.retain_graph = true;
  absl::StatusOr<std::vector<NDArray>> g = tape.Grad({z}, {x.x, mid}, options);
  ASSERT_TRUE(g.ok()) << g.status();
  ExpectNear(Values((*g)[0]), {6, 12});
  ExpectNear(Values((*g)[1]), {3, 3});
  ExpectNear(Values(x.grad), {0, 0});
  EXPECT_EQ(tape.Grad({z}, {unused}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  Var other = Mark(tape, {2}, {5, 5});  // on the tape, but z does not depend on it
  std::vector<bool> reached;
  g = tape.Grad({z}, {other.x, x.x}, options, &reached);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(reached, (std::vector<bool>{false, true}));
  ExpectNear(Values((*g)[0]), {0, 0});
}

TEST(TapeTest, ErrorsAreSpecific) {
  Tape tape;
  NDArray c = Array({2}, {1, 2});
  EXPECT_EQ(tape.Backward({c}, {}).code(), absl::StatusCode::kInvalidArgument);
  NDArray d = Call(tape, "_mul_scalar", {c}, {{"scalar", "2"}});  // depends on no variable
  EXPECT_EQ(tape.Backward({d}, {}).code(), absl::StatusCode::kInvalidArgument);
  Var x = Mark(tape, {2}, {1, 2});
  NDArray z = Call(tape, "_mul_scalar", {x.x}, {{"scalar", "2"}});
  NDArray bad = Array({3}, {1, 1, 1});
  std::vector<NDArray> hg = {bad};
  BackwardOptions options;
  options.head_grads = hg;
  EXPECT_EQ(tape.Backward({z}, options).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tape.MarkVariables({x.x}, {bad}, {GradReq::kWrite}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tape.MarkVariables({x.x}, {}, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tape.Record(Parse("elemwise_add"), {c}, {c}, false).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TapeTest, UnreachableNodesAreCollected) {
  Tape tape;
  Var x = Mark(tape, {2}, {1, 2});
  {
    NDArray a = Call(tape, "_mul_scalar", {x.x}, {{"scalar", "2"}});
    NDArray b = Call(tape, "_plus_scalar", {a}, {{"scalar", "1"}});
    ASSERT_TRUE(b.WaitToRead().ok());
  }
  NDArray kept = Call(tape, "_mul_scalar", {x.x}, {{"scalar", "4"}});
  ASSERT_TRUE(kept.WaitToRead().ok());
  EXPECT_EQ(tape.num_nodes(), 4);
  EXPECT_EQ(tape.Collect(), 2);  // a and b: nothing outside the tape holds them
  ASSERT_TRUE(tape.Backward({kept}, {}).ok());
  ExpectNear(Values(x.grad), {4, 4});
}

TEST(TapeTest, TrainingLoopKeepsTheTapeSmall) {
  Tape tape;
  Var w = Mark(tape, {2}, {1, 2});
  NDArray x = Array({2}, {3, 4});
  for (int step = 0; step < 50; ++step) {
    NDArray y = Call(tape, "elemwise_mul", {x, w.x});
    NDArray loss = Call(tape, "sum", {y});
    ASSERT_TRUE(tape.Backward({loss}, {}).ok());
    ASSERT_TRUE(w.grad.WaitToRead().ok());
  }
  // The variable and, at most, the last step's two nodes (their arrays were still held).
  EXPECT_LE(tape.num_nodes(), 3);
  ExpectNear(Values(w.grad), {3, 4});
}

TEST(TapeTest, RecordingWithoutBackwardStaysBounded) {
  Tape tape;
  Var w = Mark(tape, {2}, {1, 2});
  for (int step = 0; step < 3000; ++step) {
    NDArray y = Call(tape, "_mul_scalar", {w.x}, {{"scalar", "2"}});
    ASSERT_TRUE(y.WaitToRead().ok());
  }
  EXPECT_LT(tape.num_nodes(), 1100);  // swept when it reached 1024 nodes
}

}  // namespace
}  // namespace mxgrid::executor
