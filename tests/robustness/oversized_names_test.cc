// Names far larger than any real one: a 20,000-character operator, a 100 KB session id, a
// 1 MB kvstore key (worker local store and the kvstore shard). Each call must return the
// code the protos document (worker.proto, kvstore.proto: NOT_FOUND for unknown sessions,
// operators and keys, ALREADY_EXISTS for a second init, INVALID_ARGUMENT for a value of the
// wrong shape; a key of any length is a valid key) with a message short enough to read
// (STYLE.md: the status conversion truncates long messages), and the server must live on.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/live_server.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::FloatTensor;
using integration::ServerProcess;
using integration::SetTimeout;
using integration::TensorFloats;
using integration::WorkerClient;

constexpr size_t kShortMessage = 1024;

// The status has `code` and a message under 1 KB.
void ExpectCodeAndShortMessage(absl::string_view what, const grpc::Status& s,
                               grpc::StatusCode code) {
  EXPECT_EQ(s.error_code(), code) << what << ": " << Describe(s).substr(0, 300);
  EXPECT_LT(s.error_message().size(), kShortMessage)
      << what << ": a message of " << s.error_message().size() << " bytes";
}

class OversizedNamesTest : public ::testing::Test {
 protected:
  // A worker that plans in its own process, and a kvstore shard; started for each test so
  // that one killed server does not fail the others.
  void SetUp() override {
    for (auto [kind, slot] : {std::pair{ServerKind::kWorker, &worker_},
                              std::pair{ServerKind::kKVStore, &kvstore_}}) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> started = StartServer(kind);
      ASSERT_TRUE(started.ok()) << started.status();
      *slot = std::move(*started);
    }
    w_ = std::make_unique<WorkerClient>(worker_->NewChannel());
    ASSERT_TRUE(w_->Open().ok());
  }
  void TearDown() override {
    for (auto [kind, server] : {std::pair{ServerKind::kWorker, worker_.get()},
                                std::pair{ServerKind::kKVStore, kvstore_.get()}}) {
      if (server == nullptr) continue;
      const absl::Status alive = CheckServing(*server, kind);
      EXPECT_TRUE(alive.ok()) << alive;
    }
  }

  std::unique_ptr<ServerProcess> worker_, kvstore_;
  std::unique_ptr<WorkerClient> w_;
};

TEST_F(OversizedNamesTest, InvokeOfA20000CharacterOperatorIsNotFound) {
  uint64_t a = 0;
  ASSERT_TRUE(w_->UploadFloats({2}, {1, 2}, &a).ok());
  const std::string op(20000, 'A');
  ExpectCodeAndShortMessage("Invoke", w_->Invoke(op, {}, {a}, nullptr), grpc::StatusCode::NOT_FOUND);

  v1::InvokeBatchRequest batch;
  batch.set_session(w_->session());
  batch.add_calls()->set_op(op);
  batch.mutable_calls(0)->add_inputs(a);
  v1::InvokeBatchResponse results;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(20));
  ExpectCodeAndShortMessage("InvokeBatch", w_->stub()->InvokeBatch(&context, batch, &results),
                            grpc::StatusCode::NOT_FOUND);

  // The worker serves the compiler's API too (no --compiler): Compose of that operator.
  auto compiler = v1::Compiler::NewStub(worker_->NewChannel());
  v1::ComposeRequest compose;
  compose.set_op(op);
  compose.set_name("x");
  v1::ComposeResponse composed;
  grpc::ClientContext compose_context;
  SetTimeout(&compose_context, absl::Seconds(20));
  ExpectCodeAndShortMessage("Compose", compiler->Compose(&compose_context, compose, &composed),
                            grpc::StatusCode::NOT_FOUND);
}

TEST_F(OversizedNamesTest, A100KBSessionIdIsNotFound) {
  WorkerClient stranger(worker_->NewChannel());
  stranger.set_session(std::string(100 << 10, 's'));
  uint64_t ignored;
  ExpectCodeAndShortMessage("Upload", stranger.UploadFloats({1}, {1}, &ignored),
                            grpc::StatusCode::NOT_FOUND);
  ExpectCodeAndShortMessage("Invoke", stranger.Invoke("elemwise_add", {}, {1, 1}, nullptr),
                            grpc::StatusCode::NOT_FOUND);
  ExpectCodeAndShortMessage("CloseSession", stranger.Close(), grpc::StatusCode::NOT_FOUND);
}

// A worker that plans through a compiler process: the compiler's error about a 20,000-
// character input name must reach the caller as INVALID_ARGUMENT (the caller's mistake), not
// as UNAVAILABLE (a compiler that cannot be used), and short.
TEST_F(OversizedNamesTest, SimpleBindWithA20000CharacterInputNameThroughACompilerProcess) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> compiler = StartServer(ServerKind::kCompiler);
  ASSERT_TRUE(compiler.ok()) << compiler.status();
  absl::StatusOr<std::unique_ptr<ServerProcess>> worker = StartServer(
      ServerKind::kWorker, {absl::StrCat("--compiler=", (*compiler)->address())});
  ASSERT_TRUE(worker.ok()) << worker.status();
  WorkerClient w((*worker)->NewChannel());
  ASSERT_TRUE(w.Open().ok());
  v1::SimpleBindRequest request;
  request.set_session(w.session());
  request.mutable_symbol()->set_json(integration::MlpJson({.hidden = 4, .outputs = 2}));
  (*request.mutable_inputs())["data"] = integration::FloatMeta({2, 3});
  (*request.mutable_inputs())[std::string(20000, 'd')] = integration::FloatMeta({2, 3});
  request.set_grad_req("write");
  v1::BindResponse bound;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(20));
  ExpectCodeAndShortMessage("SimpleBind", w.stub()->SimpleBind(&context, request, &bound),
                            grpc::StatusCode::INVALID_ARGUMENT);
  for (auto [kind, server] : {std::pair{ServerKind::kWorker, worker->get()},
                              std::pair{ServerKind::kCompiler, compiler->get()}}) {
    const absl::Status alive = CheckServing(*server, kind);
    EXPECT_TRUE(alive.ok()) << alive;
  }
}

// The worker's local kvstore: init, re-init, push to an unknown key, push, pull.
TEST_F(OversizedNamesTest, WorkerKVStoreWithA1MBKey) {
  const std::string key(1 << 20, 'k');
  const std::string other = key.substr(1) + "x";  // same length, never initialized
  uint64_t store = 0;
  {
    v1::KVCreateRequest request;
    request.set_session(w_->session());
    request.set_type("local");
    v1::KVCreateResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->KVCreate(&context, request, &response).ok());
    store = response.store();
  }
  uint64_t init = 0, grad = 0, wrong = 0, out = 0;
  ASSERT_TRUE(w_->UploadFloats({3}, {1, 2, 3}, &init).ok());
  ASSERT_TRUE(w_->UploadFloats({3}, {10, 20, 30}, &grad).ok());
  ASSERT_TRUE(w_->UploadFloats({2}, {1, 1}, &wrong).ok());
  ASSERT_TRUE(w_->UploadFloats({3}, {0, 0, 0}, &out).ok());
  auto kv_init = [&](const std::string& k) {
    v1::KVInitRequest request;
    request.set_session(w_->session());
    request.set_store(store);
    v1::KVPair* pair = request.add_pairs();
    pair->set_key(k);
    pair->add_values(init);
    v1::KVInitResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    return w_->stub()->KVInit(&context, request, &response);
  };
  auto kv_push = [&](const std::string& k, uint64_t value) {
    v1::KVPushRequest request;
    request.set_session(w_->session());
    request.set_store(store);
    v1::KVPair* pair = request.add_pairs();
    pair->set_key(k);
    pair->add_values(value);
    v1::KVPushResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    return w_->stub()->KVPush(&context, request, &response);
  };
  grpc::Status s = kv_init(key);
  ASSERT_TRUE(s.ok()) << "KVInit of a 1 MB key: " << Describe(s).substr(0, 300);
  ExpectCodeAndShortMessage("second KVInit", kv_init(key), grpc::StatusCode::ALREADY_EXISTS);
  ExpectCodeAndShortMessage("KVPush to an unknown key", kv_push(other, grad),
                            grpc::StatusCode::NOT_FOUND);
  ExpectCodeAndShortMessage("KVPush of the wrong shape", kv_push(key, wrong),
                            grpc::StatusCode::INVALID_ARGUMENT);
  s = kv_push(key, grad);
  ASSERT_TRUE(s.ok()) << Describe(s).substr(0, 300);
  v1::KVPullRequest pull;
  pull.set_session(w_->session());
  pull.set_store(store);
  v1::KVPair* pair = pull.add_pairs();
  pair->set_key(key);
  pair->add_values(out);
  v1::KVPullResponse pulled;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(20));
  s = w_->stub()->KVPull(&context, pull, &pulled);
  ASSERT_TRUE(s.ok()) << Describe(s).substr(0, 300);
  std::vector<float> values;
  ASSERT_TRUE(w_->DownloadFloats(out, &values).ok());
  EXPECT_EQ(values, (std::vector<float>{10, 20, 30}));  // no optimizer: the push replaces
}

// The kvstore shard (1 worker, sync): the same, through Init / Push / Pull.
TEST_F(OversizedNamesTest, KVStoreShardWithA1MBKey) {
  const std::string key(1 << 20, 'k');
  const std::string other = key.substr(1) + "x";
  auto stub = v1::KVStore::NewStub(kvstore_->NewChannel());
  {
    v1::JoinJobRequest request;
    request.set_job("big-keys");
    request.set_num_workers(1);
    v1::JoinJobResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    ASSERT_TRUE(stub->JoinJob(&context, request, &response).ok());
  }
  auto init = [&](const std::string& k) {
    v1::InitRequest request;
    request.mutable_ref()->set_job("big-keys");
    request.mutable_ref()->set_key(k);
    *request.mutable_value() = FloatTensor({3}, {1, 2, 3});
    v1::InitResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    return stub->Init(&context, request, &response);
  };
  auto push = [&](const std::string& k, const v1::Tensor& value) {
    v1::PushRequest request;
    request.mutable_ref()->set_job("big-keys");
    request.mutable_ref()->set_key(k);
    *request.add_values() = value;
    v1::PushResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    return stub->Push(&context, request, &response);
  };
  auto pull = [&](const std::string& k, v1::PullResponse* response) {
    v1::PullRequest request;
    request.mutable_ref()->set_job("big-keys");
    request.mutable_ref()->set_key(k);
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(20));
    return stub->Pull(&context, request, response);
  };
  grpc::Status s = init(key);
  ASSERT_TRUE(s.ok()) << "Init of a 1 MB key: " << Describe(s).substr(0, 300);
  ExpectCodeAndShortMessage("second Init", init(key), grpc::StatusCode::ALREADY_EXISTS);
  ExpectCodeAndShortMessage("Push to an unknown key", push(other, FloatTensor({3}, {1, 1, 1})),
                            grpc::StatusCode::NOT_FOUND);
  v1::PullResponse pulled;
  ExpectCodeAndShortMessage("Pull of an unknown key", pull(other, &pulled),
                            grpc::StatusCode::NOT_FOUND);
  ExpectCodeAndShortMessage("Push of the wrong shape", push(key, FloatTensor({2}, {1, 1})),
                            grpc::StatusCode::INVALID_ARGUMENT);
  s = push(key, FloatTensor({3}, {10, 20, 30}));
  ASSERT_TRUE(s.ok()) << Describe(s).substr(0, 300);
  s = pull(key, &pulled);
  ASSERT_TRUE(s.ok()) << Describe(s).substr(0, 300);
  EXPECT_EQ(TensorFloats(pulled.value()), (std::vector<float>{10, 20, 30}));
}

}  // namespace
}  // namespace mxgrid::robustness
