#include "libs/engine/internal/object_pool.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace mxgrid::engine::internal {
namespace {

int live = 0;  // Item objects alive (the tests touch them from one thread at a time)

struct Item {
  Item() { ++live; }
  ~Item() { --live; }
  Item* pool_next = nullptr;
  int value = 0;
};

TEST(ObjectPoolTest, ReusesWhatWasFreed) {
  ObjectPool<Item> pool(8);
  Item* a = pool.Alloc();
  a->value = 7;
  pool.Free(a);
  Item* b = pool.Alloc();
  EXPECT_EQ(b, a);  // the freed object, as it was left
  EXPECT_EQ(b->value, 7);
  pool.Free(b);
}

// Frees beyond the bound delete their objects: a burst does not pin its memory.
TEST(ObjectPoolTest, KeepsAtMostItsBoundOfFreeObjects) {
  live = 0;
  {
    ObjectPool<Item> pool(64);
    std::vector<Item*> burst;
    for (int i = 0; i < 1000; ++i) burst.push_back(pool.Alloc());
    EXPECT_EQ(live, 1000);
    // Freed from another thread, as workers give back what a pusher took.
    std::thread worker([&] {
      for (Item* item : burst) pool.Free(item);
    });
    worker.join();
    EXPECT_LE(live, 64);
    EXPECT_GE(live, 32);
    // Taken again and given back: the count stays within the bound.
    for (int round = 0; round < 3; ++round) {
      std::vector<Item*> again;
      for (int i = 0; i < 200; ++i) again.push_back(pool.Alloc());
      for (Item* item : again) pool.Free(item);
      EXPECT_LE(live, 2 * 64) << round;
    }
  }
  EXPECT_EQ(live, 0);  // the pool deletes what it kept
}

}  // namespace
}  // namespace mxgrid::engine::internal
