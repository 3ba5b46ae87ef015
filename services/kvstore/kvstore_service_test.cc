// The KVStore service over a real gRPC server on a loopback port: jobs and membership,
// per-rank init, sync rounds from two connections, leaving ranks, barriers, the optimizer and
// its states, the streams with a KeyRef on the first message, and every error code.
#include "services/kvstore/kvstore_service.h"
#include "services/kvstore/kvstore_test_util.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/job_table.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

using testing::Floats;
using testing::Values;

class KVStoreServiceTest : public ::testing::Test {
 protected:
  void Start(kvstore::JobTableOptions options) {
    table_ = std::make_unique<kvstore::JobTable>(options);
    service_ = std::make_unique<KVStoreService>(table_.get(), nullptr);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = NewStub();
  }
  // A stub over its own connection (a distinct channel argument).
  std::unique_ptr<v1::KVStore::Stub> NewStub() {
    grpc::ChannelArguments args;
    args.SetInt("kvstore_service_test.channel", next_channel_++);
    return v1::KVStore::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials(), args));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static void SetRef(const std::string& key, int rank, int part, v1::KeyRef* ref,
                     const std::string& job = "j") {
    ref->set_job(job);
    ref->set_key(key);
    ref->set_rank(rank);
    ref->set_part(part);
  }
  grpc::Status Join(int rank, int num_workers = 0, v1::KVMode mode = v1::KV_MODE_UNSPECIFIED,
                    const std::string& job = "j", v1::JoinJobResponse* out = nullptr) {
    v1::JoinJobRequest req;
    req.set_job(job);
    req.set_rank(rank);
    req.set_num_workers(num_workers);
    req.set_mode(mode);
    v1::JoinJobResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->JoinJob(&ctx, req, &resp);
    if (out != nullptr) *out = resp;
    return s;
  }
  grpc::Status Init(const std::string& key, const v1::Tensor& value, int rank = 0,
                    int index = 0, int part = 0, bool* restored = nullptr) {
    v1::InitRequest req;
    SetRef(key, rank, part, req.mutable_ref());
    req.set_index(index);
    *req.mutable_value() = value;
    v1::InitResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Init(&ctx, req, &resp);
    if (restored != nullptr) *restored = resp.restored();
    return s;
  }
  grpc::Status Push(const std::string& key, int rank, std::vector<v1::Tensor> values,
                    v1::KVStore::Stub* stub = nullptr, int part = 0) {
    v1::PushRequest req;
    SetRef(key, rank, part, req.mutable_ref());
    for (v1::Tensor& v : values) *req.add_values() = std::move(v);
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return (stub ? stub : stub_.get())->Push(&ctx, req, &resp);
  }
  grpc::Status Pull(const std::string& key, int rank, std::vector<float>* out,
                    absl::Duration timeout = absl::Seconds(30),
                    v1::KVStore::Stub* stub = nullptr, int part = 0) {
    v1::PullRequest req;
    SetRef(key, rank, part, req.mutable_ref());
    v1::PullResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    grpc::Status s = (stub ? stub : stub_.get())->Pull(&ctx, req, &resp);
    if (s.ok()) *out = Values(resp.value());
    return s;
  }
  grpc::Status SetOptimizer(int rank, const std::string& name,
                            std::map<std::string, std::string> params) {
    v1::SetOptimizerRequest req;
    req.set_job("j");
    req.set_rank(rank);
    req.set_name(name);
    for (const auto& [k, v] : params) (*req.mutable_params())[k] = v;
    v1::SetOptimizerResponse resp;
    grpc::ClientContext ctx;
    return stub_->SetOptimizer(&ctx, req, &resp);
  }
  grpc::Status Barrier(int rank, v1::KVStore::Stub* stub,
                       absl::Duration timeout = absl::Seconds(30)) {
    v1::BarrierRequest req;
    req.set_job("j");
    req.set_rank(rank);
    v1::BarrierResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return stub->Barrier(&ctx, req, &resp);
  }
  grpc::Status Leave(int rank) {
    v1::LeaveJobRequest req;
    req.set_job("j");
    req.set_rank(rank);
    v1::LeaveJobResponse resp;
    grpc::ClientContext ctx;
    return stub_->LeaveJob(&ctx, req, &resp);
  }
  std::vector<v1::OptimizerState> GetStates(grpc::Status* status) {
    v1::GetOptimizerStatesRequest req;
    req.set_job("j");
    grpc::ClientContext ctx;
    auto reader = stub_->GetOptimizerStates(&ctx, req);
    std::vector<v1::OptimizerState> out;
    v1::OptimizerState s;
    while (reader->Read(&s)) out.push_back(s);
    *status = reader->Finish();
    return out;
  }

  std::unique_ptr<kvstore::JobTable> table_;
  std::unique_ptr<KVStoreService> service_;
  int port_ = 0;
  int next_channel_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::KVStore::Stub> stub_;
};

TEST_F(KVStoreServiceTest, InitPushPullRoundTrips) {
  Start({});
  v1::JoinJobResponse joined;
  ASSERT_TRUE(Join(0, 0, v1::KV_MODE_UNSPECIFIED, "j", &joined).ok());
  EXPECT_EQ(joined.num_workers(), 1);
  EXPECT_EQ(joined.mode(), v1::KV_MODE_SYNC);
  EXPECT_EQ(joined.heartbeat_timeout_ms(), 30000);
  EXPECT_EQ(joined.restored_round(), 0);
  bool restored = true;
  ASSERT_TRUE(Init("3", Floats({1, 2}), 0, 3, 0, &restored).ok());
  EXPECT_FALSE(restored);
  std::vector<float> got;
  ASSERT_TRUE(Pull("3", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(1, 2));
  ASSERT_TRUE(Push("3", 0, {Floats({1, 1}), Floats({2, 2})}).ok());
  ASSERT_TRUE(Pull("3", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(3, 3));  // overwritten by the sum without an optimizer

  v1::ListKeysRequest req;
  req.set_job("j");
  v1::ListKeysResponse keys;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListKeys(&ctx, req, &keys).ok());
  EXPECT_THAT(keys.keys(), ElementsAre("3"));
  EXPECT_THAT(keys.active_ranks(), ElementsAre(0));
  EXPECT_EQ(keys.dead_rank(), -1);
  EXPECT_EQ(keys.round(), 1);
  EXPECT_EQ(keys.bytes_in_use(), 8);
  v1::ListKeysResponse jobs;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->ListKeys(&ctx2, {}, &jobs).ok());
  EXPECT_THAT(jobs.jobs(), ElementsAre("j"));
}

TEST_F(KVStoreServiceTest, RowPushesAndPullsCarryOnlyTheRowsPieces) {
  Start({});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Init("e", Floats({1, 1, 1, 1, 1, 1}), 0, 0, 0, nullptr).ok());
  // The key seen as rows of 2: rows 0 and 2 of 3.
  v1::PushRequest push;
  SetRef("e", 0, 0, push.mutable_ref());
  push.mutable_rows()->add_ids(0);
  push.mutable_rows()->add_ids(2);
  push.mutable_rows()->set_row_length(2);
  *push.add_values() = Floats({5, 6, 7, 8});
  v1::PushResponse pushed;
  grpc::ClientContext push_ctx;
  ASSERT_TRUE(stub_->Push(&push_ctx, push, &pushed).ok());
  std::vector<float> got;
  ASSERT_TRUE(Pull("e", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(5, 6, 0, 0, 7, 8));  // the round's sum, zero elsewhere

  v1::PullRequest pull;
  SetRef("e", 0, 0, pull.mutable_ref());
  pull.mutable_rows()->add_ids(2);
  pull.mutable_rows()->set_row_length(2);
  v1::PullResponse rows;
  grpc::ClientContext pull_ctx;
  ASSERT_TRUE(stub_->Pull(&pull_ctx, pull, &rows).ok());
  EXPECT_THAT(Values(rows.value()), ElementsAre(7, 8));

  // A row outside the key, two values, rows in a Batch: INVALID_ARGUMENT, nothing pushed.
  v1::PushRequest bad = push;
  bad.mutable_rows()->set_ids(1, 3);
  grpc::ClientContext bad_ctx;
  EXPECT_EQ(stub_->Push(&bad_ctx, bad, &pushed).error_code(), grpc::INVALID_ARGUMENT);
  bad = push;
  *bad.add_values() = Floats({1, 1, 1, 1});
  grpc::ClientContext two_ctx;
  EXPECT_EQ(stub_->Push(&two_ctx, bad, &pushed).error_code(), grpc::INVALID_ARGUMENT);
  v1::BatchRequest batch;
  *batch.add_items()->mutable_push() = push;
  v1::BatchResponse batched;
  grpc::ClientContext batch_ctx;
  grpc::Status refused = stub_->Batch(&batch_ctx, batch, &batched);
  EXPECT_EQ(refused.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("unary"));
  ASSERT_TRUE(Pull("e", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(5, 6, 0, 0, 7, 8));
}

TEST_F(KVStoreServiceTest, SyncRoundOfTwoRanksOnTwoConnections) {
  Start({.num_workers = 2});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  ASSERT_TRUE(Init("0", Floats({0, 0}), 0).ok());
  bool restored = true;
  ASSERT_TRUE(Init("0", Floats({9, 9}), 1, 0, 0, &restored).ok());  // ignored
  EXPECT_FALSE(restored);
  std::unique_ptr<v1::KVStore::Stub> other = NewStub();
  ASSERT_TRUE(Push("0", 0, {Floats({1, 10})}).ok());
  std::vector<float> got0, got1;
  grpc::Status pulled0;
  std::atomic<bool> pushed1{false};
  bool early = false;
  std::thread rank0([&] {
    pulled0 = Pull("0", 0, &got0);
    early = !pushed1.load();
  });
  absl::SleepFor(absl::Milliseconds(300));  // rank 0's pull waits meanwhile
  pushed1 = true;
  ASSERT_TRUE(Push("0", 1, {Floats({2, 20})}, other.get()).ok());
  ASSERT_TRUE(Pull("0", 1, &got1, absl::Seconds(30), other.get()).ok());
  rank0.join();
  ASSERT_TRUE(pulled0.ok()) << pulled0.error_message();
  EXPECT_FALSE(early);
  EXPECT_THAT(got0, ElementsAre(3, 30));
  EXPECT_THAT(got1, ElementsAre(3, 30));
}

TEST_F(KVStoreServiceTest, PullTimesOutBeforeTheRoundCompletes) {
  Start({.num_workers = 2});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  ASSERT_TRUE(Init("0", Floats({0, 0})).ok());
  ASSERT_TRUE(Push("0", 0, {Floats({1, 1})}).ok());
  std::vector<float> got;
  const absl::Time start = absl::Now();
  grpc::Status s = Pull("0", 0, &got, absl::Milliseconds(300));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(Push("0", 1, {Floats({2, 2})}).ok());
  ASSERT_TRUE(Pull("0", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(3, 3));
}

TEST_F(KVStoreServiceTest, LeavingRankCompletesTheWaitingRoundAndBarrier) {
  Start({.num_workers = 3});
  for (int r = 0; r < 3; ++r) ASSERT_TRUE(Join(r).ok());
  ASSERT_TRUE(Init("0", Floats({0})).ok());
  std::unique_ptr<v1::KVStore::Stub> s1 = NewStub(), s2 = NewStub();
  ASSERT_TRUE(Push("0", 0, {Floats({1})}).ok());
  ASSERT_TRUE(Push("0", 1, {Floats({2})}, s1.get()).ok());
  std::vector<float> got;
  grpc::Status pulled, barrier0, barrier1;
  std::thread waiter([&] { pulled = Pull("0", 0, &got); });
  std::thread b0([&] { barrier0 = Barrier(0, s1.get()); });
  std::thread b1([&] { barrier1 = Barrier(1, s2.get()); });
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(Leave(2).ok());  // rank 2 never pushed nor reached the barrier
  ASSERT_TRUE(Leave(2).ok());  // idempotent
  waiter.join();
  b0.join();
  b1.join();
  ASSERT_TRUE(pulled.ok()) << pulled.error_message();
  EXPECT_THAT(got, ElementsAre(3));
  EXPECT_TRUE(barrier0.ok()) << barrier0.error_message();
  EXPECT_TRUE(barrier1.ok()) << barrier1.error_message();
  // The rank that left is refused; the others go on with two ranks.
  EXPECT_EQ(Push("0", 2, {Floats({1})}).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::ListKeysRequest req;
  req.set_job("j");
  v1::ListKeysResponse keys;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListKeys(&ctx, req, &keys).ok());
  EXPECT_THAT(keys.active_ranks(), ElementsAre(0, 1));
  EXPECT_THAT(keys.left_ranks(), ElementsAre(2));
}

TEST_F(KVStoreServiceTest, BarrierPastItsDeadlineIsDeadlineExceeded) {
  Start({.num_workers = 2});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  grpc::Status s = Barrier(0, stub_.get(), absl::Milliseconds(300));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The timed-out call did not count: the next barrier needs both ranks again.
  std::unique_ptr<v1::KVStore::Stub> other = NewStub();
  grpc::Status b1;
  std::thread t([&] { b1 = Barrier(1, other.get()); });
  ASSERT_TRUE(Barrier(0, stub_.get()).ok());
  t.join();
  EXPECT_TRUE(b1.ok());
}

TEST_F(KVStoreServiceTest, JoinAndMembershipErrors) {
  Start({.num_workers = 2});
  EXPECT_EQ(Join(0, 0, v1::KV_MODE_UNSPECIFIED, "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Join(2).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Join(-1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Join(0, -3).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Join(0, 1 << 30).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(0).ok());  // a retry
  grpc::Status s = Join(1, 3);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("2 workers"));
  EXPECT_EQ(Join(1, 2, v1::KV_MODE_ASYNC).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  {
    v1::JoinJobRequest req;
    req.set_job("neg");
    req.set_heartbeat_timeout_ms(-5);
    v1::JoinJobResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->JoinJob(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Rank 1 has not joined.
  EXPECT_EQ(Init("0", Floats({1}), 1).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  std::vector<float> got;
  EXPECT_EQ(Pull("0", 1, &got).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  {
    v1::HeartbeatRequest req;
    req.set_job("j");
    req.set_rank(1);
    v1::HeartbeatResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Heartbeat(&ctx, req, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
    req.set_rank(0);
    grpc::ClientContext ctx2;
    ASSERT_TRUE(stub_->Heartbeat(&ctx2, req, &resp).ok());
    EXPECT_EQ(resp.active_workers(), 1);
    req.set_job("nope");
    grpc::ClientContext ctx3;
    EXPECT_EQ(stub_->Heartbeat(&ctx3, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(Leave(7).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListKeysRequest req;
  req.set_job("nope");
  v1::ListKeysResponse keys;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->ListKeys(&ctx, req, &keys).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KVStoreServiceTest, KeyErrorsHaveTheirCodes) {
  Start({.num_workers = 2});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  std::vector<float> got;
  EXPECT_EQ(Pull("9", 0, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Push("9", 0, {Floats({1, 2})}).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Init("9", Floats({1, 2})).ok());
  EXPECT_EQ(Init("9", Floats({1, 2})).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Init("9", Floats({1, 2, 3}), 1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Init("w", Floats({1, 2})).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Init("", Floats({1, 2})).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Init("10", Floats({1, 2}), 0, 0, -1).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Init("10", Floats({1}), 0, 10, 2147483647).ok());  // any part >= 0
  EXPECT_EQ(Push("9", 0, {Floats({1, 2, 3})}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Push("9", 0, {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Push("9", 5, {Floats({1, 2})}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Push("9", -1, {Floats({1, 2})}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Tensor bad_dtype = Floats({1, 2});
  bad_dtype.mutable_meta()->set_dtype(static_cast<v1::DType>(99));
  grpc::Status s = Push("9", 0, {bad_dtype});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("values[0]"));
  EXPECT_EQ(Init("11", bad_dtype).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::Tensor short_data = Floats({1, 2});
  short_data.mutable_data()->resize(5);
  EXPECT_EQ(Push("9", 0, {short_data}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  {
    v1::PullRequest req;
    SetRef("9", 0, 0, req.mutable_ref());
    req.set_dtype(static_cast<v1::DType>(77));
    v1::PullResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Pull(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    v1::PullRequest req;
    SetRef("9", 0, 0, req.mutable_ref(), "nojob");
    v1::PullResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Pull(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Nothing above changed the stored value.
  ASSERT_TRUE(Pull("9", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(1, 2));
  v1::SnapshotResponse snap;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Snapshot(&ctx, {}, &snap).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(KVStoreServiceTest, SetOptimizerKeepsAnEqualOneAndItsState) {
  Start({});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Init("1", Floats({1, 2}), 0, 1).ok());
  grpc::Status status;
  GetStates(&status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  const std::map<std::string, std::string> sgd = {{"learning_rate", "0.1"}, {"momentum", "0.5"}};
  ASSERT_TRUE(SetOptimizer(0, "sgd", sgd).ok());
  ASSERT_TRUE(Push("1", 0, {Floats({10, -10})}).ok());
  std::vector<float> got;
  ASSERT_TRUE(Pull("1", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(0, 3));  // w - 0.1 * g
  ASSERT_TRUE(SetOptimizer(0, "SGD", sgd).ok());  // equal: the momentum stays
  ASSERT_TRUE(Push("1", 0, {Floats({0, 0})}).ok());
  ASSERT_TRUE(Pull("1", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(-0.5f, 3.5f));  // mom = 0.5 * mom: -0.5, +0.5

  std::vector<v1::OptimizerState> states = GetStates(&status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].key(), "1");
  EXPECT_EQ(states[0].index(), 1);
  EXPECT_EQ(states[0].update_count(), 2);
  ASSERT_EQ(states[0].arrays_size(), 1);
  EXPECT_THAT(Values(states[0].arrays(0)), ElementsAre(-0.5f, 0.5f));

  // Load a state back (as kv.load_optimizer_states does) after replacing the optimizer.
  ASSERT_TRUE(SetOptimizer(0, "sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}}).ok());
  {
    grpc::ClientContext ctx;
    v1::SetOptimizerStatesResponse resp;
    auto writer = stub_->SetOptimizerStates(&ctx, &resp);
    v1::SetOptimizerStatesRequest req;
    req.set_job("j");
    *req.mutable_state() = states[0];
    ASSERT_TRUE(writer->Write(req));
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::vector<v1::OptimizerState> back = GetStates(&status);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].update_count(), 2);
  EXPECT_THAT(Values(back[0].arrays(0)), ElementsAre(-0.5f, 0.5f));
  {  // A state of the wrong shape, and one of an unknown key.
    grpc::ClientContext ctx;
    v1::SetOptimizerStatesResponse resp;
    auto writer = stub_->SetOptimizerStates(&ctx, &resp);
    v1::SetOptimizerStatesRequest req;
    req.set_job("j");
    *req.mutable_state() = states[0];
    *req.mutable_state()->mutable_arrays(0) = Floats({1, 2, 3});
    writer->Write(req);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    v1::SetOptimizerStatesResponse resp;
    auto writer = stub_->SetOptimizerStates(&ctx, &resp);
    v1::SetOptimizerStatesRequest req;
    req.set_job("j");
    *req.mutable_state() = states[0];
    req.mutable_state()->set_key("2");
    writer->Write(req);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(SetOptimizer(0, "no_such_optimizer", {}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(SetOptimizer(0, "sgd", {{"momentum", "1.5"}}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KVStoreServiceTest, PushPullPushesThenPulls) {
  Start({});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Init("2", Floats({0, 0})).ok());
  v1::PushPullRequest req;
  SetRef("2", 0, 0, req.mutable_ref());
  *req.add_values() = Floats({1, 2});
  *req.add_values() = Floats({3, 4});
  v1::PullResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PushPull(&ctx, req, &resp).ok());
  EXPECT_THAT(Values(resp.value()), ElementsAre(4, 6));
}

TEST_F(KVStoreServiceTest, TenMiBValueThroughTheStreams) {
  Start({});
  ASSERT_TRUE(Join(0).ok());
  const int64_t n = (int64_t{10} << 20) / 4;  // 10 MiB of float32
  absl::StatusOr<NDArray> value = NDArray::Arange(0, static_cast<double>(n));
  ASSERT_TRUE(value.ok()) << value.status();

  {  // InitStream
    grpc::ClientContext ctx;
    v1::InitResponse resp;
    auto writer = stub_->InitStream(&ctx, &resp);
    v1::InitStreamRequest req;
    SetRef("big", 0, 0, req.mutable_ref());
    ASSERT_TRUE(rpc::ForEachChunk(*value, rpc::kDefaultChunkBytes, [&](const v1::TensorChunk& c) {
                  *req.mutable_chunk() = c;
                  const bool ok = writer->Write(req);
                  req.clear_ref();
                  return ok ? absl::OkStatus() : absl::UnavailableError("write");
                }).ok());
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {  // PushStream of a list of two values: value + value
    grpc::ClientContext ctx;
    v1::PushResponse resp;
    auto writer = stub_->PushStream(&ctx, &resp);
    v1::PushStreamRequest req;
    SetRef("big", 0, 0, req.mutable_ref());
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(
          rpc::ForEachChunk(*value, rpc::kDefaultChunkBytes, [&](const v1::TensorChunk& c) {
            *req.mutable_chunk() = c;
            const bool ok = writer->Write(req);
            req.clear_ref();
            return ok ? absl::OkStatus() : absl::UnavailableError("write");
          }).ok());
    }
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {  // PullStream
    v1::PullStreamRequest req;
    SetRef("big", 0, 0, req.mutable_ref());
    grpc::ClientContext ctx;
    auto reader = stub_->PullStream(&ctx, req);
    rpc::ChunkAssembler in(Context::Cpu());
    v1::PullStreamResponse resp;
    int chunks = 0;
    while (reader->Read(&resp)) {
      ASSERT_TRUE(in.Add(resp.chunk()).ok());
      ++chunks;
    }
    grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(chunks, 5);
    absl::StatusOr<NDArray> got = in.Finish();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), n);
    std::vector<float> v = *got->ToVector<float>();
    EXPECT_EQ(v[0], 0.f);
    EXPECT_EQ(v[1], 2.f);
    EXPECT_EQ(v[n - 1], 2.f * static_cast<float>(n - 1));
  }
  // The unary Pull of the same value exceeds gRPC's default 4 MiB message limit.
  std::vector<float> got;
  EXPECT_EQ(Pull("big", 0, &got).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(KVStoreServiceTest, PushStreamRejectsMalformedChunks) {
  Start({});
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Init("0", Floats({0, 0})).ok());
  grpc::ClientContext ctx;
  v1::PushResponse resp;
  auto writer = stub_->PushStream(&ctx, &resp);
  v1::PushStreamRequest req;
  SetRef("0", 0, 0, req.mutable_ref());
  req.mutable_chunk()->set_data("12345678");  // no meta on the first chunk
  writer->Write(req);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext ctx2;
  auto empty = stub_->PushStream(&ctx2, &resp);
  empty->WritesDone();
  EXPECT_EQ(empty->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mxgrid::services
