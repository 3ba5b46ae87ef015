// GrpcShardConnection's same-host path against a real shard server on a loopback port: 5 MB
// values of two ranks pushed, pulled and push-pulled through shared memory (sums checked),
// MXGRID_KV_SHM=0 keeping messages, and a shard that forgot the regions (the rank left and
// joined again) answered by message, then registered anew.
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/job_table.h"
#include "libs/tensor/ndarray.h"
#include "services/kvstore/kvstore_service.h"
#include "services/worker/internal/kvstore_shards.h"

namespace mxgrid::services::internal {
namespace {

using kvstore::client::KeyRef;
using tensor::NDArray;

constexpr int64_t kN = 5 << 18;  // 5 MiB of floats

// Mappings of this process's slot objects (client and, in process, the shard's).
int SlotMappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  const std::string prefix = absl::StrCat("/dev/shm/mxgrid-kv-", getpid(), "-");
  while (std::getline(maps, line)) n += line.find(prefix) != std::string::npos;
  return n;
}

// Runs `start(done)` and waits for its status.
template <typename Start>
absl::Status Sync(Start start) {
  base::Mutex mu;
  base::CondVar cv(&mu);
  bool done = false;
  absl::Status status;
  start([&](absl::Status s) {
    base::MutexLock lock(&mu);
    status = s;
    done = true;
    cv.SignalAll();
  });
  base::MutexLock lock(&mu);
  while (!done) cv.Wait();
  return status;
}

// A value the transport may read or write now (shard_connection.h: no pending work on it).
NDArray Filled(float v) {
  NDArray a = *NDArray::Full(Shape({kN}), v);
  EXPECT_TRUE(a.WaitToWrite().ok());
  return a;
}

class KVStoreShardShmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = std::make_unique<kvstore::JobTable>(kvstore::JobTableOptions{.num_workers = 2});
    service_ = std::make_unique<KVStoreService>(table_.get(), nullptr);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(64 << 20);
    builder.SetMaxSendMessageSize(64 << 20);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  // A connection of its own (a new ShardShm), read MXGRID_KV_SHM now.
  std::unique_ptr<GrpcShardConnection> Connect() {
    return GrpcShardConnection::Create(absl::StrCat("127.0.0.1:", port_), {});
  }
  static absl::Time Deadline() { return absl::Now() + absl::Seconds(30); }
  static absl::Status Join(GrpcShardConnection& c, int rank) {
    absl::Status status;
    Sync([&](auto done) {
      c.JoinJob({.job = "j", .rank = rank}, Deadline(),
                [&, done](absl::StatusOr<kvstore::client::JobInfo> info) {
                  done(info.status());
                });
    }).IgnoreError();
    return Sync([&](auto done) { c.Heartbeat("j", rank, Deadline(), done); });
  }
  static KeyRef Ref(int rank) { return {.job = "j", .key = "w", .part = 0, .rank = rank}; }

  // Both ranks joined on their own connections, key "w" initialized to zeros.
  void StartJob() {
    conns_.push_back(Connect());
    conns_.push_back(Connect());
    ASSERT_TRUE(Join(*conns_[0], 0).ok());
    ASSERT_TRUE(Join(*conns_[1], 1).ok());
    NDArray zeros = Filled(0);
    ASSERT_TRUE(Sync([&](auto done) {
                  conns_[0]->Init(Ref(0), 0, zeros, Deadline(), done);
                }).ok());
  }
  // One sync round: rank r pushes value r+1... returns what rank 0 pulls.
  std::vector<float> Round(float a, float b) {
    NDArray va = Filled(a), vb = Filled(b), out = Filled(-1);
    EXPECT_TRUE(Sync([&](auto done) { conns_[0]->Push(Ref(0), va, Deadline(), done); }).ok());
    EXPECT_TRUE(Sync([&](auto done) { conns_[1]->Push(Ref(1), vb, Deadline(), done); }).ok());
    absl::Status s = Sync([&](auto done) { conns_[0]->Pull(Ref(0), out, Deadline(), done); });
    EXPECT_TRUE(s.ok()) << s;
    return *out.ToVector<float>();
  }

  // One sync round by PushPull from both ranks; what each pulled (last element).
  std::pair<float, float> PushPullRound(float a, float b) {
    NDArray va = Filled(a), vb = Filled(b), out0 = Filled(-1), out1 = Filled(-1);
    base::Mutex mu;
    base::CondVar cv(&mu);
    bool done1 = false;
    absl::Status s1;
    conns_[1]->PushPull(Ref(1), vb, out1, Deadline(), [&](absl::Status s) {
      base::MutexLock lock(&mu);
      s1 = s;
      done1 = true;
      cv.SignalAll();
    });
    absl::Status s0 =
        Sync([&](auto done) { conns_[0]->PushPull(Ref(0), va, out0, Deadline(), done); });
    {
      base::MutexLock lock(&mu);
      while (!done1) cv.Wait();
    }
    EXPECT_TRUE(s0.ok()) << s0;
    EXPECT_TRUE(s1.ok()) << s1;
    return {out0.ToVector<float>()->back(), out1.ToVector<float>()->front()};
  }

  std::unique_ptr<kvstore::JobTable> table_;
  std::unique_ptr<KVStoreService> service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<GrpcShardConnection>> conns_;
};

TEST_F(KVStoreShardShmTest, LargeValuesMoveThroughSharedMemory) {
  const int before = SlotMappings();
  StartJob();
  std::vector<float> got = Round(1.5f, 2.0f);
  EXPECT_EQ(got.front(), 3.5f);
  EXPECT_EQ(got.back(), 3.5f);
  EXPECT_GT(SlotMappings(), before);  // slots registered (mapped here and by the shard)
  // PushPull from both ranks, each on one slot both ways.
  EXPECT_EQ(PushPullRound(1, 10), std::make_pair(11.0f, 11.0f));
  // Slots are reused: more rounds register nothing new.
  const int mapped = SlotMappings();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Round(i, 1).back(), i + 1.0f);
  EXPECT_EQ(SlotMappings(), mapped);
}

TEST_F(KVStoreShardShmTest, DisabledByTheEnvironment) {
  setenv("MXGRID_KV_SHM", "0", 1);
  const int before = SlotMappings();
  StartJob();
  unsetenv("MXGRID_KV_SHM");
  EXPECT_EQ(Round(1, 2).back(), 3.0f);
  EXPECT_EQ(SlotMappings(), before);
}

TEST_F(KVStoreShardShmTest, ForgottenRegionsFallBackThenRegisterAgain) {
  StartJob();
  EXPECT_EQ(Round(1, 2).back(), 3.0f);
  // The shard drops rank 0's regions when it leaves; joining again it knows none of them.
  ASSERT_TRUE(Sync([&](auto done) { conns_[0]->LeaveJob("j", 0, Deadline(), done); }).ok());
  ASSERT_TRUE(Join(*conns_[0], 0).ok());
  EXPECT_EQ(Round(3, 4).back(), 7.0f);  // NOT_FOUND redone by message
  EXPECT_EQ(Round(5, 6).back(), 11.0f);  // registered anew
  // PushPull too: redone as a push, then a pull, by message.
  ASSERT_TRUE(Sync([&](auto done) { conns_[1]->LeaveJob("j", 1, Deadline(), done); }).ok());
  ASSERT_TRUE(Join(*conns_[1], 1).ok());
  EXPECT_EQ(PushPullRound(2, 3), std::make_pair(5.0f, 5.0f));
  EXPECT_EQ(PushPullRound(4, 3), std::make_pair(7.0f, 7.0f));
}

// Fires `n` calls `start(i, done)` at once and waits for them all; the first error.
template <typename Start>
absl::Status SyncAll(int n, Start start) {
  base::Mutex mu;
  base::CondVar cv(&mu);
  int left = n;
  absl::Status first;
  for (int i = 0; i < n; ++i) {
    start(i, [&](absl::Status s) {
      base::MutexLock lock(&mu);
      first.Update(s);
      if (--left == 0) cv.SignalAll();
    });
  }
  base::MutexLock lock(&mu);
  while (left > 0) cv.Wait();
  return first;
}

TEST_F(KVStoreShardShmTest, BurstsOfSmallValuesShareOneSlotPerBatch) {
  // 300 keys of 32 KiB: batched (kvstore_batcher.h), each batch's values in one slot.
  constexpr int kKeys = 300;
  constexpr int64_t kSmall = 8192;
  auto filled = [](float v) {
    NDArray a = *NDArray::Full(Shape({kSmall}), v);
    EXPECT_TRUE(a.WaitToWrite().ok());
    return a;
  };
  auto ref = [](int rank, int k) {
    return KeyRef{.job = "j", .key = absl::StrCat("s", k), .part = 0, .rank = rank};
  };
  const int before = SlotMappings();
  StartJob();
  NDArray zeros = filled(0);
  ASSERT_TRUE(SyncAll(kKeys, [&](int k, auto done) {
                conns_[0]->Init(ref(0, k), k + 1, zeros, Deadline(), done);
              }).ok());
  auto round = [&](float a, float b) {
    std::vector<NDArray> va, vb, outs;
    for (int k = 0; k < kKeys; ++k) {
      va.push_back(filled(a + k));
      vb.push_back(filled(b));
      outs.push_back(filled(-1));
    }
    const int64_t sent = conns_[0]->batches_sent();
    EXPECT_TRUE(SyncAll(2 * kKeys, [&](int i, auto done) {
                  const int k = i / 2;
                  if (i % 2 == 0) {
                    conns_[0]->Push(ref(0, k), va[k], Deadline(), done);
                  } else {
                    conns_[1]->Push(ref(1, k), vb[k], Deadline(), done);
                  }
                }).ok());
    absl::Status s = SyncAll(kKeys, [&](int k, auto done) {
      conns_[0]->Pull(ref(0, k), outs[k], Deadline(), done);
    });
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_LT(conns_[0]->batches_sent() - sent, kKeys);  // coalesced
    for (int k = 0; k < kKeys; ++k) {
      std::vector<float> got = *outs[k].ToVector<float>();
      EXPECT_EQ(got.front(), a + k + b) << k;
      EXPECT_EQ(got.back(), a + k + b) << k;
    }
  };
  round(1, 2);
  EXPECT_GT(SlotMappings(), before);
  round(3, 4);
  // The shard forgets rank 0's regions (it left and joined again): items answered NOT_FOUND
  // through the slot are redone by message, then new slots are registered.
  ASSERT_TRUE(Sync([&](auto done) { conns_[0]->LeaveJob("j", 0, Deadline(), done); }).ok());
  ASSERT_TRUE(Join(*conns_[0], 0).ok());
  round(5, 6);
  round(7, 8);
}

TEST_F(KVStoreShardShmTest, HeldCallsGoAsOneBatchPerRankWhateverTheirSize) {
  // A training step's parameters: one weight of 400 KB (above max_item_bytes, but its
  // values travel in the slot) and five small ones, PushPull'd under Hold by both ranks.
  constexpr int kKeys = 6;
  auto size_of = [](int k) -> int64_t { return k == 0 ? 100000 : 16; };
  auto ref = [](int rank, int k) {
    return KeyRef{.job = "j", .key = absl::StrCat("p", k), .part = 0, .rank = rank};
  };
  auto filled = [&](int k, float v) {
    NDArray a = *NDArray::Full(Shape({size_of(k)}), v);
    EXPECT_TRUE(a.WaitToWrite().ok());
    return a;
  };
  StartJob();
  ASSERT_TRUE(SyncAll(kKeys, [&](int k, auto done) {
                conns_[0]->Init(ref(0, k), k + 1, filled(k, 0), Deadline(), done);
              }).ok());
  std::vector<NDArray> values[2], outs[2];
  for (int rank = 0; rank < 2; ++rank) {
    for (int k = 0; k < kKeys; ++k) {
      values[rank].push_back(filled(k, rank + 1 + k));
      outs[rank].push_back(filled(k, -1));
    }
  }
  const int64_t sent[2] = {conns_[0]->batches_sent(), conns_[1]->batches_sent()};
  int64_t while_held[2] = {0, 0};
  absl::Status s = SyncAll(2 * kKeys, [&](int i, auto done) {
    const int rank = i / kKeys;
    const int k = i % kKeys;
    if (k == 0) conns_[rank]->Hold();
    conns_[rank]->PushPull(ref(rank, k), values[rank][k], outs[rank][k], Deadline(), done);
    if (k == kKeys - 1) {
      while_held[rank] = conns_[rank]->batches_sent() - sent[rank];
      conns_[rank]->Release();
    }
  });
  ASSERT_TRUE(s.ok()) << s;
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(while_held[rank], 0) << rank;  // nothing went out while held
    EXPECT_EQ(conns_[rank]->batches_sent() - sent[rank], 1) << rank;
    for (int k = 0; k < kKeys; ++k) {
      std::vector<float> got = *outs[rank][k].ToVector<float>();
      EXPECT_EQ(got.front(), 3 + 2 * k) << rank << " " << k;  // (1 + k) + (2 + k)
      EXPECT_EQ(got.back(), 3 + 2 * k) << rank << " " << k;
    }
  }
}

}  // namespace
}  // namespace mxgrid::services::internal
