// mxgrid-kvstore processes with jobs, each rank on its own connections: the two-shard
// dist_sync hang (rank 0 pulls before rank 1 pushes), leaving ranks, barriers, a dead rank
// aborting its job, a rank running far ahead, and snapshots surviving SIGKILL.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "tests/integration/kvstore_client.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"

namespace mxgrid::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kKVStore[] = "services/kvstore/mxgrid-kvstore";

std::unique_ptr<ServerProcess> StartShard(std::vector<std::string> args,
                                          const std::string& name = "mxgrid-kvstore") {
  absl::StatusOr<std::unique_ptr<ServerProcess>> p =
      ServerProcess::Start({.binary = kKVStore, .args = std::move(args), .name = name});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

void StopShard(std::unique_ptr<ServerProcess> server) {
  if (server == nullptr) return;
  absl::StatusOr<int> status = server->Stop();
  EXPECT_TRUE(status.ok() && *status == 0) << server->Log();
}

// The user's report: two workers x two shards, dist_sync. Rank 0 pushes and waits in Pull;
// rank 1 pushes 2 s later; both pulls must return the sum, on both shards (a key on each
// shard, and a key split into one part per shard).
TEST(KVStoreHangTest, PullWaitingBeforeTheOtherRankPushesReturnsOnBothShards) {
  std::unique_ptr<ServerProcess> shards[2] = {StartShard({}, "shard0"), StartShard({}, "shard1")};
  ASSERT_NE(shards[0], nullptr);
  ASSERT_NE(shards[1], nullptr);
  // keys[s] lives on shard s; "split" has part s on shard s.
  const std::string keys[2] = {"3", "4"};
  auto setup = [&](int rank, std::vector<std::unique_ptr<KVClient>>* clients) {
    for (int s = 0; s < 2; ++s) {
      clients->push_back(std::make_unique<KVClient>(shards[s]->NewChannel(), "hang", rank));
      KVClient& c = *clients->back();
      ASSERT_TRUE(c.Join(2).ok());
      ASSERT_TRUE(c.Init(keys[s], FloatTensor({2}, {0, 0}), 3 + s).ok());
      ASSERT_TRUE(c.Init("5", FloatTensor({1}, {0}), 5, /*part=*/s).ok());
      ASSERT_TRUE(c.Barrier().ok());
    }
  };
  std::vector<std::unique_ptr<KVClient>> rank0, rank1;
  std::thread setup1([&] { setup(1, &rank1); });
  setup(0, &rank0);
  setup1.join();
  ASSERT_EQ(rank0.size(), 2u);
  ASSERT_EQ(rank1.size(), 2u);

  grpc::Status pulled0[2], split0[2];
  std::vector<float> got0[2], gotsplit0[2];
  absl::Time rank0_done[2];
  std::vector<std::thread> waiting;
  for (int s = 0; s < 2; ++s) {
    ASSERT_TRUE(rank0[s]->Push(keys[s], {FloatTensor({2}, {1, 2})}).ok());
    ASSERT_TRUE(rank0[s]->Push("5", {FloatTensor({1}, {10.f + s})}, absl::Seconds(30), s).ok());
    waiting.emplace_back([&, s] {
      pulled0[s] = rank0[s]->Pull(keys[s], &got0[s]);
      split0[s] = rank0[s]->Pull("5", &gotsplit0[s], absl::Seconds(30), nullptr, s);
      rank0_done[s] = absl::Now();
    });
  }
  absl::SleepFor(absl::Seconds(2));  // the report's delay: rank 0's pulls wait meanwhile
  const absl::Time pushed1 = absl::Now();
  for (int s = 0; s < 2; ++s) {
    ASSERT_TRUE(rank1[s]->Push(keys[s], {FloatTensor({2}, {10, 20})}).ok());
    ASSERT_TRUE(rank1[s]->Push("5", {FloatTensor({1}, {100.f + s})}, absl::Seconds(30), s).ok());
    std::vector<float> got, split;
    ASSERT_TRUE(rank1[s]->Pull(keys[s], &got).ok());
    EXPECT_THAT(got, ElementsAre(11, 22));
    ASSERT_TRUE(rank1[s]->Pull("5", &split, absl::Seconds(30), nullptr, s).ok());
    EXPECT_THAT(split, ElementsAre(110 + 2 * s));
  }
  for (std::thread& t : waiting) t.join();
  for (int s = 0; s < 2; ++s) {
    ASSERT_TRUE(pulled0[s].ok()) << "shard " << s << ": " << Describe(pulled0[s]);
    ASSERT_TRUE(split0[s].ok()) << "shard " << s << ": " << Describe(split0[s]);
    EXPECT_THAT(got0[s], ElementsAre(11, 22));
    EXPECT_THAT(gotsplit0[s], ElementsAre(110 + 2 * s));
    EXPECT_LT(rank0_done[s] - pushed1, absl::Seconds(5)) << "rank 0's pull on shard " << s;
  }
  rank0.clear();
  rank1.clear();
  StopShard(std::move(shards[0]));
  StopShard(std::move(shards[1]));
}

// A rank that goes silent: the waiting pull of the other rank and every later call of the
// job end with ABORTED naming the dead rank and its silence; another job is untouched.
TEST(KVStoreLivenessTest, SilentRankAbortsItsJob) {
  std::unique_ptr<ServerProcess> shard = StartShard({"--num_workers=2", "--heartbeat_timeout=1s"});
  ASSERT_NE(shard, nullptr);
  {
    KVClient r0(shard->NewChannel(), "live", 0), r1(shard->NewChannel(), "live", 1);
    KVClient other(shard->NewChannel(), "other", 0);
    ASSERT_TRUE(r0.Join(2).ok());
    ASSERT_TRUE(r1.Join(2).ok());
    ASSERT_TRUE(other.Join(1, v1::KV_MODE_SYNC, /*heartbeat_timeout_ms=*/60000).ok());
    ASSERT_TRUE(r0.Init("1", FloatTensor({1}, {0})).ok());
    ASSERT_TRUE(r0.Push("1", {FloatTensor({1}, {1})}).ok());
    // Rank 1 says nothing from now on; rank 0 waits for its push.
    std::vector<float> got;
    const absl::Time start = absl::Now();
    grpc::Status s = r0.Pull("1", &got, absl::Seconds(20));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
    EXPECT_THAT(s.error_message(), HasSubstr("rank 1"));
    EXPECT_THAT(s.error_message(), HasSubstr("sent nothing for "));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    EXPECT_EQ(r1.Heartbeat().error_code(), grpc::StatusCode::ABORTED);
    EXPECT_EQ(r0.Barrier().error_code(), grpc::StatusCode::ABORTED);
    EXPECT_EQ(r1.Join(2).error_code(), grpc::StatusCode::ABORTED);
    v1::ListKeysResponse keys;
    ASSERT_TRUE(r0.ListKeys(&keys).ok());
    EXPECT_EQ(keys.dead_rank(), 1);
    // The other job (60 s timeout) still works.
    ASSERT_TRUE(other.Init("1", FloatTensor({1}, {5})).ok());
    ASSERT_TRUE(other.Pull("1", &got).ok());
    EXPECT_THAT(got, ElementsAre(5));
  }
  StopShard(std::move(shard));
}

// --finished_job_retention: a job whose ranks all left is removed (NOT_FOUND) within the
// reaper's second; a running job stays; the name then starts a new, empty job.
TEST(KVStoreRetentionTest, FinishedJobIsRemovedAndItsNameReusable) {
  std::unique_ptr<ServerProcess> shard =
      StartShard({"--num_workers=1", "--finished_job_retention=0s"});
  ASSERT_NE(shard, nullptr);
  {
    KVClient done(shard->NewChannel(), "done", 0), running(shard->NewChannel(), "running", 0);
    ASSERT_TRUE(done.Join(1).ok());
    ASSERT_TRUE(running.Join(1).ok());
    ASSERT_TRUE(done.Init("1", FloatTensor({1}, {3})).ok());
    ASSERT_TRUE(done.Leave().ok());
    v1::ListKeysResponse keys;
    grpc::Status listed;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    do {
      absl::SleepFor(absl::Milliseconds(100));
      listed = running.ListKeys(&keys, "done");
    } while (listed.ok() && absl::Now() < deadline);
    EXPECT_EQ(listed.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(listed);
    EXPECT_TRUE(running.ListKeys(&keys).ok());
    ASSERT_TRUE(done.Join(1).ok());
    ASSERT_TRUE(done.ListKeys(&keys).ok());
    EXPECT_EQ(keys.keys_size(), 0);
  }
  StopShard(std::move(shard));
}

// A rank pushing 300 rounds ahead: refused with RESOURCE_EXHAUSTED (naming the rank, the key
// and the bound) once 4 rounds ahead; the shard's memory stays bounded; the well-behaved
// rank's rounds and pulls work throughout.
TEST(KVStoreBoundTest, RankFarAheadIsRefusedAndTheOtherRankGoesOn) {
  std::unique_ptr<ServerProcess> shard = StartShard({"--num_workers=2", "--max_rounds_ahead=4"});
  ASSERT_NE(shard, nullptr);
  {
    KVClient good(shard->NewChannel(), "ahead", 0), fast(shard->NewChannel(), "ahead", 1);
    ASSERT_TRUE(good.Join(2).ok());
    ASSERT_TRUE(fast.Join(2).ok());
    constexpr int64_t kElements = 1 << 18;  // 1 MiB
    const v1::Tensor ones = FloatTensor({kElements}, std::vector<float>(kElements, 1.f));
    ASSERT_TRUE(good.Init("7", FloatTensor({kElements}, std::vector<float>(kElements, 0.f)))
                    .ok());
    // The first four rounds ahead are accepted at once (a generous deadline: a loaded
    // machine must not turn them into DEADLINE_EXCEEDED); then every push is refused.
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(fast.Push("7", {ones}).ok()) << i;
    int ok = 4, refused = 0, other = 0;
    std::string message;
    for (int i = 4; i < 300; ++i) {
      const grpc::Status s = fast.Push("7", {ones}, absl::Milliseconds(20));
      if (s.ok()) {
        ++ok;
      } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++refused;
        message = s.error_message();
      } else {
        ++other;  // DEADLINE_EXCEEDED when the answer is late on a busy machine
      }
    }
    EXPECT_EQ(ok, 4);
    EXPECT_GT(refused, 200) << "other: " << other;
    EXPECT_THAT(message, HasSubstr("rank 1"));
    EXPECT_THAT(message, HasSubstr("'7'"));
    EXPECT_THAT(message, HasSubstr("--max_rounds_ahead = 4"));
    v1::ListKeysResponse keys;
    ASSERT_TRUE(good.ListKeys(&keys).ok());
    EXPECT_LE(keys.bytes_in_use(), 5 * kElements * 4);  // the value and four pending rounds
    // The good rank's rounds complete one by one with the fast rank's pushes.
    for (int round = 0; round < 4; ++round) {
      ASSERT_TRUE(good.Push("7", {ones}).ok());
      std::vector<float> got;
      ASSERT_TRUE(good.Pull("7", &got).ok());
      EXPECT_EQ(got[0], 2.f) << "round " << round;
    }
    std::vector<float> got;
    ASSERT_TRUE(fast.Pull("7", &got).ok());
    EXPECT_EQ(got[0], 2.f);
    ASSERT_TRUE(fast.Push("7", {ones}).ok());  // caught up: accepted again
  }
  StopShard(std::move(shard));
}

std::string StateDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/", name);
  EXPECT_EQ(std::system(absl::StrCat("rm -rf '", dir, "'").c_str()), 0);
  return dir;
}

// Train from two connections, snapshot, train on, SIGKILL; the restarted shard restores the
// snapshot: JoinJob reports the round, pulls give the snapshot's values, Init says restored
// and keeps them, and training goes on (the momentum came back too).
TEST(KVStoreDurabilityTest, SigkilledShardRestoresTheSnapshot) {
  const std::string dir = StateDir("kvstate");
  const std::vector<std::string> args = {"--num_workers=2", "--state_dir=" + dir,
                                         "--snapshot_rounds=0", "--snapshot_interval=0"};
  std::unique_ptr<ServerProcess> shard = StartShard(args);
  ASSERT_NE(shard, nullptr);
  std::vector<float> snapshot_value;
  {
    KVClient r0(shard->NewChannel(), "dur", 0), r1(shard->NewChannel(), "dur", 1);
    ASSERT_TRUE(r0.Join(2).ok());
    ASSERT_TRUE(r1.Join(2).ok());
    ASSERT_TRUE(r0.Init("5", FloatTensor({2}, {1, 1}), 5).ok());
    ASSERT_TRUE(r1.Init("5", FloatTensor({2}, {0, 0}), 5).ok());
    for (KVClient* c : {&r0, &r1}) {
      ASSERT_TRUE(c->SetOptimizer("sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}}).ok());
    }
    auto round = [&] {
      ASSERT_TRUE(r0.Push("5", {FloatTensor({2}, {1, -1})}).ok());
      ASSERT_TRUE(r1.Push("5", {FloatTensor({2}, {1, -1})}).ok());
    };
    for (int i = 0; i < 3; ++i) round();
    ASSERT_TRUE(r0.Pull("5", &snapshot_value).ok());
    v1::SnapshotResponse snap;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    grpc::Status s = r0.stub()->Snapshot(&context, {}, &snap);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(snap.jobs(), 1);
    EXPECT_GT(snap.bytes(), 0);
    EXPECT_THAT(snap.path(), HasSubstr("snapshot-1.mxkv"));
    round();  // lost with the SIGKILL
  }
  shard->Signal(SIGKILL);
  absl::StatusOr<int> killed = shard->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(*killed, 128 + SIGKILL);
  shard.reset();

  shard = StartShard(args, "restarted");
  ASSERT_NE(shard, nullptr);
  EXPECT_THAT(shard->Log(), HasSubstr("restored job 'dur' at round 3 (1 keys)"));
  {
    KVClient r0(shard->NewChannel(), "dur", 0), r1(shard->NewChannel(), "dur", 1);
    v1::JoinJobResponse joined;
    ASSERT_TRUE(r0.Join(2, v1::KV_MODE_SYNC, 0, &joined).ok());
    EXPECT_EQ(joined.restored_round(), 3);
    EXPECT_EQ(joined.restored_keys(), 1);
    ASSERT_TRUE(r1.Join(2).ok());
    bool restored = false;
    ASSERT_TRUE(r0.Init("5", FloatTensor({2}, {9, 9}), 5, 0, &restored).ok());
    EXPECT_TRUE(restored);
    std::vector<float> got;
    ASSERT_TRUE(r1.Pull("5", &got).ok());
    EXPECT_EQ(got, snapshot_value);
    // Rounds go on from the restored state: momentum included (same config: kept).
    for (KVClient* c : {&r0, &r1}) {
      ASSERT_TRUE(c->SetOptimizer("sgd", {{"learning_rate", "0.1"}, {"momentum", "0.9"}}).ok());
      ASSERT_TRUE(c->Push("5", {FloatTensor({2}, {1, -1})}).ok());
    }
    ASSERT_TRUE(r0.Pull("5", &got).ok());
    // mom_3 = -0.2 * (1 + 0.9 + 0.81) = -0.542; mom_4 = 0.9 mom_3 - 0.2 = -0.6878.
    EXPECT_NEAR(got[0], snapshot_value[0] - 0.6878f, 1e-5);
    EXPECT_NEAR(got[1], snapshot_value[1] + 0.6878f, 1e-5);
    v1::ListKeysResponse keys;
    ASSERT_TRUE(r0.ListKeys(&keys).ok());
    EXPECT_EQ(keys.restored_round(), 3);
    EXPECT_EQ(keys.round(), 4);
  }
  // The metrics gauge of the restored round.
  absl::StatusOr<std::string> scraped = HttpGet(shard->metrics_port(), "/metrics");
  ASSERT_TRUE(scraped.ok()) << scraped.status();
  const std::string& metrics = *scraped;
  EXPECT_THAT(metrics, HasSubstr("mxgrid_kvstore_restored_round{"));
  EXPECT_THAT(metrics, HasSubstr("job=\"dur\""));
  EXPECT_THAT(metrics, HasSubstr("mxgrid_kvstore_jobs"));
  // SIGTERM writes a last snapshot (the 4th round), restored by the next start.
  StopShard(std::move(shard));
  shard = StartShard(args, "restarted-again");
  ASSERT_NE(shard, nullptr);
  EXPECT_THAT(shard->Log(), HasSubstr("restored job 'dur' at round 4 (1 keys)"));
  StopShard(std::move(shard));
}

// A corrupt newest snapshot is skipped (and logged) for the older good one.
TEST(KVStoreDurabilityTest, CorruptNewestSnapshotIsSkipped) {
  const std::string dir = StateDir("kvcorrupt");
  const std::vector<std::string> args = {"--num_workers=1", "--state_dir=" + dir,
                                         "--snapshot_rounds=0", "--snapshot_interval=0"};
  std::unique_ptr<ServerProcess> shard = StartShard(args);
  ASSERT_NE(shard, nullptr);
  {
    KVClient c(shard->NewChannel(), "c", 0);
    ASSERT_TRUE(c.Join(1).ok());
    ASSERT_TRUE(c.Init("0", FloatTensor({1}, {0})).ok());
    ASSERT_TRUE(c.Push("0", {FloatTensor({1}, {4})}).ok());
    v1::SnapshotResponse snap;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    ASSERT_TRUE(c.stub()->Snapshot(&context, {}, &snap).ok());
  }
  StopShard(std::move(shard));  // writes the newest snapshot at exit
  // Truncate the newest one.
  std::vector<std::string> files;
  for (int seq = 1; seq < 10; ++seq) {
    const std::string path = absl::StrCat(dir, "/snapshot-", seq, ".mxkv");
    struct stat st;
    if (stat(path.c_str(), &st) == 0) files.push_back(path);
  }
  ASSERT_EQ(files.size(), 2u);
  ASSERT_EQ(truncate(files.back().c_str(), 20), 0);
  shard = StartShard(args, "after-corruption");
  ASSERT_NE(shard, nullptr);
  const std::string log = shard->Log();
  EXPECT_THAT(log, HasSubstr("skipping snapshot " + files.back()));
  EXPECT_THAT(log, HasSubstr("restored job 'c' at round"));
  {
    KVClient c(shard->NewChannel(), "c", 0);
    ASSERT_TRUE(c.Join(1).ok());
    std::vector<float> got;
    ASSERT_TRUE(c.Pull("0", &got).ok());
    EXPECT_THAT(got, ElementsAre(4));
  }
  StopShard(std::move(shard));
}

}  // namespace
}  // namespace mxgrid::integration
