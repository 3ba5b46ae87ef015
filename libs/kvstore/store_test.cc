#include "libs/kvstore/store.h"

#include <cmath>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

NDArray Floats(std::vector<float> values) {
  absl::StatusOr<NDArray> a =
      NDArray::FromVector<float>({static_cast<int64_t>(values.size())}, values);
  EXPECT_TRUE(a.ok()) << a.status();
  return *a;
}

std::vector<float> PullValues(Store& store, const std::string& key, int rank,
                              int64_t n = 2) {
  NDArray out = *NDArray::Zeros({n});
  absl::Status s = store.Pull(key, rank, out);
  EXPECT_TRUE(s.ok()) << s;
  return *out.ToVector<float>();
}

TEST(StoreTest, InitThenPullRoundTrips) {
  Store store({});
  NDArray value = Floats({1.5f, -2.f});
  ASSERT_TRUE(store.Init("3", value).ok());
  ASSERT_TRUE(MulInPlace(value, 10.0).ok());  // the store kept its own copy
  EXPECT_THAT(PullValues(store, "3", 0), ElementsAre(1.5f, -2.f));
  EXPECT_THAT(store.Keys(), ElementsAre("3"));
  EXPECT_EQ(store.BytesInUse(), 8);
  EXPECT_EQ(*store.KeyIndex("3"), 3);
  absl::StatusOr<Store::KeyMeta> meta = store.Meta("3");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->shape, (Shape{2}));
  EXPECT_EQ(meta->dtype, DType::kFloat32);
  EXPECT_EQ(store.Meta("4").status().code(), absl::StatusCode::kNotFound);
}

TEST(StoreTest, StringKeysAreIndexedInInitOrder) {
  Store store({});
  ASSERT_TRUE(store.Init("weight", Floats({1, 2})).ok());
  ASSERT_TRUE(store.Init("bias", Floats({1, 2})).ok());
  EXPECT_EQ(*store.KeyIndex("weight"), 0);
  EXPECT_EQ(*store.KeyIndex("bias"), 1);
  EXPECT_THAT(store.Keys(), ElementsAre("weight", "bias"));
  absl::Status mixed = store.Init("7", Floats({1, 2}));
  EXPECT_EQ(mixed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.message(), HasSubstr("Mixed key types"));
}

TEST(StoreTest, SyncPushOfListWithOneWorkerOverwritesWithSum) {
  Store store({.num_workers = 1, .sync = true});
  ASSERT_TRUE(store.Init("0", Floats({100, 100})).ok());
  std::vector<NDArray> grads = {Floats({1, 2}), Floats({10, 20}), Floats({100, 200})};
  ASSERT_TRUE(store.Push("0", 0, grads).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(111.f, 222.f));
  ASSERT_TRUE(store.Push("0", 0, {Floats({5, 6})}).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(5.f, 6.f));
  EXPECT_EQ(store.BytesInUse(), 8);  // no round buffers left over
}

TEST(StoreTest, AsyncAppliesEachPushAtOnce) {
  Store store({.num_workers = 2, .sync = false});
  ASSERT_TRUE(store.Init("0", Floats({0, 0})).ok());
  std::vector<NDArray> grads = {Floats({1, 2}), Floats({3, 4})};
  ASSERT_TRUE(store.Push("0", 1, grads).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(4.f, 6.f));  // no wait for rank 0
  ASSERT_TRUE(store.SetOptimizer("sgd", {{"learning_rate", "0.5"}}).ok());
  ASSERT_TRUE(store.Push("0", 0, {Floats({2, 2})}).ok());
  EXPECT_THAT(PullValues(store, "0", 1), ElementsAre(3.f, 5.f));
  ASSERT_TRUE(store.Push("0", 1, {Floats({2, 2})}).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(2.f, 4.f));
}

TEST(StoreTest, SyncRoundWaitsForAllWorkers) {
  Store store({.num_workers = 3, .sync = true});
  ASSERT_TRUE(store.Init("0", Floats({0, 0})).ok());
  ASSERT_TRUE(store.Push("0", 0, {Floats({1, 1})}).ok());
  ASSERT_TRUE(store.Push("0", 1, {Floats({2, 2})}).ok());

  // Rank 0 pushed: its pull waits for the round. Rank 2 has not pushed: it reads at once.
  NDArray out = *NDArray::Zeros({2});
  absl::Status early = store.Pull("0", 0, out, absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(early.code(), absl::StatusCode::kDeadlineExceeded) << early;
  EXPECT_THAT(early.message(), HasSubstr("2 of 3 pushed"));
  EXPECT_THAT(PullValues(store, "0", 2), ElementsAre(0.f, 0.f));

  // Pullers block in other threads until rank 2's push completes the round.
  std::vector<std::vector<float>> pulled(2);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] { pulled[rank] = PullValues(store, "0", rank); });
  }
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(store.Push("0", 2, {Floats({4, 4})}).ok());
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(pulled[0], ElementsAre(7.f, 7.f));
  EXPECT_THAT(pulled[1], ElementsAre(7.f, 7.f));
  EXPECT_THAT(PullValues(store, "0", 2), ElementsAre(7.f, 7.f));
}

TEST(StoreTest, SyncRoundsFromThreadsWithServerSideSgd) {
  constexpr int kWorkers = 3;
  constexpr int kRounds = 20;
  Store store({.num_workers = kWorkers, .sync = true});
  ASSERT_TRUE(store.Init("w", Floats({1, 2})).ok());
  ASSERT_TRUE(store.SetOptimizer("sgd", {{"learning_rate", "0.1"}}).ok());
  // Each worker pushes grad (rank+1) per round, then pulls; the pulled value must be the
  // weight after exactly that many rounds: w -= 0.1 * (1+2+3) per round.
  std::vector<std::thread> threads;
  std::vector<int> mismatches(kWorkers, 0);
  for (int rank = 0; rank < kWorkers; ++rank) {
    threads.emplace_back([&, rank] {
      for (int r = 1; r <= kRounds; ++r) {
        const float g = static_cast<float>(rank + 1);
        EXPECT_TRUE(store.Push("w", rank, {Floats({g, g})}).ok());
        std::vector<float> w = PullValues(store, "w", rank);
        if (std::abs(w[0] - (1.f - 0.6f * r)) > 1e-4f ||
            std::abs(w[1] - (2.f - 0.6f * r)) > 1e-4f) {
          ++mismatches[rank];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0));
  std::vector<float> w = PullValues(store, "w", 0);
  EXPECT_NEAR(w[0], 1.f - 0.6f * kRounds, 1e-4f);
  EXPECT_NEAR(w[1], 2.f - 0.6f * kRounds, 1e-4f);
}

TEST(StoreTest, SecondPushInARoundIsQueuedForTheNext) {
  Store store({.num_workers = 2, .sync = true});
  ASSERT_TRUE(store.Init("0", Floats({0, 0})).ok());
  ASSERT_TRUE(store.Push("0", 0, {Floats({1, 1})}).ok());
  ASSERT_TRUE(store.Push("0", 0, {Floats({10, 10})}).ok());  // round 2
  EXPECT_EQ(store.BytesInUse(), 8 * 3);
  ASSERT_TRUE(store.Push("0", 1, {Floats({2, 2})}).ok());  // completes round 1 only
  EXPECT_THAT(PullValues(store, "0", 1), ElementsAre(3.f, 3.f));
  NDArray out = *NDArray::Zeros({2});
  EXPECT_EQ(store.Pull("0", 0, out, absl::Now() + absl::Milliseconds(20)).code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(store.Push("0", 1, {Floats({20, 20})}).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(30.f, 30.f));
  EXPECT_EQ(store.BytesInUse(), 8);
}

TEST(StoreTest, ErrorsUseSpecificCodes) {
  Store store({.num_workers = 2, .sync = true});
  ASSERT_TRUE(store.Init("0", Floats({0, 0})).ok());
  NDArray out = *NDArray::Zeros({2});

  EXPECT_EQ(store.Init("0", Floats({1, 1})).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store.Push("9", 0, {Floats({1, 1})}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Pull("9", 0, out).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.KeyIndex("9").status().code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(store.Push("0", 0, {Floats({1, 1, 1})}).code(), absl::StatusCode::kInvalidArgument);
  NDArray f64 = *NDArray::Zeros({2}, Context::Cpu(), DType::kFloat64);
  EXPECT_EQ(store.Push("0", 0, {f64}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Push("0", 0, {Floats({1, 1}), NDArray()}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Push("0", 0, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Pull("0", 0, *NDArray::Zeros({3})).code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(store.Push("0", 2, {Floats({1, 1})}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Push("0", -1, {Floats({1, 1})}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Pull("0", 2, out).code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(store.SetOptimizer("nosuch", {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Init("", Floats({1})).code(), absl::StatusCode::kInvalidArgument);

  // None of the failed pushes counted toward the round.
  ASSERT_TRUE(store.Push("0", 0, {Floats({1, 1})}).ok());
  ASSERT_TRUE(store.Push("0", 1, {Floats({1, 1})}).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(2.f, 2.f));
}

TEST(StoreTest, ErrorsQuoteAtMost256BytesOfAKey) {
  Store store({});
  ASSERT_TRUE(store.Init("w", Floats({0, 0})).ok());
  const std::string key(1 << 20, 'k');
  NDArray out = *NDArray::Zeros({2});
  for (const absl::Status& s :
       {store.Push(key, 0, {Floats({1, 1})}), store.Pull(key, 0, out), store.Meta(key).status(),
        store.Value(key).status(), store.KeyIndex(key).status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
    EXPECT_LT(s.message().size(), 400u);
    EXPECT_THAT(s.message(), HasSubstr("(1048576 bytes)"));
  }
  ASSERT_TRUE(store.Init(key, Floats({0})).ok());  // long keys are fine, only quoted short
  const absl::Status twice = store.Init(key, Floats({0}));
  EXPECT_EQ(twice.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_LT(twice.message().size(), 400u);
}

TEST(StoreTest, SetOptimizerRefusesBadHyperparametersAndKeepsTheOldOne) {
  Store store({.num_workers = 1, .sync = false});
  ASSERT_TRUE(store.Init("0", Floats({1, 1})).ok());
  ASSERT_TRUE(store.SetOptimizer("sgd", {{"learning_rate", "0.5"}}).ok());
  const absl::Status bad = store.SetOptimizer("adam", {{"learning_rate", "-1"}});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("learning_rate"));
  EXPECT_EQ(store.SetOptimizer("sgd", {{"momentum", "1"}}).code(),
            absl::StatusCode::kInvalidArgument);
  // Still the SGD step of 0.5: 1 - 0.5 * 2.
  ASSERT_TRUE(store.Push("0", 0, {Floats({2, 2})}).ok());
  EXPECT_THAT(PullValues(store, "0", 0), ElementsAre(0.f, 0.f));
}

}  // namespace
}  // namespace mxgrid::kvstore
