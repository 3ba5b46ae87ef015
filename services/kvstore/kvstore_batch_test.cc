// KVStoreService::Batch over a real gRPC server on a loopback port: batched pushes and pulls
// of two ranks from two threads, pulls that do not hold later items (no deadlock between two
// ranks' crossed batches), per-item errors, whole-call errors, and a deadline while a pull
// waits.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/job_table.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/tensor/ndarray.h"
#include "services/kvstore/kvstore_service.h"
#include "services/kvstore/kvstore_test_util.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::Floats;
using testing::Values;

void SetRef(const std::string& key, int rank, v1::KeyRef* ref) {
  ref->set_job("j");
  ref->set_key(key);
  ref->set_rank(rank);
}

void AddPush(v1::BatchRequest* req, const std::string& key, int rank, v1::Tensor value) {
  v1::PushRequest* push = req->add_items()->mutable_push();
  SetRef(key, rank, push->mutable_ref());
  *push->add_values() = std::move(value);
}

void AddPull(v1::BatchRequest* req, const std::string& key, int rank) {
  SetRef(key, rank, req->add_items()->mutable_pull()->mutable_ref());
}

class KVStoreBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = std::make_unique<kvstore::JobTable>(kvstore::JobTableOptions{.num_workers = 2});
    service_ = std::make_unique<KVStoreService>(table_.get(), nullptr);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub0_ = NewStub();
    stub1_ = NewStub();
    for (int rank = 0; rank < 2; ++rank) {
      v1::JoinJobRequest req;
      req.set_job("j");
      req.set_rank(rank);
      v1::JoinJobResponse resp;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stub0_->JoinJob(&ctx, req, &resp).ok());
    }
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }
  std::unique_ptr<v1::KVStore::Stub> NewStub() {
    grpc::ChannelArguments args;
    args.SetInt("kvstore_batch_test.channel", next_channel_++);
    return v1::KVStore::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials(), args));
  }
  void InitKeys(int n) {
    for (int k = 0; k < n; ++k) {
      v1::InitRequest req;
      SetRef(absl::StrCat(k), 0, req.mutable_ref());
      *req.mutable_value() = Floats({0, 0});
      v1::InitResponse resp;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stub0_->Init(&ctx, req, &resp).ok());
    }
  }
  grpc::Status Batch(v1::KVStore::Stub* stub, const v1::BatchRequest& req, v1::BatchResponse* resp,
                     absl::Duration timeout = absl::Seconds(30)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return stub->Batch(&ctx, req, resp);
  }

  std::unique_ptr<kvstore::JobTable> table_;
  std::unique_ptr<KVStoreService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::KVStore::Stub> stub0_, stub1_;
  int port_ = 0;
  int next_channel_ = 0;
};

TEST_F(KVStoreBatchTest, TwoRanksBatchPushesThenPullsAndSeeTheSums) {
  constexpr int kKeys = 50;
  InitKeys(kKeys);
  auto rank_thread = [&](int rank, v1::KVStore::Stub* stub, v1::BatchResponse* pulled,
                         grpc::Status* pushed_status, grpc::Status* pulled_status) {
    v1::BatchRequest pushes, pulls;
    for (int k = 0; k < kKeys; ++k) {
      AddPush(&pushes, absl::StrCat(k), rank, Floats({float(k), float(rank + 1)}));
      AddPull(&pulls, absl::StrCat(k), rank);
    }
    v1::BatchResponse resp;
    *pushed_status = Batch(stub, pushes, &resp);
    for (const v1::BatchResult& r : resp.results()) EXPECT_EQ(r.code(), 0) << r.message();
    *pulled_status = Batch(stub, pulls, pulled);
  };
  v1::BatchResponse got0, got1;
  grpc::Status push0, pull0, push1, pull1;
  std::thread t0(rank_thread, 0, stub0_.get(), &got0, &push0, &pull0);
  std::thread t1(rank_thread, 1, stub1_.get(), &got1, &push1, &pull1);
  t0.join();
  t1.join();
  ASSERT_TRUE(push0.ok() && push1.ok()) << push0.error_message() << push1.error_message();
  ASSERT_TRUE(pull0.ok()) << pull0.error_message();
  ASSERT_TRUE(pull1.ok()) << pull1.error_message();
  ASSERT_EQ(got0.results_size(), kKeys);
  ASSERT_EQ(got1.results_size(), kKeys);
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(got0.results(k).code(), 0) << got0.results(k).message();
    EXPECT_THAT(Values(got0.results(k).value()), ElementsAre(2 * k, 3));
    EXPECT_THAT(Values(got1.results(k).value()), ElementsAre(2 * k, 3));
  }
}

TEST_F(KVStoreBatchTest, CrossedPullPushBatchesOfTwoRanksDoNotDeadlock) {
  InitKeys(2);
  // Rank 0 pushed key 0 and rank 1 key 1, so each rank's pull of the first item needs the
  // other rank's push, which comes after the other rank's own pull.
  for (int rank = 0; rank < 2; ++rank) {
    v1::BatchRequest req;
    AddPush(&req, absl::StrCat(rank), rank, Floats({1, 1}));
    v1::BatchResponse resp;
    ASSERT_TRUE(Batch(rank == 0 ? stub0_.get() : stub1_.get(), req, &resp).ok());
  }
  v1::BatchRequest a, b;
  AddPull(&a, "0", 0);
  AddPush(&a, "1", 0, Floats({10, 10}));
  AddPull(&b, "1", 1);
  AddPush(&b, "0", 1, Floats({20, 20}));
  v1::BatchResponse ra, rb;
  grpc::Status sa, sb;
  std::thread t0([&] { sa = Batch(stub0_.get(), a, &ra, absl::Seconds(10)); });
  std::thread t1([&] { sb = Batch(stub1_.get(), b, &rb, absl::Seconds(10)); });
  t0.join();
  t1.join();
  ASSERT_TRUE(sa.ok()) << sa.error_message();
  ASSERT_TRUE(sb.ok()) << sb.error_message();
  EXPECT_THAT(Values(ra.results(0).value()), ElementsAre(21, 21));
  EXPECT_THAT(Values(rb.results(0).value()), ElementsAre(11, 11));
  EXPECT_EQ(ra.results(1).code(), 0);
  EXPECT_FALSE(ra.results(1).has_value());
}

TEST_F(KVStoreBatchTest, ItemErrorsArePerItem) {
  InitKeys(1);
  v1::BatchRequest req;
  AddPush(&req, "nope", 0, Floats({1, 1}));
  AddPull(&req, "0", 0);
  AddPull(&req, "nope", 0);
  AddPush(&req, "0", 0, Floats({1, 2, 3}));  // wrong shape
  v1::PushPullRequest* pp = req.add_items()->mutable_push_pull();
  SetRef("nope", 0, pp->mutable_ref());
  *pp->add_values() = Floats({1, 1});
  v1::BatchResponse resp;
  ASSERT_TRUE(Batch(stub0_.get(), req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 5);
  EXPECT_EQ(resp.results(0).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(resp.results(0).message(), HasSubstr("nope"));
  EXPECT_EQ(resp.results(1).code(), 0);
  EXPECT_THAT(Values(resp.results(1).value()), ElementsAre(0, 0));
  EXPECT_EQ(resp.results(2).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(resp.results(3).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(resp.results(4).code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KVStoreBatchTest, UnknownShmOutRegionFailsBeforeItsPushCounts) {
  InitKeys(1);
  v1::BatchRequest req;
  AddPull(&req, "0", 0);
  req.mutable_items(0)->mutable_pull()->mutable_shm_out()->set_region(1);
  v1::PushPullRequest* pp = req.add_items()->mutable_push_pull();
  SetRef("0", 0, pp->mutable_ref());
  *pp->add_values() = Floats({1, 1});
  pp->mutable_shm_out()->set_region(1);
  AddPull(&req, "0", 0);  // the refused push_pull pushed nothing: round 0 is not waited for
  v1::BatchResponse resp;
  ASSERT_TRUE(Batch(stub0_.get(), req, &resp, absl::Seconds(10)).ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(resp.results(1).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(resp.results(2).code(), 0);
  EXPECT_THAT(Values(resp.results(2).value()), ElementsAre(0, 0));
}

TEST_F(KVStoreBatchTest, PushPullItemPushesThenPulls) {
  InitKeys(1);
  v1::BatchRequest req0, req1;
  for (int rank = 0; rank < 2; ++rank) {
    v1::PushPullRequest* pp = (rank == 0 ? req0 : req1).add_items()->mutable_push_pull();
    SetRef("0", rank, pp->mutable_ref());
    *pp->add_values() = Floats({1, float(rank)});
  }
  v1::BatchResponse r0, r1;
  grpc::Status s0;
  std::thread t0([&] { s0 = Batch(stub0_.get(), req0, &r0); });
  ASSERT_TRUE(Batch(stub1_.get(), req1, &r1).ok());
  t0.join();
  ASSERT_TRUE(s0.ok()) << s0.error_message();
  EXPECT_THAT(Values(r0.results(0).value()), ElementsAre(2, 1));
  EXPECT_THAT(Values(r1.results(0).value()), ElementsAre(2, 1));
}

TEST_F(KVStoreBatchTest, MalformedBatchesAreInvalidArgument) {
  InitKeys(1);
  v1::BatchResponse resp;
  EXPECT_EQ(Batch(stub0_.get(), {}, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::BatchRequest mixed;
  AddPull(&mixed, "0", 0);
  AddPull(&mixed, "0", 1);
  grpc::Status s = Batch(stub0_.get(), mixed, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("one job and rank"));
  v1::BatchRequest no_call;
  AddPull(&no_call, "0", 0);
  no_call.add_items();
  EXPECT_EQ(Batch(stub0_.get(), no_call, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KVStoreBatchTest, DeadlineWhileAPullWaitsEndsTheCall) {
  InitKeys(1);
  v1::BatchRequest req;
  AddPush(&req, "0", 0, Floats({1, 1}));
  AddPull(&req, "0", 0);  // waits for rank 1's push, which never comes
  v1::BatchResponse resp;
  const absl::Time start = absl::Now();
  grpc::Status s = Batch(stub0_.get(), req, &resp, absl::Milliseconds(400));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace mxgrid::services
