// The Compiler service over a real gRPC server on a loopback port.
#include "services/compiler/compiler_service.h"

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/ops/builtin.h"
#include "libs/rpc/plan_codec.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CompilerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Compiler::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                                      grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  v1::Symbol Variable(const std::string& name) {
    v1::ComposeRequest req;
    req.set_variable(name);
    v1::ComposeResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Compose(&ctx, req, &resp).ok());
    return resp.symbol();
  }

  grpc::Status Op(const std::string& op, const std::string& name,
                  std::map<std::string, std::string> attrs,
                  std::map<std::string, v1::Symbol> named, v1::Symbol* out) {
    v1::ComposeRequest req;
    req.set_op(op);
    req.set_name(name);
    req.mutable_attrs()->insert(attrs.begin(), attrs.end());
    req.mutable_named()->insert(named.begin(), named.end());
    v1::ComposeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Compose(&ctx, req, &resp);
    *out = resp.symbol();
    return s;
  }

  v1::DescribeResponse Describe(const v1::Symbol& s) {
    v1::DescribeRequest req;
    *req.mutable_symbol() = s;
    v1::DescribeResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Describe(&ctx, req, &resp).ok());
    return resp;
  }

  CompilerService service_{&ops::GlobalRegistry(), 4, 64};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Compiler::Stub> stub_;
};

TEST_F(CompilerServiceTest, ListOperatorsDescribesEachOperator) {
  v1::ListOperatorsResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListOperators(&ctx, {}, &resp).ok());
  EXPECT_GT(resp.operators_size(), 60);
  bool fc = false, bn = false, concat = false;
  for (const v1::OperatorInfo& op : resp.operators()) {
    if (op.name() == "FullyConnected") {
      fc = true;
      EXPECT_THAT(op.inputs(), ElementsAre("data", "weight", "bias"));
      bool num_hidden = false;
      for (const auto& p : op.params()) num_hidden |= p.name() == "num_hidden" && p.required();
      EXPECT_TRUE(num_hidden);
    }
    if (op.name() == "BatchNorm") {
      bn = true;
      EXPECT_THAT(op.aux_states(), ElementsAre("moving_mean", "moving_var"));
    }
    if (op.name() == "Concat") {
      concat = true;
      EXPECT_EQ(op.variadic_param(), "num_args");
    }
  }
  EXPECT_TRUE(fc && bn && concat);
}

// A client generates each operator's function from its listed inputs: an op whose parse
// fails on placeholders would get none (Pooling and expand_dims once did).
TEST_F(CompilerServiceTest, ListOperatorsReportsInputsForEveryOperator) {
  v1::ListOperatorsResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListOperators(&ctx, {}, &resp).ok());
  ASSERT_EQ(resp.operators_size(), static_cast<int>(ops::GlobalRegistry().List().size()));
  for (const v1::OperatorInfo& op : resp.operators()) {
    // Only the samplers with scalar parameters (_random_uniform, ...) and the creation
    // operators (_zeros, _arange, ...) take no inputs.
    const bool sampler =
        absl::StartsWith(op.name(), "_random_") && !absl::EndsWith(op.name(), "_like");
    const bool creation = op.name() == "_zeros" || op.name() == "_ones" ||
                          op.name() == "_full" || op.name() == "_arange" ||
                          op.name() == "_linspace" || op.name() == "_eye";
    EXPECT_EQ(op.inputs().empty(), sampler || creation)
        << op.name() << " reports inputs " << op.inputs_size();
    if (op.name() == "Pooling" || op.name() == "expand_dims" || op.name() == "slice" ||
        op.name() == "broadcast_to") {
      EXPECT_THAT(op.inputs(), ElementsAre("data")) << op.name();
    }
    if (op.name() == "broadcast_like" || op.name() == "_power") {
      EXPECT_THAT(op.inputs(), ElementsAre("lhs", "rhs")) << op.name();
    }
    // Variadic ops list the inputs of the placeholder count (num_args = 1).
    if (op.name() == "Concat" || op.name() == "add_n") {
      EXPECT_EQ(op.variadic_param(), "num_args") << op.name();
      EXPECT_THAT(op.inputs(), ElementsAre("arg0")) << op.name();
    }
    if (op.name() == "expand_dims") {
      ASSERT_EQ(op.params_size(), 1);
      EXPECT_EQ(op.params(0).name(), "axis");
      EXPECT_TRUE(op.params(0).required());
    }
    // Outputs, and whether parameters change them.
    EXPECT_FALSE(op.outputs().empty()) << op.name() << " reports no outputs";
    // LayerNorm (output_mean_var) and topk (ret_typ='both') also change their outputs.
    const bool variable = op.name() == "SliceChannel" || op.name() == "BatchNorm" ||
                          op.name() == "LayerNorm" || op.name() == "topk" ||
                          op.name() == "RNN" ||  // state_outputs adds hy (and cy)
                          op.name() == "_split_v2" ||  // one output per section
                          op.name().rfind("multi_", 0) == 0 ||  // one output per num_weights
                          op.name() == "_sample_multinomial";
    EXPECT_EQ(op.variable_outputs(), variable) << op.name();
    if (op.name() == "FullyConnected") EXPECT_THAT(op.outputs(), ElementsAre("output"));
    if (op.name() == "BatchNorm") EXPECT_THAT(op.outputs(), ElementsAre("output"));
  }
}

TEST_F(CompilerServiceTest, TutorialSymbolsThroughRpcs) {
  v1::Symbol net;
  ASSERT_TRUE(Op("FullyConnected", "fc1", {{"num_hidden", "10"}}, {{"data", Variable("data")}},
                 &net).ok());
  v1::DescribeResponse d = Describe(net);
  EXPECT_THAT(d.arguments(), ElementsAre("data", "fc1_weight", "fc1_bias"));
  EXPECT_THAT(d.outputs(), ElementsAre("fc1_output"));

  v1::InferShapeRequest req;
  *req.mutable_symbol() = net;
  (*req.mutable_shapes())["data"].set_known(true);
  (*req.mutable_shapes())["data"].add_dims(100);
  (*req.mutable_shapes())["data"].add_dims(100);
  v1::InferShapeResponse shapes;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->InferShape(&ctx, req, &shapes).ok());
  EXPECT_TRUE(shapes.complete());
  EXPECT_THAT(shapes.arg_shapes(1).dims(), ElementsAre(10, 100));
  EXPECT_THAT(shapes.out_shapes(0).dims(), ElementsAre(100, 10));

  // Composition by call and output selection.
  v1::Symbol net2;
  ASSERT_TRUE(Op("FullyConnected", "net2", {{"num_hidden", "100"}}, {{"data", Variable("data2")}},
                 &net2).ok());
  v1::ComposeRequest call;
  *call.mutable_call() = net;
  call.set_name("compose");
  (*call.mutable_named())["data"] = net2;
  v1::ComposeResponse composed;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->Compose(&ctx2, call, &composed).ok());
  EXPECT_THAT(Describe(composed.symbol()).arguments(),
              ElementsAre("data2", "net2_weight", "net2_bias", "fc1_weight", "fc1_bias"));
  v1::TransformRequest internals;
  *internals.add_symbols() = composed.symbol();
  internals.set_internals(true);
  v1::TransformResponse t;
  grpc::ClientContext ctx3;
  ASSERT_TRUE(stub_->Transform(&ctx3, internals, &t).ok());
  EXPECT_THAT(Describe(t.symbol()).outputs(), ElementsAre("data2", "net2_weight", "net2_bias",
                                                          "net2_output", "fc1_weight",
                                                          "fc1_bias", "compose_output"));
}

TEST_F(CompilerServiceTest, MakePlanDecodesAndIsCached) {
  v1::Symbol fc, net;
  ASSERT_TRUE(Op("FullyConnected", "fc1", {{"num_hidden", "4"}}, {{"data", Variable("data")}},
                 &fc).ok());
  ASSERT_TRUE(Op("SoftmaxOutput", "softmax", {}, {{"data", fc}}, &net).ok());
  v1::MakePlanRequest req;
  *req.mutable_symbol() = net;
  (*req.mutable_shapes())["data"].set_known(true);
  (*req.mutable_shapes())["data"].add_dims(8);
  (*req.mutable_shapes())["data"].add_dims(3);
  (*req.mutable_grad_reqs())["fc1_weight"] = v1::OP_REQ_WRITE_TO;
  for (bool cached : {false, true}) {
    v1::MakePlanResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->MakePlan(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.cached(), cached);
    absl::StatusOr<graph::Plan> plan = rpc::FromProto(resp.plan(), ops::GlobalRegistry());
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_TRUE(plan->has_backward());
  }
}

TEST_F(CompilerServiceTest, BadRequestsGetSpecificCodes) {
  v1::Symbol out;
  grpc::Status s = Op("NoSuchOp", "x", {}, {}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("NoSuchOp"));
  s = Op("FullyConnected", "", {{"num_hidden", "4"}}, {}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = Op("FullyConnected", "fc", {{"num_hidden", "four"}}, {}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::DescribeRequest bad;
  bad.mutable_symbol()->set_json("{not json");
  v1::DescribeResponse d;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Describe(&ctx, bad, &d).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Symbol fc;
  ASSERT_TRUE(Op("FullyConnected", "fc1", {{"num_hidden", "4"}}, {{"data", Variable("data")}},
                 &fc).ok());
  v1::InferShapeRequest req;
  *req.mutable_symbol() = fc;
  auto& w = (*req.mutable_shapes())["fc1_weight"];
  w.set_known(true);
  w.add_dims(5);
  w.add_dims(3);
  auto& x = (*req.mutable_shapes())["data"];
  x.set_known(true);
  x.add_dims(2);
  x.add_dims(7);
  v1::InferShapeResponse r;
  grpc::ClientContext ctx2;
  s = stub_->InferShape(&ctx2, req, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("fc1"));

  v1::MakePlanRequest plan;
  *plan.mutable_symbol() = fc;
  v1::MakePlanResponse pr;
  grpc::ClientContext ctx3;
  EXPECT_EQ(stub_->MakePlan(&ctx3, plan, &pr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CompilerServiceTest, HugeNamesGetTheRightCodeAndAShortMessage) {
  v1::Symbol out;
  // The registry quotes the whole operator name (libs/ops): ToGrpc's cut keeps it short.
  grpc::Status s = Op(std::string(20000, 'A'), "x", {}, {}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(s.error_message().size(), 4096u);

  // An unknown operator inside symbol JSON is quoted by libs/graph: 256 bytes at most.
  v1::DescribeRequest req;
  req.mutable_symbol()->set_json(absl::StrCat(
      R"({"nodes": [{"op": ")", std::string(20000, 'A'),
      R"(", "name": "x", "inputs": []}], "arg_nodes": [], "heads": [[0, 0, 0]]})"));
  v1::DescribeResponse d;
  {
    grpc::ClientContext ctx;
    s = stub_->Describe(&ctx, req, &d);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(s.error_message().size(), 500u);
  EXPECT_THAT(s.error_message(), HasSubstr("(20000 bytes)"));

  v1::Symbol fc;
  ASSERT_TRUE(Op("FullyConnected", "fc1", {{"num_hidden", "4"}}, {{"data", Variable("data")}},
                 &fc).ok());
  v1::TransformRequest pick;
  *pick.add_symbols() = fc;
  pick.set_output_name(std::string(100 << 10, 'o'));
  v1::TransformResponse picked;
  {
    grpc::ClientContext ctx;
    s = stub_->Transform(&ctx, pick, &picked);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(s.error_message().size(), 500u);

  v1::InferShapeRequest infer;
  *infer.mutable_symbol() = fc;
  (*infer.mutable_shapes())[std::string(1 << 20, 'n')].set_known(true);
  v1::InferShapeResponse inferred;
  {
    grpc::ClientContext ctx;
    s = stub_->InferShape(&ctx, infer, &inferred);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(s.error_message().size(), 500u);
}

TEST_F(CompilerServiceTest, OutputIndexOutOfRangeIsInvalidArgument) {
  v1::Symbol fc;
  ASSERT_TRUE(Op("FullyConnected", "fc1", {{"num_hidden", "4"}}, {{"data", Variable("data")}},
                 &fc).ok());
  for (int index : {1, -1}) {
    v1::TransformRequest pick;
    *pick.add_symbols() = fc;
    pick.set_output_index(index);
    v1::TransformResponse picked;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Transform(&ctx, pick, &picked);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << index;
    EXPECT_THAT(s.error_message(), HasSubstr("outside [0, 1)"));
  }
}

// Composition by handle: every symbol stays on the compiler; node identity is kept across
// requests (x twice is one variable, without merging by name), the results' JSON is what the
// JSON requests give, and a handle the compiler does not hold is NOT_FOUND unless the JSON
// comes along.
TEST_F(CompilerServiceTest, ComposesByHandle) {
  auto compose = [&](v1::ComposeRequest req, v1::Symbol* out) {
    req.set_by_ref(true);
    v1::ComposeResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Compose(&ctx, req, &resp);
    *out = resp.symbol();
    return s;
  };
  v1::ComposeRequest var;
  var.set_variable("x");
  v1::Symbol x;
  ASSERT_TRUE(compose(var, &x).ok());
  ASSERT_EQ(x.ref().size(), 32u);
  EXPECT_TRUE(x.json().empty());
  v1::ComposeRequest twice;
  twice.set_op("_Plus");
  twice.set_name("plus0");
  *twice.add_positional() = x;
  *twice.add_positional() = x;
  v1::Symbol plus;
  ASSERT_TRUE(compose(twice, &plus).ok());
  v1::DescribeResponse described = Describe(plus);
  EXPECT_THAT(described.arguments(), ElementsAre("x"));

  // The same graph through JSON requests gives the same canonical JSON.
  v1::Symbol x_json = Variable("x");
  v1::Symbol plus_json;
  {
    v1::ComposeRequest req = twice;
    req.clear_positional();
    *req.add_positional() = x_json;
    *req.add_positional() = x_json;
    v1::ComposeResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Compose(&ctx, req, &resp).ok());
    plus_json = resp.symbol();
  }
  EXPECT_EQ(described.canonical().json(), Describe(plus_json).canonical().json());

  // Transform and inference take handles too; skip_canonical leaves the JSON out.
  v1::TransformRequest pick;
  *pick.add_symbols() = plus;
  pick.set_output_index(0);
  pick.set_by_ref(true);
  v1::TransformResponse picked;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Transform(&ctx, pick, &picked).ok());
  }
  EXPECT_FALSE(picked.symbol().ref().empty());
  v1::DescribeRequest lists;
  *lists.mutable_symbol() = picked.symbol();
  lists.set_skip_canonical(true);
  v1::DescribeResponse listed;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Describe(&ctx, lists, &listed).ok());
  }
  EXPECT_THAT(listed.outputs(), ElementsAre("plus0_output"));
  EXPECT_FALSE(listed.has_canonical());
  v1::InferShapeRequest infer;
  *infer.mutable_symbol() = plus;
  (*infer.mutable_shapes())["x"].set_known(true);
  (*infer.mutable_shapes())["x"].add_dims(3);
  v1::InferShapeResponse inferred;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->InferShape(&ctx, infer, &inferred).ok());
  }
  ASSERT_EQ(inferred.out_shapes_size(), 1);
  EXPECT_THAT(inferred.out_shapes(0).dims(), ElementsAre(3));

  // A handle not held: NOT_FOUND naming it; with the JSON beside it, the JSON is used.
  v1::Symbol stale;
  stale.set_ref("00000000000000000000000000000000");
  v1::DescribeRequest bad;
  *bad.mutable_symbol() = stale;
  v1::DescribeResponse unused;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Describe(&ctx, bad, &unused);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(s.error_message(), HasSubstr("symbol reference"));
  }
  bad.mutable_symbol()->set_json(plus_json.json());
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Describe(&ctx, bad, &unused).ok());
    EXPECT_THAT(unused.arguments(), ElementsAre("x"));
  }
}

// The symbol cache is bounded (64 entries here): old handles are dropped, new ones work.
TEST_F(CompilerServiceTest, HandlesAreEvictedBeyondTheCache) {
  v1::ComposeRequest var;
  var.set_variable("x");
  var.set_by_ref(true);
  std::vector<std::string> refs;
  for (int i = 0; i < 100; ++i) {
    v1::ComposeResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Compose(&ctx, var, &resp).ok());
    refs.push_back(resp.symbol().ref());
  }
  v1::DescribeRequest first, last;
  first.mutable_symbol()->set_ref(refs.front());
  last.mutable_symbol()->set_ref(refs.back());
  v1::DescribeResponse resp;
  grpc::ClientContext a, b;
  EXPECT_EQ(stub_->Describe(&a, first, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(stub_->Describe(&b, last, &resp).ok());
}

// A burst: steps naming earlier steps' client-chosen handles; the first failing step's error
// names its index and the steps before it stay held.
TEST_F(CompilerServiceTest, ComposeBurstHoldsEachStepUnderItsHandle) {
  const std::string x_ref(32, 'a'), fc_ref(32, 'b'), pick_ref(32, 'c');
  v1::ComposeBurstRequest burst;
  v1::BurstStep* var = burst.add_steps();
  var->mutable_compose()->set_variable("x");
  var->set_ref(x_ref);
  v1::BurstStep* fc = burst.add_steps();
  fc->mutable_compose()->set_op("FullyConnected");
  fc->mutable_compose()->set_name("fc1");
  (*fc->mutable_compose()->mutable_attrs())["num_hidden"] = "4";
  fc->mutable_compose()->add_positional()->set_ref(x_ref);
  fc->set_ref(fc_ref);
  v1::BurstStep* pick = burst.add_steps();
  pick->mutable_transform()->add_symbols()->set_ref(fc_ref);
  pick->mutable_transform()->set_output_index(0);
  pick->set_ref(pick_ref);
  v1::ComposeBurstResponse unused;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ComposeBurst(&ctx, burst, &unused);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::Symbol held;
  held.set_ref(pick_ref);
  EXPECT_THAT(Describe(held).arguments(), ElementsAre("x", "fc1_weight", "fc1_bias"));

  // Again: the handles are taken.
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ComposeBurst(&ctx, burst, &unused);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_THAT(s.error_message(), HasSubstr("burst step 0"));
  }
  // A bad handle; a failing step after a good one.
  v1::ComposeBurstRequest bad;
  v1::BurstStep* ok = bad.add_steps();
  ok->mutable_compose()->set_variable("y");
  ok->set_ref(std::string(32, 'd'));
  v1::BurstStep* wrong = bad.add_steps();
  wrong->mutable_compose()->set_op("FullyConnected");
  wrong->mutable_compose()->set_name("fc2");
  wrong->mutable_compose()->add_positional()->set_ref(std::string(32, 'd'));
  wrong->set_ref(std::string(32, 'e'));  // num_hidden missing
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ComposeBurst(&ctx, bad, &unused);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("burst step 1"));
  }
  held.set_ref(std::string(32, 'd'));
  EXPECT_THAT(Describe(held).arguments(), ElementsAre("y"));
  v1::ComposeBurstRequest odd;
  odd.add_steps()->mutable_compose()->set_variable("z");
  odd.mutable_steps(0)->set_ref("ABC");
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->ComposeBurst(&ctx, odd, &unused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CompilerServiceTest, ASymbolsOutputIsSelectedWithoutATransform) {
  const std::string x_ref(32, 'a'), split_ref(32, 'b'), use_ref(32, 'c');
  v1::ComposeBurstRequest burst;
  v1::BurstStep* var = burst.add_steps();
  var->mutable_compose()->set_variable("x");
  var->set_ref(x_ref);
  v1::BurstStep* split = burst.add_steps();
  split->mutable_compose()->set_op("SliceChannel");
  split->mutable_compose()->set_name("s");
  (*split->mutable_compose()->mutable_attrs())["num_outputs"] = "3";
  split->mutable_compose()->add_positional()->set_ref(x_ref);
  split->set_ref(split_ref);
  // An input given as output 2 of the split, by handle and output.
  v1::BurstStep* use = burst.add_steps();
  use->mutable_compose()->set_op("Activation");
  use->mutable_compose()->set_name("act");
  (*use->mutable_compose()->mutable_attrs())["act_type"] = "relu";
  v1::Symbol* in = use->mutable_compose()->add_positional();
  in->set_ref(split_ref);
  in->set_output(2);
  use->set_ref(use_ref);
  v1::ComposeBurstResponse unused;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->ComposeBurst(&ctx, burst, &unused);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::Symbol held;
  held.set_ref(split_ref);
  EXPECT_THAT(Describe(held).outputs(), ElementsAre("s_output0", "s_output1", "s_output2"));
  held.set_output(1);
  EXPECT_THAT(Describe(held).outputs(), ElementsAre("s_output1"));
  held.set_output(0);  // output 0 is a selection too, not "unset"
  EXPECT_THAT(Describe(held).outputs(), ElementsAre("s_output0"));
  v1::DescribeRequest req;
  req.mutable_symbol()->set_ref(use_ref);
  v1::DescribeResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Describe(&ctx, req, &resp).ok());
  }
  EXPECT_THAT(resp.canonical().json(), HasSubstr("[1, 2, 0]"));  // act reads s's output 2
  // Out of range, either way, is the caller's argument error.
  for (int bad : {3, -1}) {
    req.mutable_symbol()->set_ref(split_ref);
    req.mutable_symbol()->set_output(bad);
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Describe(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(s.error_message(), HasSubstr("output index")) << bad;
  }
}

}  // namespace
}  // namespace mxgrid::services
