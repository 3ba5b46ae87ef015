// GetExecutorSymbol, the executor optimizer's state RPCs and monitored runs over a real gRPC
// server on a loopback port, planning with a real Compiler service.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/json.h"
#include "libs/graph/testing/models.h"
#include "libs/ops/builtin.h"
#include "services/worker/testing/worker_fixture.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ExecutorStateTest : public WorkerFixture {
 protected:
  // The 5-4-3 MLP bound for a batch of 2, gradients for the parameters only.
  uint64_t BindMlp() {
    absl::StatusOr<graph::Symbol> net = graph::models::Mlp({4}, 3);
    EXPECT_TRUE(net.ok());
    v1::SimpleBindRequest bind;
    bind.set_session(session_);
    bind.mutable_symbol()->set_json(graph::SaveJson(*net));
    v1::TensorMeta data;
    data.add_shape(2);
    data.add_shape(5);
    (*bind.mutable_inputs())["data"] = data;
    bind.set_grad_req("write");
    (*bind.mutable_grad_req_by_name())["data"] = "null";
    (*bind.mutable_grad_req_by_name())["softmax_label"] = "null";
    v1::BindResponse bound;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->SimpleBind(&ctx, bind, &bound);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return bound.executor();
  }

  grpc::Status Step(uint64_t exec, bool monitor, v1::ForwardResponse* out) {
    v1::ForwardRequest step;
    step.set_session(session_);
    step.set_executor(exec);
    step.set_is_train(true);
    step.set_backward(true);
    step.set_update(true);
    step.set_monitor(monitor);
    (*step.mutable_values())["data"] = FloatTensor({2, 5}, std::vector<float>(10, 1));
    (*step.mutable_values())["softmax_label"] = FloatTensor({2}, {0, 2});
    grpc::ClientContext ctx;
    return stub_->Forward(&ctx, step, out);
  }

  grpc::Status GetStates(uint64_t exec, v1::GetExecutorOptimizerStatesResponse* out) {
    v1::GetExecutorOptimizerStatesRequest req;
    req.set_session(session_);
    req.set_executor(exec);
    grpc::ClientContext ctx;
    return stub_->GetExecutorOptimizerStates(&ctx, req, out);
  }

  grpc::Status SetStates(const v1::SetExecutorOptimizerStatesRequest& req) {
    v1::SetExecutorOptimizerStatesResponse resp;
    grpc::ClientContext ctx;
    return stub_->SetExecutorOptimizerStates(&ctx, req, &resp);
  }

};

TEST_F(ExecutorStateTest, OptimizerStatesRoundTrip) {
  const uint64_t exec = BindMlp();
  v1::GetExecutorOptimizerStatesResponse states;
  EXPECT_EQ(GetStates(exec, &states).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  v1::SetExecutorOptimizerRequest opt;
  opt.set_session(session_);
  opt.set_executor(exec);
  opt.set_name("sgd");
  (*opt.mutable_params())["learning_rate"] = "0.5";
  (*opt.mutable_params())["momentum"] = "0.9";
  v1::SetExecutorOptimizerResponse opt_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->SetExecutorOptimizer(&ctx, opt, &opt_resp).ok());
  }
  v1::ForwardResponse out;
  ASSERT_TRUE(Step(exec, false, &out).ok());
  ASSERT_TRUE(GetStates(exec, &states).ok());
  ASSERT_EQ(states.states_size(), 4);  // fc1 weight, bias, fc2 weight, bias
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(states.states(i).index(), i);
    EXPECT_EQ(states.states(i).update_count(), 1);
    ASSERT_EQ(states.states(i).arrays_size(), 1);
  }
  EXPECT_THAT(states.states(3).arrays(0).meta().shape(), ElementsAre(3));

  // fc2_bias's momentum replaced, with its update count.
  v1::SetExecutorOptimizerStatesRequest set;
  set.set_session(session_);
  set.set_executor(exec);
  v1::ExecutorOptimizerState* st = set.add_states();
  st->set_index(3);
  st->set_update_count(7);
  st->add_arrays()->set_handle(Upload({3}, {1, 2, 3}));
  ASSERT_TRUE(SetStates(set).ok());
  ASSERT_TRUE(GetStates(exec, &states).ok());
  EXPECT_EQ(states.states(3).update_count(), 7);
  EXPECT_THAT(Download(states.states(3).arrays(0).handle()), ElementsAre(1, 2, 3));

  st->set_index(9);
  grpc::Status bad = SetStates(set);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("index 9"));
  st->set_index(3);
  st->mutable_arrays(0)->set_handle(Upload({4}, {1, 2, 3, 4}));
  EXPECT_EQ(SetStates(set).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  st->mutable_arrays(0)->set_handle(123456);
  EXPECT_EQ(SetStates(set).error_code(), grpc::StatusCode::NOT_FOUND);
  // A refused request changed nothing.
  ASSERT_TRUE(GetStates(exec, &states).ok());
  EXPECT_THAT(Download(states.states(3).arrays(0).handle()), ElementsAre(1, 2, 3));
}

TEST_F(ExecutorStateTest, MonitoredStepReturnsEveryOperatorOutput) {
  const uint64_t exec = BindMlp();
  v1::SetExecutorOptimizerRequest opt;
  opt.set_session(session_);
  opt.set_executor(exec);
  opt.set_name("sgd");
  v1::SetExecutorOptimizerResponse opt_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->SetExecutorOptimizer(&ctx, opt, &opt_resp).ok());
  }
  v1::ForwardResponse out;
  ASSERT_TRUE(Step(exec, false, &out).ok());
  EXPECT_EQ(out.monitored_size(), 0);
  ASSERT_TRUE(Step(exec, true, &out).ok());
  std::vector<std::string> names;
  for (const v1::MonitoredArray& m : out.monitored()) names.push_back(m.name());
  EXPECT_THAT(names, ElementsAre("fc1_output", "relu1_output", "fc2_output", "softmax_output",
                                 "softmax_backward_output0", "softmax_backward_output1",
                                 "fc2_backward_output0", "fc2_backward_output1",
                                 "fc2_backward_output2", "relu1_backward_output",
                                 "fc1_backward_output0", "fc1_backward_output1",
                                 "fc1_backward_output2"));
  EXPECT_THAT(out.monitored(3).array().meta().shape(), ElementsAre(2, 3));
}

TEST_F(ExecutorStateTest, ExecutorSymbolIsTheMergedGraphUnlessKept) {
  const std::string json = R"({"nodes": [
      {"op": "null", "name": "a", "inputs": []},
      {"op": "null", "name": "b", "inputs": []},
      {"op": "elemwise_add", "name": "p0", "inputs": [[0, 0, 0], [1, 0, 0]]},
      {"op": "elemwise_add", "name": "p1", "inputs": [[0, 0, 0], [1, 0, 0]]},
      {"op": "elemwise_add", "name": "p2", "inputs": [[2, 0, 0], [3, 0, 0]]}],
    "arg_nodes": [0, 1], "heads": [[4, 0, 0]]})";
  for (bool keep : {false, true}) {
    v1::SimpleBindRequest bind;
    bind.set_session(session_);
    bind.mutable_symbol()->set_json(json);
    v1::TensorMeta meta;
    meta.add_shape(3);
    (*bind.mutable_inputs())["a"] = meta;
    (*bind.mutable_inputs())["b"] = meta;
    bind.set_grad_req("write");
    bind.set_keep_common_expr(keep);
    v1::BindResponse bound;
    {
      grpc::ClientContext ctx;
      grpc::Status st = stub_->SimpleBind(&ctx, bind, &bound);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    v1::GetExecutorSymbolRequest req;
    req.set_session(session_);
    req.set_executor(bound.executor());
    v1::GetExecutorSymbolResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->GetExecutorSymbol(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.symbol().json().find("\"p1\"") != std::string::npos, keep) << keep;
  }
  v1::GetExecutorSymbolRequest req;
  req.set_session(session_);
  req.set_executor(99999);
  v1::GetExecutorSymbolResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->GetExecutorSymbol(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace mxgrid::services
