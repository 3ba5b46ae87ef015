#include "libs/engine/internal/mpmc_ring.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "libs/engine/engine_test_util.h"

namespace mxgrid::engine::internal {
namespace {

struct Item {
  int producer;
  int seq;
};

TEST(MpmcRingTest, IsFifoAndReportsFullAndEmpty) {
  MpmcRing<Item> ring(4);
  Item items[5] = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}};
  EXPECT_EQ(ring.TryPop(), nullptr);
  EXPECT_FALSE(ring.MaybeNonEmpty());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.TryPush(&items[i]));
  EXPECT_FALSE(ring.TryPush(&items[4]));
  EXPECT_TRUE(ring.MaybeNonEmpty());
  EXPECT_EQ(ring.TryPop(), &items[0]);
  ASSERT_TRUE(ring.TryPush(&items[4]));  // wraps around
  for (int i = 1; i < 5; ++i) EXPECT_EQ(ring.TryPop(), &items[i]);
  EXPECT_EQ(ring.TryPop(), nullptr);
}

TEST(MpmcRingTest, ConcurrentProducersAndConsumersDeliverEachItemOnceInProducerOrder) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  const int per_producer = 100000 / testing::kSanitizerSlowdown;
  MpmcRing<Item> ring(64);  // small, so producers often find it full
  std::vector<std::vector<Item>> items(kProducers, std::vector<Item>(per_producer));
  std::vector<std::atomic<int>> delivered(kProducers * per_producer);
  std::atomic<int> popped{0};
  std::atomic<bool> out_of_order{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        items[p][i] = Item{p, i};
        while (!ring.TryPush(&items[p][i])) std::this_thread::yield();
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      std::vector<int> last_seen(kProducers, -1);  // per producer, as seen by this consumer
      while (popped.load() < kProducers * per_producer) {
        Item* item = ring.TryPop();
        if (item == nullptr) {
          std::this_thread::yield();
          continue;
        }
        if (item->seq <= last_seen[item->producer]) out_of_order = true;
        last_seen[item->producer] = item->seq;
        delivered[item->producer * per_producer + item->seq].fetch_add(1);
        popped.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(out_of_order.load());
  for (size_t i = 0; i < delivered.size(); ++i) ASSERT_EQ(delivered[i].load(), 1) << i;
  EXPECT_EQ(ring.TryPop(), nullptr);
}

}  // namespace
}  // namespace mxgrid::engine::internal
