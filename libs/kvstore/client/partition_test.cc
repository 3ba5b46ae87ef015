#include "libs/kvstore/client/partition.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace mxgrid::kvstore::client {
namespace {

// max/mean of the keys per shard.
double Imbalance(const Partition& p, const std::vector<std::string>& keys) {
  std::vector<int> count(p.num_shards());
  for (const std::string& k : keys) count[p.ShardOf(k)]++;
  const double mean = static_cast<double>(keys.size()) / p.num_shards();
  return *std::max_element(count.begin(), count.end()) / mean;
}

TEST(PartitionTest, IntKeysSpreadEvenly) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back(absl::StrCat(i));
  for (int shards : {2, 3, 4, 7}) {
    EXPECT_LE(Imbalance(Partition(shards, kDefaultBigArrayBound), keys), 1.3) << shards;
  }
}

TEST(PartitionTest, StringKeysSpreadEvenly) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back(absl::StrCat("fc", i, "_weight"));
  }
  EXPECT_LE(Imbalance(Partition(3, kDefaultBigArrayBound), keys), 1.3);
  keys.clear();
  for (int i = 0; i < 1000; ++i) keys.push_back(absl::StrCat("layer", i % 50, "_", i / 50));
  EXPECT_LE(Imbalance(Partition(3, kDefaultBigArrayBound), keys), 1.3);
}

TEST(PartitionTest, HashIsStableAcrossProcesses) {
  // Fixed values: every worker, on any machine or build, must compute the same shards.
  EXPECT_EQ(KeyHash(""), KeyHash(""));
  EXPECT_NE(KeyHash("0"), KeyHash("1"));
  const uint64_t h0 = KeyHash("fc1_weight");
  EXPECT_EQ(h0, KeyHash(std::string("fc1_") + "weight"));
  // FNV-1a("a") = 0xaf63dc4c8601ec8c, then splitmix64's finalizer.
  uint64_t z = 0xaf63dc4c8601ec8cULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  EXPECT_EQ(KeyHash("a"), z);
}

TEST(PartitionTest, SmallArrayIsOnePartOnItsShard) {
  Partition p(3, 1000);
  const std::vector<PartRange> parts = p.Split("w", 1000);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].part, 0);
  EXPECT_EQ(parts[0].shard, p.ShardOf("w"));
  EXPECT_EQ(parts[0].begin, 0);
  EXPECT_EQ(parts[0].end, 1000);
}

TEST(PartitionTest, BigArraySplitsOverAllShardsExactly) {
  for (int shards : {1, 2, 3, 5, 8}) {
    for (int64_t n : {int64_t{1000001}, int64_t{3000000}, int64_t{7777777}}) {
      Partition p(shards, kDefaultBigArrayBound);
      const std::vector<PartRange> parts = p.Split("big", n);
      ASSERT_EQ(static_cast<int>(parts.size()), shards);
      int64_t next = 0;
      for (int i = 0; i < shards; ++i) {
        EXPECT_EQ(parts[i].part, i);
        EXPECT_EQ(parts[i].shard, i);
        EXPECT_EQ(parts[i].begin, next);
        // MXNet's formula.
        const double per = static_cast<double>(n) / shards;
        const int64_t want = static_cast<int64_t>(std::round(per * (i + 1))) -
                             static_cast<int64_t>(std::round(per * i));
        EXPECT_EQ(parts[i].size(), want) << shards << " " << n << " " << i;
        next = parts[i].end;
      }
      EXPECT_EQ(next, n);
    }
  }
  // 3,000,000 over 3 shards: a million each.
  const std::vector<PartRange> parts = Partition(3, kDefaultBigArrayBound).Split("k", 3000000);
  for (const PartRange& r : parts) EXPECT_EQ(r.size(), 1000000);
}

}  // namespace
}  // namespace mxgrid::kvstore::client
