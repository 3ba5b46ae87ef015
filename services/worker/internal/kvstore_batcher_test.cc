// GrpcShardConnection's Batch coalescing (kvstore_batcher.h) against a real in-process shard
// (KVStoreService on a loopback port) and against an older shard without Batch.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/job_table.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "services/kvstore/kvstore_service.h"
#include "services/worker/internal/kvstore_shards.h"

namespace mxgrid::services::internal {
namespace {

using kvstore::client::Done;
using kvstore::client::KeyRef;
using tensor::NDArray;

// Counts completions; remembers every status.
class Completions {
 public:
  Done Add() {
    base::MutexLock lock(&mu_);
    ++expected_;
    return [this](absl::Status s) {
      base::MutexLock lock(&mu_);
      statuses_.push_back(std::move(s));
      cv_.SignalAll();
    };
  }
  // Waits for every completion; the statuses in completion order.
  std::vector<absl::Status> Wait() {
    base::MutexLock lock(&mu_);
    while (statuses_.size() < expected_) cv_.Wait();
    return statuses_;
  }

 private:
  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  size_t expected_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Status> statuses_ ABSL_GUARDED_BY(mu_);
};

void ExpectAll(const std::vector<absl::Status>& statuses, absl::StatusCode code) {
  for (const absl::Status& s : statuses) {
    ASSERT_EQ(s.code(), code) << s;
  }
}

NDArray Filled(float v, int n = 16) {
  return *NDArray::FromVector<float>(Shape{n}, std::vector<float>(n, v));
}

KeyRef Ref(int key, int rank) {
  return {.job = "j", .key = absl::StrCat(key), .part = 0, .rank = rank};
}

class BatcherTest : public ::testing::Test {
 protected:
  void StartServer(v1::KVStore::Service* service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void StartShard() {
    table_ = std::make_unique<kvstore::JobTable>(kvstore::JobTableOptions{.num_workers = 2});
    shard_ = std::make_unique<KVStoreService>(table_.get(), nullptr);
    StartServer(shard_.get());
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void TearDown() override {
    conns_.clear();
    if (server_) server_->Shutdown();
  }
  GrpcShardConnection* Connect(const std::string& address) {
    conns_.push_back(GrpcShardConnection::Create(address, {}));
    return conns_.back().get();
  }
  void JoinBoth(GrpcShardConnection* c0, GrpcShardConnection* c1, int keys) {
    Completions joins;
    for (int rank = 0; rank < 2; ++rank) {
      Done done = joins.Add();
      (rank == 0 ? c0 : c1)
          ->JoinJob({.job = "j", .rank = rank}, absl::Now() + absl::Seconds(30),
                    [done](absl::StatusOr<kvstore::client::JobInfo> info) { done(info.status()); });
    }
    ExpectAll(joins.Wait(), absl::StatusCode::kOk);
    Completions inits;
    for (int k = 0; k < keys; ++k) {
      c0->Init(Ref(k, 0), k, Filled(0), absl::Now() + absl::Seconds(30), inits.Add());
    }
    ExpectAll(inits.Wait(), absl::StatusCode::kOk);
  }

  std::unique_ptr<kvstore::JobTable> table_;
  std::unique_ptr<KVStoreService> shard_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<GrpcShardConnection>> conns_;
  int port_ = 0;
};

TEST_F(BatcherTest, TwoRanksThousandsOfSmallPushesAndPullsInFewBatches) {
  StartShard();
  constexpr int kKeys = 2000;
  GrpcShardConnection* conns[2] = {Connect(address()), Connect(address())};
  JoinBoth(conns[0], conns[1], kKeys);
  std::vector<NDArray> grads[2], outs[2];
  Completions pushes;
  for (int rank = 0; rank < 2; ++rank) {
    for (int k = 0; k < kKeys; ++k) {
      grads[rank].push_back(Filled(k + rank));
      outs[rank].push_back(Filled(-1));
    }
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (int k = 0; k < kKeys; ++k) {
    for (int rank = 0; rank < 2; ++rank) {
      conns[rank]->Push(Ref(k, rank), grads[rank][k], deadline, pushes.Add());
    }
  }
  ExpectAll(pushes.Wait(), absl::StatusCode::kOk);
  Completions pulls;
  for (int rank = 0; rank < 2; ++rank) {
    for (int k = 0; k < kKeys; ++k) {
      conns[rank]->Pull(Ref(k, rank), outs[rank][k], deadline, pulls.Add());
    }
  }
  ExpectAll(pulls.Wait(), absl::StatusCode::kOk);
  for (int rank = 0; rank < 2; ++rank) {
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_EQ((*outs[rank][k].ToVector<float>())[0], 2 * k + 1) << rank << " " << k;
    }
    // 4,000 items per rank: a batch per item would be 4,000 RPCs.
    EXPECT_LT(conns[rank]->batches_sent(), kKeys / 4) << rank;
    EXPECT_GE(conns[rank]->batches_sent(), 2) << rank;
  }
}

TEST_F(BatcherTest, PushPullIsBatchedToo) {
  StartShard();
  GrpcShardConnection* conns[2] = {Connect(address()), Connect(address())};
  JoinBoth(conns[0], conns[1], 10);
  NDArray outs[2][10];
  Completions done;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (int rank = 0; rank < 2; ++rank) {
    for (int k = 0; k < 10; ++k) {
      outs[rank][k] = Filled(-1);
      conns[rank]->PushPull(Ref(k, rank), Filled(k), outs[rank][k], deadline, done.Add());
    }
  }
  ExpectAll(done.Wait(), absl::StatusCode::kOk);
  for (int k = 0; k < 10; ++k) EXPECT_EQ((*outs[1][k].ToVector<float>())[0], 2 * k);
}

TEST_F(BatcherTest, CancelAllEndsQueuedAndInFlightItems) {
  StartShard();
  GrpcShardConnection* conns[2] = {Connect(address()), Connect(address())};
  JoinBoth(conns[0], conns[1], 200);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  Completions pushes;
  for (int k = 0; k < 200; ++k) conns[0]->Push(Ref(k, 0), Filled(1), deadline, pushes.Add());
  ExpectAll(pushes.Wait(), absl::StatusCode::kOk);
  // Rank 1 never pushes: every pull waits on the shard (or in the queue) until cancelled.
  std::vector<NDArray> outs;
  for (int k = 0; k < 200; ++k) outs.push_back(Filled(-1));
  Completions pulls;
  for (int k = 0; k < 200; ++k) conns[0]->Pull(Ref(k, 0), outs[k], deadline, pulls.Add());
  absl::SleepFor(absl::Milliseconds(200));  // some batches reach the shard
  for (int k = 0; k < 200; ++k) conns[0]->Pull(Ref(k, 0), outs[k], deadline, pulls.Add());
  const absl::Time start = absl::Now();
  conns[0]->CancelAll();
  ExpectAll(pulls.Wait(), absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ((*outs[0].ToVector<float>())[0], -1);
}

TEST_F(BatcherTest, UnreachableShardEndsItemsUnavailable) {
  GrpcShardConnection* conn = Connect("127.0.0.1:1");
  NDArray out = Filled(-1);
  Completions done;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (int k = 0; k < 20; ++k) conn->Push(Ref(k, 0), Filled(1), deadline, done.Add());
  conn->Pull(Ref(0, 0), out, deadline, done.Add());
  ExpectAll(done.Wait(), absl::StatusCode::kUnavailable);
  EXPECT_GE(conn->batches_sent(), 1);
}

// A shard of before Batch: Push and Pull only (Batch is UNIMPLEMENTED).
class OldShard final : public v1::KVStore::Service {
 public:
  grpc::Status Push(grpc::ServerContext*, const v1::PushRequest* request,
                    v1::PushResponse*) override {
    pushes.fetch_add(1);
    return request->values_size() == 1 ? grpc::Status::OK
                                       : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "");
  }
  grpc::Status Pull(grpc::ServerContext*, const v1::PullRequest* request,
                    v1::PullResponse* response) override {
    int key = 0;
    if (!absl::SimpleAtoi(request->ref().key(), &key)) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such key");
    }
    absl::Status s = rpc::ToProto(Filled(key), response->mutable_value());
    return s.ok() ? grpc::Status::OK : grpc::Status(grpc::StatusCode::INTERNAL, "");
  }
  std::atomic<int> pushes{0};
};

TEST_F(BatcherTest, OlderShardWithoutBatchGetsUnaryCalls) {
  OldShard old;
  StartServer(&old);
  GrpcShardConnection* conn = Connect(address());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::vector<NDArray> outs;
  for (int k = 0; k < 20; ++k) outs.push_back(Filled(-1));
  for (int round = 0; round < 2; ++round) {  // the second round goes unary from the start
    Completions done;
    for (int k = 0; k < 10; ++k) conn->Push(Ref(k, 0), Filled(1), deadline, done.Add());
    for (int k = 0; k < 10; ++k) conn->Pull(Ref(k, 0), outs[k], deadline, done.Add());
    ExpectAll(done.Wait(), absl::StatusCode::kOk);
  }
  EXPECT_EQ(old.pushes.load(), 20);
  for (int k = 0; k < 10; ++k) EXPECT_EQ((*outs[k].ToVector<float>())[0], k);
  const int64_t batches = conn->batches_sent();
  Completions more;
  conn->Push(Ref(0, 0), Filled(1), deadline, more.Add());
  ExpectAll(more.Wait(), absl::StatusCode::kOk);
  EXPECT_EQ(conn->batches_sent(), batches);
}

}  // namespace
}  // namespace mxgrid::services::internal
