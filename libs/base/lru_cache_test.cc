#include "libs/base/lru_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace mxgrid::base {
namespace {

TEST(LruCacheTest, EvictsTheLeastRecentlyUsed) {
  LruCache<int> cache(2);
  cache.Put("a", 1);
  cache.Put("b", 2);
  EXPECT_EQ(cache.Get("a"), 1);  // "b" is now the least recently used
  cache.Put("c", 3);
  EXPECT_EQ(cache.Get("b"), std::nullopt);
  EXPECT_EQ(cache.Get("a"), 1);
  EXPECT_EQ(cache.Get("c"), 3);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(LruCacheTest, PutKeepsAnExistingValueAndZeroCapacityStoresNothing) {
  LruCache<std::string> cache(4);
  cache.Put("k", "first");
  cache.Put("k", "second");
  EXPECT_EQ(cache.Get("k"), "first");
  LruCache<int> none(0);
  none.Put("k", 1);
  EXPECT_EQ(none.Get("k"), std::nullopt);
}

}  // namespace
}  // namespace mxgrid::base
