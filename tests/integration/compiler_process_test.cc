// mxgrid-compiler as a real process on loopback: flags, health, reflection, /metrics, every
// kind of call a client makes, and the SIGTERM drain.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"

namespace mxgrid::integration {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kCompiler[] = "services/compiler/mxgrid-compiler";

class CompilerProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> p = ServerProcess::Start({.binary = kCompiler});
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
  }
  static void TearDownTestSuite() {
    if (server_ == nullptr) return;
    absl::StatusOr<int> status = server_->Stop();
    EXPECT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(*status, 0) << server_->Log();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Compiler::NewStub(server_->NewChannel());
  }

  static grpc::Status MakePlan(v1::Compiler::Stub* stub, const std::string& json, int64_t batch,
                               v1::MakePlanResponse* response) {
    v1::MakePlanRequest request;
    request.mutable_symbol()->set_json(json);
    v1::PartialShape& data = (*request.mutable_shapes())["data"];
    data.set_known(true);
    data.add_dims(batch);
    data.add_dims(3);
    (*request.mutable_grad_reqs())["fc1_weight"] = v1::OP_REQ_WRITE_TO;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    return stub->MakePlan(&context, request, response);
  }

  // Describe(Group(symbols)).
  static v1::DescribeResponse DescribeGroup(v1::Compiler::Stub* stub,
                                            const std::vector<v1::Symbol>& symbols) {
    v1::TransformRequest group;
    for (const v1::Symbol& s : symbols) *group.add_symbols() = s;
    group.set_group(true);
    v1::TransformResponse grouped;
    {
      grpc::ClientContext context;
      const grpc::Status s = stub->Transform(&context, group, &grouped);
      EXPECT_TRUE(s.ok()) << Describe(s);
    }
    v1::DescribeRequest describe;
    *describe.mutable_symbol() = grouped.symbol();
    v1::DescribeResponse described;
    grpc::ClientContext context;
    const grpc::Status s = stub->Describe(&context, describe, &described);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return described;
  }

  static ServerProcess* server_;
  std::unique_ptr<v1::Compiler::Stub> stub_;
};

ServerProcess* CompilerProcessTest::server_ = nullptr;

TEST(CompilerBinaryTest, HelpListsTheFlags) {
  absl::StatusOr<RunResult> run = RunToCompletion(kCompiler, {"--help"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->output, HasSubstr("--address"));
  EXPECT_THAT(run->output, HasSubstr("--metrics_address"));
  EXPECT_THAT(run->output, HasSubstr("--max_message_bytes"));
  EXPECT_THAT(run->output, HasSubstr("--shutdown_grace"));
  EXPECT_THAT(run->output, HasSubstr("--plan_cache_entries"));
}

// `--help` exits 0 (absl's own handling would exit 1).
TEST(CompilerBinaryTest, HelpExitsZero) {
  absl::StatusOr<RunResult> run = RunToCompletion(kCompiler, {"--help"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_status, 0) << run->output;
}

TEST(CompilerBinaryTest, BadFlagFailsToStart) {
  absl::StatusOr<RunResult> run = RunToCompletion(kCompiler, {"--no_such_flag=1"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_NE(run->exit_status, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("no_such_flag"));
}

TEST_F(CompilerProcessTest, HealthIsServing) { EXPECT_EQ(HealthCheck(server_->NewChannel()), 1); }

TEST_F(CompilerProcessTest, ReflectionListsCompilerAndHealth) {
  absl::StatusOr<std::vector<std::string>> services = ReflectionListServices(server_->NewChannel());
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, Contains("mxgrid.v1.Compiler"));
  EXPECT_THAT(*services, Contains("grpc.health.v1.Health"));
}

TEST_F(CompilerProcessTest, ListOperatorsHasFullyConnectedWithNumHidden) {
  v1::ListOperatorsResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(10));
  const grpc::Status s = stub_->ListOperators(&context, {}, &response);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_GT(response.operators_size(), 0);
  const v1::OperatorInfo* fc = nullptr;
  for (const v1::OperatorInfo& op : response.operators()) {
    if (op.name() == "FullyConnected") fc = &op;
  }
  ASSERT_NE(fc, nullptr);
  bool num_hidden = false;
  for (const v1::OperatorParam& p : fc->params()) {
    if (p.name() == "num_hidden") num_hidden = p.required();
  }
  EXPECT_TRUE(num_hidden) << fc->DebugString();
  EXPECT_THAT(fc->inputs(), Contains("weight"));
}

TEST_F(CompilerProcessTest, SecondMakePlanComesFromTheCache) {
  const std::string json = MlpJson({.hidden = 4, .outputs = 2});
  v1::MakePlanResponse first, second;
  grpc::Status s = MakePlan(stub_.get(), json, 2, &first);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_FALSE(first.cached());
  EXPECT_GT(first.plan().steps_size(), 0);
  EXPECT_GT(first.plan().num_forward_steps(), 0);
  s = MakePlan(stub_.get(), json, 2, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(second.cached());
  EXPECT_EQ(first.plan().SerializeAsString(), second.plan().SerializeAsString());
}

TEST_F(CompilerProcessTest, InferShapeOfTheMlp) {
  v1::InferShapeRequest request;
  request.mutable_symbol()->set_json(MlpJson({.hidden = 4, .outputs = 2}));
  v1::PartialShape& data = (*request.mutable_shapes())["data"];
  data.set_known(true);
  data.add_dims(5);
  data.add_dims(3);
  v1::InferShapeResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(10));
  const grpc::Status s = stub_->InferShape(&context, request, &response);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_TRUE(response.complete());
  ASSERT_EQ(response.arg_shapes_size(), 5);
  EXPECT_THAT(response.arg_shapes(1).dims(), ::testing::ElementsAre(4, 3));  // fc1_weight
  ASSERT_EQ(response.out_shapes_size(), 1);
  EXPECT_THAT(response.out_shapes(0).dims(), ::testing::ElementsAre(5, 2));
}

// Compose -> Transform -> Describe -> InferType, as a client's mx.sym calls make them.
TEST_F(CompilerProcessTest, ComposeTransformDescribeInferType) {
  auto call = [&](const v1::ComposeRequest& request, v1::Symbol* out) {
    v1::ComposeResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(10));
    const grpc::Status s = stub_->Compose(&context, request, &response);
    *out = response.symbol();
    return s;
  };
  v1::ComposeRequest variable;
  variable.set_variable("data");
  v1::Symbol data, fc, act;
  ASSERT_TRUE(call(variable, &data).ok());
  v1::ComposeRequest op;
  op.set_op("FullyConnected");
  op.set_name("fc1");
  (*op.mutable_attrs())["num_hidden"] = "3";
  (*op.mutable_named())["data"] = data;
  grpc::Status s = call(op, &fc);
  ASSERT_TRUE(s.ok()) << Describe(s);
  v1::ComposeRequest relu;
  relu.set_op("Activation");
  relu.set_name("relu1");
  (*relu.mutable_attrs())["act_type"] = "relu";
  *relu.add_positional() = fc;
  s = call(relu, &act);
  ASSERT_TRUE(s.ok()) << Describe(s);
  // An unknown operator is NOT_FOUND; a bad parameter INVALID_ARGUMENT.
  v1::Symbol ignored;
  op.set_op("NoSuchOperator");
  EXPECT_EQ(call(op, &ignored).error_code(), grpc::StatusCode::NOT_FOUND);
  op.set_op("FullyConnected");
  (*op.mutable_attrs())["num_hidden"] = "many";
  EXPECT_EQ(call(op, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Group with an independent variable (see DISABLED_GroupOfSymbolsSharingNodesListsEach...).
  v1::ComposeRequest label_variable;
  label_variable.set_variable("label");
  v1::Symbol label;
  ASSERT_TRUE(call(label_variable, &label).ok());
  const v1::DescribeResponse described = DescribeGroup(stub_.get(), {act, label});
  EXPECT_THAT(described.arguments(),
              ::testing::ElementsAre("data", "fc1_weight", "fc1_bias", "label"));
  EXPECT_THAT(described.outputs(), ::testing::ElementsAre("relu1_output", "label"));

  v1::InferTypeRequest infer;
  *infer.mutable_symbol() = act;
  (*infer.mutable_dtypes())["data"] = v1::FLOAT32;
  v1::InferTypeResponse types;
  {
    grpc::ClientContext context;
    s = stub_->InferType(&context, infer, &types);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  EXPECT_TRUE(types.complete());
  EXPECT_THAT(types.arg_types(), ::testing::ElementsAre(v1::FLOAT32, v1::FLOAT32, v1::FLOAT32));
  EXPECT_THAT(types.out_types(), ::testing::ElementsAre(v1::FLOAT32));
}

// Group([fc, Activation(fc)]) built from separate JSON texts lists fc's arguments once, as
// MXNet does: the compiler merges nodes equal in name, op, attributes and inputs.
TEST_F(CompilerProcessTest, GroupOfSymbolsSharingNodesListsEachArgumentOnce) {
  v1::ComposeRequest variable;
  variable.set_variable("data");
  v1::ComposeResponse data, fc, act;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Compose(&context, variable, &data).ok());
  }
  v1::ComposeRequest op;
  op.set_op("FullyConnected");
  op.set_name("fc1");
  (*op.mutable_attrs())["num_hidden"] = "3";
  (*op.mutable_named())["data"] = data.symbol();
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Compose(&context, op, &fc).ok());
  }
  v1::ComposeRequest relu;
  relu.set_op("Activation");
  relu.set_name("relu1");
  (*relu.mutable_attrs())["act_type"] = "relu";
  *relu.add_positional() = fc.symbol();
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->Compose(&context, relu, &act).ok());
  }
  const v1::DescribeResponse described = DescribeGroup(stub_.get(), {fc.symbol(), act.symbol()});
  EXPECT_THAT(described.arguments(), ::testing::ElementsAre("data", "fc1_weight", "fc1_bias"));
  EXPECT_THAT(described.outputs(), ::testing::ElementsAre("fc1_output", "relu1_output"));
}

TEST_F(CompilerProcessTest, MalformedJsonIsInvalidArgument) {
  v1::MakePlanResponse response;
  grpc::Status s = MakePlan(stub_.get(), "{\"nodes\": [", 2, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  v1::DescribeRequest request;
  request.mutable_symbol()->set_json("not json at all");
  v1::DescribeResponse described;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(10));
  s = stub_->Describe(&context, request, &described);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  // The server still serves.
  EXPECT_TRUE(MakePlan(stub_.get(), MlpJson({}), 3, &response).ok());
}

TEST_F(CompilerProcessTest, MetricsEndpointCountsHandledCalls) {
  v1::ListOperatorsResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListOperators(&context, {}, &response).ok());
  absl::StatusOr<std::string> page = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, HasSubstr("200 OK"));
  EXPECT_THAT(*page, HasSubstr("grpc_server_handled_total"));
  EXPECT_THAT(*page, HasSubstr("ListOperators"));
}

// SIGTERM while a slow MakePlan is in flight: the call completes and the process exits 0.
TEST(CompilerDrainTest, SigtermDrainsTheCallInFlightThenExitsZero) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({.binary = kCompiler, .args = {"--shutdown_grace=30s"}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Compiler::NewStub((*server)->NewChannel());
  const std::string json = DeepFcChainJson(/*layers=*/1500, /*width=*/4);
  v1::MakePlanRequest request;
  request.mutable_symbol()->set_json(json);
  v1::PartialShape& data = (*request.mutable_shapes())["data"];
  data.set_known(true);
  data.add_dims(2);
  data.add_dims(4);
  (*request.mutable_grad_reqs())["fc0_weight"] = v1::OP_REQ_WRITE_TO;

  // Time one call (a distinct batch size each time keeps the cache out of the way).
  const absl::Time t0 = absl::Now();
  {
    v1::MakePlanResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(60));
    const grpc::Status s = stub->MakePlan(&context, request, &response);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  const absl::Duration one_call = absl::Now() - t0;
  data.set_dims(0, 3);

  grpc::Status in_flight;
  absl::Time finished;
  std::thread caller([&] {
    v1::MakePlanResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(60));
    in_flight = stub->MakePlan(&context, request, &response);
    finished = absl::Now();
  });
  absl::SleepFor(std::min(one_call / 4, absl::Milliseconds(100)));
  const absl::Time term = absl::Now();
  (*server)->Signal(SIGTERM);
  caller.join();
  absl::StatusOr<int> exit_status = (*server)->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_EQ(*exit_status, 0) << (*server)->Log();
  EXPECT_TRUE(in_flight.ok()) << Describe(in_flight);
  // Informational: whether the call really was still running at SIGTERM.
  std::printf("MakePlan of %d nodes: %s; the drained call ended %s after SIGTERM\n", 3 * 1500 + 1,
              absl::FormatDuration(one_call).c_str(),
              absl::FormatDuration(finished - term).c_str());
}

}  // namespace
}  // namespace mxgrid::integration
