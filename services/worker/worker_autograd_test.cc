// MarkVariables, Invoke with `record` and AutogradBackward over a real gRPC server:
// gradients into marked variables and as new arrays (grad form), retain_graph, and the
// error codes of bad requests.
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/ops/builtin.h"
#include "services/common/server.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class WorkerAutogradTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = std::make_unique<WorkerService>(&ops::GlobalRegistry(), WorkerOptions{});
    ServerOptions options;
    options.name = "worker-autograd-test";
    options.address = "127.0.0.1:0";
    options.metrics_address = "";
    options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, {worker_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::Worker::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
    v1::OpenSessionResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->OpenSession(&ctx, v1::OpenSessionRequest(), &resp).ok());
    session_ = resp.session();
  }
  void TearDown() override { server_->Shutdown(); }

  uint64_t Upload(std::vector<float> values) {
    v1::UploadRequest req;
    req.set_session(session_);
    v1::TensorMeta* meta = req.mutable_value()->mutable_meta();
    meta->set_dtype(v1::FLOAT32);
    meta->add_shape(static_cast<int64_t>(values.size()));
    req.mutable_value()->set_data(values.data(), values.size() * sizeof(float));
    v1::ArrayInfo info;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Upload(&ctx, req, &info);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return info.handle();
  }

  std::vector<float> Download(uint64_t handle) {
    v1::DownloadRequest req;
    req.set_session(session_);
    req.set_handle(handle);
    v1::Tensor t;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Download(&ctx, req, &t);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<float> v(t.data().size() / sizeof(float));
    std::memcpy(v.data(), t.data().data(), t.data().size());
    return v;
  }

  // A recorded call's first output.
  uint64_t Record(const std::string& op, std::vector<uint64_t> inputs,
                  std::map<std::string, std::string> attrs = {}) {
    v1::InvokeRequest req;
    req.set_session(session_);
    req.set_op(op);
    req.set_record(true);
    req.set_is_train(true);
    for (uint64_t h : inputs) req.add_inputs(h);
    for (const auto& [k, v] : attrs) (*req.mutable_attrs())[k] = v;
    v1::InvokeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Invoke(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return st.ok() ? resp.outputs(0).handle() : 0;
  }

  grpc::Status Mark(std::vector<uint64_t> vars, std::vector<uint64_t> grads,
                    std::vector<v1::OpReq> reqs = {}) {
    v1::MarkVariablesRequest req;
    req.set_session(session_);
    for (uint64_t h : vars) req.add_variables(h);
    for (uint64_t h : grads) req.add_gradients(h);
    for (v1::OpReq r : reqs) req.add_grad_reqs(r);
    v1::MarkVariablesResponse resp;
    grpc::ClientContext ctx;
    return stub_->MarkVariables(&ctx, req, &resp);
  }

  grpc::Status Backward(v1::AutogradBackwardRequest req,
                        v1::AutogradBackwardResponse* resp = nullptr) {
    if (req.session().empty()) req.set_session(session_);
    v1::AutogradBackwardResponse unused;
    grpc::ClientContext ctx;
    return stub_->AutogradBackward(&ctx, req, resp ? resp : &unused);
  }

  std::unique_ptr<WorkerService> worker_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  std::string session_;
};

TEST_F(WorkerAutogradTest, BackwardWritesMarkedGradientsOnce) {
  uint64_t x = Upload({1, 2, 3}), gx = Upload({0, 0, 0});
  ASSERT_TRUE(Mark({x}, {gx}).ok());
  uint64_t y = Record("elemwise_mul", {x, x});
  uint64_t z = Record("_plus_scalar", {y}, {{"scalar", "1"}});
  v1::AutogradBackwardRequest req;
  req.add_heads(z);
  req.add_head_grads(0);  // ones
  req.set_retain_graph(true);
  ASSERT_TRUE(Backward(req).ok());
  EXPECT_THAT(Download(gx), ElementsAre(2, 4, 6));
  req.set_retain_graph(false);
  ASSERT_TRUE(Backward(req).ok());
  grpc::Status again = Backward(req);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(again.error_message(), HasSubstr("retain_graph"));
}

TEST_F(WorkerAutogradTest, GradFormReturnsNewArraysAndAddAccumulates) {
  uint64_t x = Upload({1, 2}), gx = Upload({10, 10});
  ASSERT_TRUE(Mark({x}, {gx}, {v1::OP_REQ_ADD_TO}).ok());
  uint64_t y = Record("elemwise_mul", {x, x});
  v1::AutogradBackwardRequest req;
  req.add_heads(y);
  req.add_variables(x);
  req.add_new_handles(77);
  req.set_retain_graph(true);
  v1::AutogradBackwardResponse resp;
  ASSERT_TRUE(Backward(req, &resp).ok());
  ASSERT_EQ(resp.grads_size(), 1);
  EXPECT_EQ(resp.grads(0).handle(), 77u);
  EXPECT_THAT(Download(77), ElementsAre(2, 4));
  EXPECT_THAT(Download(gx), ElementsAre(10, 10));  // grad form leaves .grad alone
  req.clear_variables();
  req.clear_new_handles();
  ASSERT_TRUE(Backward(req).ok());
  EXPECT_THAT(Download(gx), ElementsAre(12, 14));
}

TEST_F(WorkerAutogradTest, BadRequestsHaveSpecificCodes) {
  uint64_t x = Upload({1, 2}), gx = Upload({0, 0}), g3 = Upload({0, 0, 0});
  EXPECT_EQ(Mark({x}, {12345}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Mark({x}, {g3}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Mark({x}, {gx}, {v1::OP_REQ_WRITE_INPLACE}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Mark({x}, {gx}, {v1::OP_REQ_WRITE_TO, v1::OP_REQ_WRITE_TO}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Mark({x}, {gx}).ok());

  v1::AutogradBackwardRequest not_recorded;
  not_recorded.add_heads(g3);  // an array no recorded call computed
  EXPECT_EQ(Backward(not_recorded).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  uint64_t y = Record("_mul_scalar", {x}, {{"scalar", "3"}});
  v1::AutogradBackwardRequest req;
  req.add_heads(y);
  req.set_retain_graph(true);
  v1::AutogradBackwardRequest unknown = req;
  unknown.add_heads(999999);
  EXPECT_EQ(Backward(unknown).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::AutogradBackwardRequest higher = req;
  higher.add_variables(x);
  higher.set_create_graph(true);
  grpc::Status st = Backward(higher);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("create_graph"));
  v1::AutogradBackwardRequest bad_head_grad = req;
  bad_head_grad.add_head_grads(g3);
  EXPECT_EQ(Backward(bad_head_grad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::AutogradBackwardRequest other_session = req;
  other_session.set_session("no-such-session");
  EXPECT_EQ(Backward(other_session).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Backward(req).ok());  // the failed calls changed nothing
  EXPECT_THAT(Download(gx), ElementsAre(3, 3));
}

}  // namespace
}  // namespace mxgrid::services
