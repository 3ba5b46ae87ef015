// SeedRandom and zero-input Invoke over a real gRPC server: a seed reproduces imperative
// samplers and an executor's Dropout, per session and per device; samplers name their
// device with the `ctx` attribute; bad contexts are INVALID_ARGUMENT (FAILED_PRECONDITION
// for a device this build lacks).
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/json.h"
#include "libs/graph/symbol.h"
#include "libs/ops/builtin.h"
#include "services/common/server.h"
#include "services/compiler/compiler_service.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;

class WorkerRandomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = std::make_unique<WorkerService>(&ops::GlobalRegistry(), WorkerOptions{});
    compiler_ = std::make_unique<CompilerService>(&ops::GlobalRegistry(), 16, 1024);
    ServerOptions options;
    options.name = "worker-random-test";
    options.address = "127.0.0.1:0";
    options.metrics_address = "";
    options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, {worker_.get(), compiler_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    worker_->SetCompiler(server_->InProcessChannel());
    stub_ = v1::Worker::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
    session_ = Open();
  }
  void TearDown() override { server_->Shutdown(); }

  std::string Open() {
    v1::OpenSessionResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->OpenSession(&ctx, v1::OpenSessionRequest(), &resp).ok());
    return resp.session();
  }

  grpc::Status Seed(int64_t seed, const v1::Context* device = nullptr,
                    const std::string& session = "") {
    v1::SeedRandomRequest req;
    req.set_session(session.empty() ? session_ : session);
    req.set_seed(seed);
    if (device != nullptr) *req.mutable_context() = *device;
    v1::SeedRandomResponse resp;
    grpc::ClientContext ctx;
    return stub_->SeedRandom(&ctx, req, &resp);
  }

  grpc::Status Invoke(const std::string& op, std::map<std::string, std::string> attrs,
                      v1::InvokeResponse* resp, std::vector<uint64_t> inputs = {},
                      const std::string& session = "") {
    v1::InvokeRequest req;
    req.set_session(session.empty() ? session_ : session);
    req.set_op(op);
    for (uint64_t h : inputs) req.add_inputs(h);
    for (const auto& [k, v] : attrs) (*req.mutable_attrs())[k] = v;
    grpc::ClientContext ctx;
    return stub_->Invoke(&ctx, req, resp);
  }

  std::vector<float> Download(uint64_t handle, const std::string& session = "") {
    v1::DownloadRequest req;
    req.set_session(session.empty() ? session_ : session);
    req.set_handle(handle);
    v1::Tensor t;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Download(&ctx, req, &t);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<float> v(t.data().size() / sizeof(float));
    std::memcpy(v.data(), t.data().data(), t.data().size());
    return v;
  }

  // _random_normal of `shape` in `session`: the values.
  std::vector<float> Normal(const std::string& session = "") {
    v1::InvokeResponse resp;
    grpc::Status st =
        Invoke("_random_normal", {{"shape", "(100, 50)"}, {"ctx", "cpu(0)"}}, &resp, {}, session);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return st.ok() ? Download(resp.outputs(0).handle(), session) : std::vector<float>();
  }

  std::unique_ptr<WorkerService> worker_;
  std::unique_ptr<CompilerService> compiler_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  std::string session_;
};

TEST_F(WorkerRandomTest, ZeroInputInvokeHasShapeDTypeAndContext) {
  v1::InvokeResponse resp;
  grpc::Status st = Invoke("_random_uniform",
                           {{"low", "5"}, {"high", "6"}, {"shape", "(2, 3)"}, {"ctx", "cpu(0)"},
                            {"dtype", "float64"}},
                           &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_THAT(resp.outputs(0).meta().shape(), ElementsAre(2, 3));
  EXPECT_EQ(resp.outputs(0).meta().dtype(), v1::FLOAT64);
  EXPECT_EQ(resp.outputs(0).context().type(), v1::CPU);
  // No ctx: the default device.
  st = Invoke("_random_randint", {{"low", "0"}, {"high", "10"}, {"shape", "(4,)"}}, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.outputs(0).meta().dtype(), v1::INT32);
}

TEST_F(WorkerRandomTest, BadContextsAreRefused) {
  v1::InvokeResponse resp;
  for (const char* bad : {"tpu(0)", "cpu(-1)", "cpu(", "gpu(x)"}) {
    grpc::Status st = Invoke("_random_uniform", {{"shape", "(2,)"}, {"ctx", bad}}, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
  }
  grpc::Status st = Invoke("_random_uniform", {{"shape", "(2,)"}, {"ctx", "gpu(0)"}}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  v1::Context device;
  device.set_id(-1);
  EXPECT_EQ(Seed(1, &device).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Seed(1, nullptr, "no-such-session").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerRandomTest, SeedReproducesImperativeSamplersPerSession) {
  ASSERT_TRUE(Seed(128).ok());
  const std::vector<float> a = Normal(), a2 = Normal();
  ASSERT_TRUE(Seed(128).ok());
  EXPECT_EQ(Normal(), a);
  EXPECT_EQ(Normal(), a2);
  EXPECT_NE(a, a2);
  ASSERT_TRUE(Seed(129).ok());
  EXPECT_NE(Normal(), a);
  // Another session has its own generators: seeding it alike gives the same stream, and
  // seeding it does not move this session's.
  const std::string other = Open();
  ASSERT_TRUE(Seed(128).ok());
  ASSERT_TRUE(Seed(128, nullptr, other).ok());
  EXPECT_EQ(Normal(other), a);
  EXPECT_EQ(Normal(), a);
  // Seeding another device only leaves cpu(0)'s stream where it was.
  ASSERT_TRUE(Seed(128).ok());
  v1::Context cpu1;
  cpu1.set_type(v1::CPU);
  cpu1.set_id(1);
  ASSERT_TRUE(Seed(5, &cpu1).ok());
  EXPECT_EQ(Normal(), a);
  v1::Context cpu0;
  cpu0.set_type(v1::CPU);
  ASSERT_TRUE(Seed(128, &cpu0).ok());
  EXPECT_EQ(Normal(), a);
}

TEST_F(WorkerRandomTest, SeedReproducesAnExecutorsDropout) {
  graph::NameManager names;
  absl::StatusOr<graph::Symbol> net = graph::Symbol::Create(
      ops::GlobalRegistry(), "Dropout", {{"p", "0.5"}},
      {{}, {{"data", graph::Symbol::Variable("x")}}}, "drop", &names);
  ASSERT_TRUE(net.ok()) << net.status();
  v1::SimpleBindRequest bind;
  bind.set_session(session_);
  bind.mutable_symbol()->set_json(graph::SaveJson(*net));
  v1::TensorMeta x;
  x.add_shape(40);
  x.add_shape(30);
  (*bind.mutable_inputs())["x"] = x;
  v1::BindResponse bound;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->SimpleBind(&ctx, bind, &bound);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  v1::FillRequest fill;
  fill.set_session(session_);
  fill.set_handle(bound.args(0).handle());
  fill.set_value(1);
  {
    v1::FillResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Fill(&ctx, fill, &resp).ok());
  }
  auto forward = [&](int64_t seed) {
    EXPECT_TRUE(Seed(seed).ok());
    v1::ForwardRequest fwd;
    fwd.set_session(session_);
    fwd.set_executor(bound.executor());
    fwd.set_is_train(true);
    v1::ForwardResponse out;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Forward(&ctx, fwd, &out).ok());
    return Download(bound.outputs(0).handle());
  };
  const std::vector<float> a = forward(3);
  EXPECT_EQ(forward(3), a);
  EXPECT_NE(forward(4), a);
  int zeros = 0;
  for (float v : a) zeros += v == 0;
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 800);
}

}  // namespace
}  // namespace mxgrid::services
