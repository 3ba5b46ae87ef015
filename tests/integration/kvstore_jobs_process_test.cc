// mxgrid-kvstore processes with jobs, each rank on its own connections: the two-shard
// dist_sync hang (rank 0 pulls before rank 1 pushes), leaving ranks, barriers, a dead rank
// aborting its job, a rank running far ahead, and snapshots surviving SIGKILL.
#include <sys/stat.h>

#include <atomic>
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

}  // namespace
}  // namespace mxgrid::integration
