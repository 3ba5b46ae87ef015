// Executors bound with gradients for only some inputs of a multi-input operator
// (grad_req null for the others), then forward(is_train=True) and backward: the inputs that
// have a gradient array get the right values (the same as when every input has one), the
// others are skipped, and the worker lives. MXNet allows any mix of 'write', 'add' and
// 'null' per argument.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/live_server.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::FloatMeta;
using integration::ServerProcess;
using integration::SetTimeout;
using integration::WorkerClient;
using ::testing::ElementsAreArray;
using ::testing::FloatNear;
using ::testing::Pointwise;

// MXNet JSON of one operator `op` (with `attrs`, a JSON object) over variables `inputs`.
std::string OneOpJson(const std::string& op, const std::string& attrs,
                      const std::vector<std::string>& inputs) {
  std::vector<std::string> nodes, entries, arg_nodes, row_ptr = {"0"};
  for (size_t i = 0; i < inputs.size(); ++i) {
    nodes.push_back(absl::StrCat(R"({"op": "null", "name": ")", inputs[i], R"(", "inputs": []})"));
    entries.push_back(absl::StrCat("[", i, ", 0, 0]"));
    arg_nodes.push_back(absl::StrCat(i));
    row_ptr.push_back(absl::StrCat(i + 1));
  }
  const size_t n = inputs.size();
  nodes.push_back(absl::StrCat(R"({"op": ")", op, R"(", "name": "out", "attrs": )", attrs,
                               R"(, "inputs": [)", absl::StrJoin(entries, ", "), "]}"));
  row_ptr.push_back(absl::StrCat(n + 1));
  return absl::StrCat(R"({"nodes": [)", absl::StrJoin(nodes, ", "), R"(], "arg_nodes": [)",
                      absl::StrJoin(arg_nodes, ", "), R"(], "node_row_ptr": [)",
                      absl::StrJoin(row_ptr, ", "), R"(], "heads": [[)", n,
                      R"(, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}})");
}

struct Input {
  std::vector<int64_t> shape;
  std::vector<float> value;
  v1::OpReq req;  // OP_REQ_NULL: no gradient array
  std::vector<float> expected_grad;  // for out_grad below; the initial 7s where 'add'
};

class BadExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerProcess>> started = StartServer(ServerKind::kWorker);
    ASSERT_TRUE(started.ok()) << started.status();
    worker_ = std::move(*started);
    w_ = std::make_unique<WorkerClient>(worker_->NewChannel());
    ASSERT_TRUE(w_->Open().ok());
  }
  void TearDown() override {
    const absl::Status alive = CheckServing(*worker_, ServerKind::kWorker);
    EXPECT_TRUE(alive.ok()) << alive;
  }

  // Binds `json` to `inputs` (gradient arrays filled with 7 where req is not null), runs
  // forward(is_train) and backward(out_grad); the output and each gradient (empty where
  // req is null).
  void Run(const std::string& json, const std::vector<Input>& inputs,
           const std::vector<int64_t>& out_shape, const std::vector<float>& out_grad,
           std::vector<float>* out, std::vector<std::vector<float>>* grads) {
    v1::BindRequest bind;
    bind.set_session(w_->session());
    bind.mutable_symbol()->set_json(json);
    std::vector<uint64_t> grad_handles;
    for (const Input& in : inputs) {
      uint64_t arg = 0, grad = 0;
      ASSERT_TRUE(w_->UploadFloats(in.shape, in.value, &arg).ok());
      if (in.req != v1::OP_REQ_NULL) ASSERT_TRUE(w_->Create(FloatMeta(in.shape), 7, &grad).ok());
      bind.add_args(arg);
      bind.add_arg_grads(grad);
      bind.add_grad_reqs(in.req);
      grad_handles.push_back(grad);
    }
    v1::BindResponse bound;
    grpc::Status s;
    {
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(30));
      s = w_->stub()->Bind(&context, bind, &bound);
    }
    ASSERT_TRUE(s.ok()) << "Bind: " << Describe(s);
    v1::ForwardRequest forward;
    forward.set_session(w_->session());
    forward.set_executor(bound.executor());
    forward.set_is_train(true);
    forward.set_return_values(true);
    v1::ForwardResponse outputs;
    {
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(30));
      s = w_->stub()->Forward(&context, forward, &outputs);
    }
    ASSERT_TRUE(s.ok()) << "Forward: " << Describe(s);
    ASSERT_EQ(outputs.values_size(), 1);
    EXPECT_THAT(outputs.values(0).meta().shape(), ElementsAreArray(out_shape));
    *out = integration::TensorFloats(outputs.values(0));

    uint64_t head_grad = 0;
    ASSERT_TRUE(w_->UploadFloats(out_shape, out_grad, &head_grad).ok());
    v1::BackwardRequest backward;
    backward.set_session(w_->session());
    backward.set_executor(bound.executor());
    backward.add_out_grads(head_grad);
    v1::BackwardResponse done;
    {
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(30));
      s = w_->stub()->Backward(&context, backward, &done);
    }
    ASSERT_TRUE(s.ok()) << "Backward: " << Describe(s);
    grads->assign(inputs.size(), {});
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (grad_handles[i] == 0) continue;
      s = w_->DownloadFloats(grad_handles[i], &(*grads)[i]);
      ASSERT_TRUE(s.ok()) << "gradient of input " << i << ": " << Describe(s);
    }
  }

  // Run, then checks the output and every gradient against the inputs' expected_grad.
  void BindForwardBackward(const std::string& json, const std::vector<Input>& inputs,
                           const std::vector<int64_t>& out_shape,
                           const std::vector<float>& expected_out,
                           const std::vector<float>& out_grad) {
    std::vector<float> out;
    std::vector<std::vector<float>> grads;
    ASSERT_NO_FATAL_FAILURE(Run(json, inputs, out_shape, out_grad, &out, &grads));
    EXPECT_THAT(out, ElementsAreArray(expected_out));
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].req == v1::OP_REQ_NULL) continue;
      EXPECT_THAT(grads[i], ElementsAreArray(inputs[i].expected_grad)) << "gradient of input " << i;
    }
  }

  std::unique_ptr<ServerProcess> worker_;
  std::unique_ptr<WorkerClient> w_;
};

// out = Concat(a (2x2), b (2x3), dim=1), 2x5; out_grad = 1..10.
constexpr char kConcatAttrs[] = R"({"num_args": "2", "dim": "1"})";
const std::vector<float> kA = {1, 2, 3, 4}, kB = {5, 6, 7, 8, 9, 10};
const std::vector<float> kConcat = {1, 2, 5, 6, 7, 3, 4, 8, 9, 10};
const std::vector<float> kOutGrad = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
const std::vector<float> kGradA = {1, 2, 6, 7}, kGradB = {3, 4, 5, 8, 9, 10};

TEST_F(BadExecutorTest, ConcatWithAGradientForTheFirstInputOnly) {
  BindForwardBackward(OneOpJson("Concat", kConcatAttrs, {"a", "b"}),
                      {{{2, 2}, kA, v1::OP_REQ_WRITE_TO, kGradA}, {{2, 3}, kB, v1::OP_REQ_NULL, {}}},
                      {2, 5}, kConcat, kOutGrad);
}

TEST_F(BadExecutorTest, ConcatWithAGradientForTheSecondInputOnly) {
  BindForwardBackward(OneOpJson("Concat", kConcatAttrs, {"a", "b"}),
                      {{{2, 2}, kA, v1::OP_REQ_NULL, {}}, {{2, 3}, kB, v1::OP_REQ_WRITE_TO, kGradB}},
                      {2, 5}, kConcat, kOutGrad);
}

TEST_F(BadExecutorTest, ConcatOfThreeWithTheMiddleGradientMissingAndOneAdded) {
  // Concat(a 1x1, b 1x2, c 1x1) = [1, 2, 3, 4]; out_grad [10, 20, 30, 40]; c's gradient is
  // added to its initial 7s.
  BindForwardBackward(OneOpJson("Concat", R"({"num_args": "3", "dim": "1"})", {"a", "b", "c"}),
                      {{{1, 1}, {1}, v1::OP_REQ_WRITE_TO, {10}},
                       {{1, 2}, {2, 3}, v1::OP_REQ_NULL, {}},
                       {{1, 1}, {4}, v1::OP_REQ_ADD_TO, {47}}},
                      {1, 4}, {1, 2, 3, 4}, {10, 20, 30, 40});
}

TEST_F(BadExecutorTest, ElementwiseMulWithOneGradient) {
  // d(a*b)/da = b * out_grad.
  BindForwardBackward(OneOpJson("elemwise_mul", "{}", {"a", "b"}),
                      {{{2, 2}, kA, v1::OP_REQ_NULL, {}},
                       {{2, 2}, {5, 6, 7, 8}, v1::OP_REQ_WRITE_TO, {1, 4, 9, 16}}},
                      {2, 2}, {5, 12, 21, 32}, {1, 2, 3, 4});
}

TEST_F(BadExecutorTest, BroadcastAddWithOnlyTheBroadcastInputsGradient) {
  // a (2x3) + b (1x3): b's gradient sums out_grad over the broadcast axis.
  BindForwardBackward(OneOpJson("broadcast_add", "{}", {"a", "b"}),
                      {{{2, 3}, {1, 2, 3, 4, 5, 6}, v1::OP_REQ_NULL, {}},
                       {{1, 3}, {10, 20, 30}, v1::OP_REQ_WRITE_TO, {5, 7, 9}}},
                      {2, 3}, {11, 22, 33, 14, 25, 36}, {1, 2, 3, 4, 5, 6});
}


// where(cond, x, y) with cond [1 0 0 1]: out = [x0 y1 y2 x3]; out_grad [1 2 3 4].
const std::vector<float> kCond = {1, 0, 0, 1}, kX = {1, 2, 3, 4}, kY = {5, 6, 7, 8};

TEST_F(BadExecutorTest, WhereWithAGradientForYOnly) {
  BindForwardBackward(OneOpJson("where", "{}", {"c", "x", "y"}),
                      {{{2, 2}, kCond, v1::OP_REQ_NULL, {}},
                       {{2, 2}, kX, v1::OP_REQ_NULL, {}},
                       {{2, 2}, kY, v1::OP_REQ_WRITE_TO, {0, 2, 3, 0}}},
                      {2, 2}, {1, 6, 7, 4}, {1, 2, 3, 4});
}

TEST_F(BadExecutorTest, WhereWithAGradientForTheConditionOnly) {
  // The condition's gradient is zero (MXNet's where).
  BindForwardBackward(OneOpJson("where", "{}", {"c", "x", "y"}),
                      {{{2, 2}, kCond, v1::OP_REQ_WRITE_TO, {0, 0, 0, 0}},
                       {{2, 2}, kX, v1::OP_REQ_NULL, {}},
                       {{2, 2}, kY, v1::OP_REQ_NULL, {}}},
                      {2, 2}, {1, 6, 7, 4}, {1, 2, 3, 4});
}

TEST_F(BadExecutorTest, BroadcastMulWithAGradientForOneInputOnly) {
  // a (2x3) * b (1x3), out_grad 1: da = b broadcast, db = column sums of a.
  const std::string json = OneOpJson("broadcast_mul", "{}", {"a", "b"});
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {10, 20, 30}, ones(6, 1);
  const std::vector<float> product = {10, 40, 90, 40, 100, 180};
  BindForwardBackward(json, {{{2, 3}, a, v1::OP_REQ_WRITE_TO, {10, 20, 30, 10, 20, 30}},
                             {{1, 3}, b, v1::OP_REQ_NULL, {}}},
                      {2, 3}, product, ones);
  BindForwardBackward(json, {{{2, 3}, a, v1::OP_REQ_NULL, {}},
                             {{1, 3}, b, v1::OP_REQ_WRITE_TO, {5, 7, 9}}},
                      {2, 3}, product, ones);
}

// For each broadcast operator whose gradient reads its inputs, the gradient of one input
// alone equals that input's gradient when both are requested.
TEST_F(BadExecutorTest, BroadcastGradientsDoNotDependOnTheOtherInputsRequest) {
  const std::vector<float> a = {1.5, 2, 0.5, 3, 1.25, 2.5}, b = {2, 0.5, 1.5};
  const std::vector<float> out_grad = {1, 2, 3, 4, 5, 6};
  for (const char* op : {"broadcast_mul", "broadcast_div", "broadcast_mod", "broadcast_power",
                         "broadcast_maximum", "broadcast_minimum"}) {
    SCOPED_TRACE(op);
    const std::string json = OneOpJson(op, "{}", {"a", "b"});
    std::vector<float> out;
    std::vector<std::vector<float>> both, only_a, only_b;
    ASSERT_NO_FATAL_FAILURE(Run(json, {{{2, 3}, a, v1::OP_REQ_WRITE_TO, {}},
                                       {{1, 3}, b, v1::OP_REQ_WRITE_TO, {}}},
                                {2, 3}, out_grad, &out, &both));
    ASSERT_NO_FATAL_FAILURE(Run(json, {{{2, 3}, a, v1::OP_REQ_WRITE_TO, {}},
                                       {{1, 3}, b, v1::OP_REQ_NULL, {}}},
                                {2, 3}, out_grad, &out, &only_a));
    ASSERT_NO_FATAL_FAILURE(Run(json, {{{2, 3}, a, v1::OP_REQ_NULL, {}},
                                       {{1, 3}, b, v1::OP_REQ_WRITE_TO, {}}},
                                {2, 3}, out_grad, &out, &only_b));
    EXPECT_THAT(only_a[0], Pointwise(FloatNear(1e-5), both[0])) << "gradient of a alone";
    EXPECT_THAT(only_b[1], Pointwise(FloatNear(1e-5), both[1])) << "gradient of b alone";
  }
}

}  // namespace
}  // namespace mxgrid::robustness
