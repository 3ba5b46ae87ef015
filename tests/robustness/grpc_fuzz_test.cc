// Scenario 2: random and mutated request bytes at every gRPC method of the worker (with a
// compiler of its own), the compiler and the kvstore, reflection and health included (see
// fuzz_pass.h for what is judged and how to replay a seed). Hinted requests use a live
// session with arrays, a bound executor and a local store, real operator names and
// parameters, valid Symbol JSON and initialized keys, so that they get past the first
// lookups. Each pass ends with real work checked by value (live_server.h).
//
// The servers run with MXGRID_CPU_MEMORY_LIMIT_MB=1024: fuzzed shapes ask for terabytes,
// which must be RESOURCE_EXHAUSTED, not a machine brought to its knees.
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/fuzz_pass.h"
#include "tests/robustness/live_server.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::FloatMeta;
using integration::ServerProcess;
using integration::SetTimeout;
using integration::WorkerClient;

using OpParams = std::map<std::string, OpSchema>;

absl::Status Failed(absl::string_view what, const grpc::Status& s) {
  return absl::UnavailableError(absl::StrCat(what, ": ", Describe(s)));
}

// Every operator name and alias with its schema, from a Compiler service.
absl::StatusOr<OpParams> OperatorParams(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Compiler::NewStub(channel);
  v1::ListOperatorsResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(20));
  if (grpc::Status s = stub->ListOperators(&context, {}, &response); !s.ok()) {
    return Failed("ListOperators", s);
  }
  OpParams ops;
  for (const v1::OperatorInfo& op : response.operators()) {
    OpSchema schema;
    schema.inputs = op.inputs_size();
    for (const v1::OperatorParam& p : op.params()) {
      schema.params.push_back({p.name(), p.type(), p.required()});
    }
    ops[op.name()] = schema;
    for (const std::string& alias : op.aliases()) ops[alias] = schema;
  }
  return ops;
}

// Symbol JSON and argument names every target shares.
FuzzHints GraphHints(OpParams ops) {
  FuzzHints hints;
  hints.ops = std::move(ops);
  hints.arg_names = {"data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "a", "b"};
  hints.jsons = {integration::MlpJson({.hidden = 4, .outputs = 2}),
                 integration::DeepFcChainJson(2, 3),
                 R"({"nodes": [{"op": "null", "name": "a", "inputs": []},)"
                 R"({"op": "null", "name": "b", "inputs": []},)"
                 R"({"op": "Concat", "name": "c", "attrs": {"num_args": "2", "dim": "1"},)"
                 R"("inputs": [[0, 0, 0], [1, 0, 0]]}], "arg_nodes": [0, 1],)"
                 R"("node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]]})"};
  return hints;
}

class GrpcFuzzTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Fuzzed strings are often invalid UTF-8; protobuf logs each one it serializes.
    google::protobuf::SetLogHandler(nullptr);
    setenv("MXGRID_CPU_MEMORY_LIMIT_MB", "1024", /*overwrite=*/1);
  }
  static void TearDownTestSuite() { compiler_.reset(); }

  // A compiler for the worker and the compiler pass; restarted when dead.
  static absl::StatusOr<ServerProcess*> Compiler() {
    if (compiler_ == nullptr || compiler_->WaitForExit(absl::ZeroDuration()).ok()) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> c = StartServer(ServerKind::kCompiler);
      if (!c.ok()) return c.status();
      compiler_ = std::move(*c);
      ops_.reset();
    }
    if (ops_ == nullptr) {
      absl::StatusOr<OpParams> ops = OperatorParams(compiler_->NewChannel());
      if (!ops.ok()) return ops.status();
      ops_ = std::make_unique<OpParams>(*std::move(ops));
    }
    return compiler_.get();
  }

  static inline std::unique_ptr<ServerProcess> compiler_;
  static inline std::unique_ptr<OpParams> ops_;
};

// A session with arrays of several shapes (an empty one too) and dtypes, a bound MLP
// (arguments, gradients, outputs) and a local store with key "3".
absl::StatusOr<FuzzHints> WorkerHints(ServerProcess& worker, const OpParams& ops) {
  FuzzHints hints = GraphHints(ops);
  WorkerClient w(worker.NewChannel());
  if (grpc::Status s = w.Open(); !s.ok()) return Failed("OpenSession", s);
  hints.session = w.session();
  uint64_t a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0;
  grpc::Status s = w.UploadFloats({2, 3}, {1, 2, 3, 4, 5, 6}, &a);
  if (s.ok()) s = w.UploadFloats({2, 3}, {-1, 0, 1, 2, 3, 4}, &b);
  if (s.ok()) s = w.Create(integration::IntTensor({4}, {1, 2, 3, 4}).meta(), 1, &c);
  if (s.ok()) s = w.UploadFloats({3}, {1, 2, 3}, &d);
  if (s.ok()) s = w.Create(FloatMeta({1, 1, 4, 4}), 0.5, &e);
  if (s.ok()) s = w.Create(FloatMeta({0, 3}), 0, &f);
  if (s.ok()) s = w.UploadFloats({1}, {2}, &g);
  if (!s.ok()) return Failed("arrays", s);
  hints.handles = {a, b, c, d, e, f, g};
  hints.shapes = {{2, 3}, {3}, {1, 1, 4, 4}, {0, 3}, {1}};

  v1::SimpleBindRequest bind;
  bind.set_session(w.session());
  bind.mutable_symbol()->set_json(hints.jsons[0]);
  (*bind.mutable_inputs())["data"] = FloatMeta({2, 3});
  bind.set_grad_req("write");
  v1::BindResponse bound;
  {
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    if (s = w.stub()->SimpleBind(&context, bind, &bound); !s.ok()) return Failed("SimpleBind", s);
  }
  hints.objects.push_back(bound.executor());
  for (const auto* list : {&bound.args(), &bound.arg_grads(), &bound.outputs()}) {
    for (const v1::ArrayInfo& info : *list) hints.handles.push_back(info.handle());
  }

  v1::KVCreateRequest create;
  create.set_session(w.session());
  create.set_type("local");
  v1::KVCreateResponse store;
  {
    grpc::ClientContext context;
    if (s = w.stub()->KVCreate(&context, create, &store); !s.ok()) return Failed("KVCreate", s);
  }
  hints.objects.push_back(store.store());
  v1::KVInitRequest init;
  init.set_session(w.session());
  init.set_store(store.store());
  init.add_pairs()->set_key("3");
  init.mutable_pairs(0)->add_values(d);
  v1::KVInitResponse done;
  grpc::ClientContext context;
  if (s = w.stub()->KVInit(&context, init, &done); !s.ok()) return Failed("KVInit", s);
  hints.keys = {"3", "4", "w"};
  return hints;
}

TEST_F(GrpcFuzzTest, Worker) {
  FuzzTarget target;
  target.kind = ServerKind::kWorker;
  target.start = []() -> absl::StatusOr<std::unique_ptr<ServerProcess>> {
    absl::StatusOr<ServerProcess*> compiler = Compiler();
    if (!compiler.ok()) return compiler.status();
    return StartServer(ServerKind::kWorker, {absl::StrCat("--compiler=", (*compiler)->address())});
  };
  target.hints = [](ServerProcess& worker) { return WorkerHints(worker, *ops_); };
  target.peers = [] { return std::vector<ServerProcess*>{compiler_.get()}; };
  FuzzPass(std::move(target)).Run();
}

TEST_F(GrpcFuzzTest, Compiler) {
  ASSERT_TRUE(Compiler().ok());
  FuzzTarget target;
  target.kind = ServerKind::kCompiler;
  target.start = [] { return StartServer(ServerKind::kCompiler); };
  target.hints = [](ServerProcess&) -> absl::StatusOr<FuzzHints> { return GraphHints(*ops_); };
  FuzzPass(std::move(target)).Run();
}

TEST_F(GrpcFuzzTest, KVStore) {
  FuzzTarget target;
  target.kind = ServerKind::kKVStore;
  target.start = [] { return StartServer(ServerKind::kKVStore); };
  target.hints = [](ServerProcess& shard) -> absl::StatusOr<FuzzHints> {
    auto stub = v1::KVStore::NewStub(shard.NewChannel());
    FuzzHints hints;
    hints.keys = {"3", "5", "x"};
    hints.shapes = {{2, 3}};
    {  // Job "fuzz" (rank 0 of 1): the fuzzed calls name it or not (NOT_FOUND: fine).
      v1::JoinJobRequest request;
      request.set_job("fuzz");
      request.set_num_workers(1);
      v1::JoinJobResponse response;
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(20));
      (void)stub->JoinJob(&context, request, &response);
    }
    for (const char* key : {"3", "5"}) {  // ALREADY_EXISTS after the first method: fine
      v1::InitRequest request;
      request.mutable_ref()->set_job("fuzz");
      request.mutable_ref()->set_key(key);
      *request.mutable_value() = integration::FloatTensor({2, 3}, {1, 2, 3, 4, 5, 6});
      v1::InitResponse response;
      grpc::ClientContext context;
      SetTimeout(&context, absl::Seconds(20));
      (void)stub->Init(&context, request, &response);
    }
    return hints;
  };
  FuzzPass(std::move(target)).Run();
}

}  // namespace
}  // namespace mxgrid::robustness
