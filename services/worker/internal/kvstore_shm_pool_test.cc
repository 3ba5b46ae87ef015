// ShmSlotPool: size classes, reuse of given-back slots, the keep limit, max_slots, a refused
// registration leaving nothing behind, Invalidate.
#include "services/worker/internal/kvstore_shm_pool.h"

#include <dirent.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mxgrid::services::internal {
namespace {

// Names of this process's objects in /dev/shm.
std::vector<std::string> Leftovers() {
  std::vector<std::string> out;
  const std::string prefix = "mxgrid-kv-" + std::to_string(getpid()) + "-";
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) out.push_back(e->d_name);
  }
  closedir(dir);
  return out;
}

// A registrar that accepts (ids 1, 2, ...) and remembers the names and sizes.
struct FakeShard {
  absl::StatusOr<uint64_t> operator()(const std::string& name, int64_t bytes) {
    names.push_back(name);
    sizes.push_back(bytes);
    EXPECT_FALSE(Leftovers().empty());  // the object exists while the shard opens it
    return names.size();
  }
  std::vector<std::string> names;
  std::vector<int64_t> sizes;
};

TEST(ShmSizeClassTest, PowersOfTwoPlusEighths) {
  EXPECT_EQ(ShmSizeClass(1), kShmMinBytes);
  EXPECT_EQ(ShmSizeClass(kShmMinBytes), kShmMinBytes);
  EXPECT_EQ(ShmSizeClass(kShmMinBytes + 1), kShmMinBytes + kShmMinBytes / 8);
  EXPECT_EQ(ShmSizeClass(int64_t{5} << 20), int64_t{5} << 20);
  const int64_t odd = 2621440 + 4;  // 2.5 MiB and a float
  EXPECT_GE(ShmSizeClass(odd), odd);
  EXPECT_LT(ShmSizeClass(odd), odd + odd / 8);
}

TEST(ShmSlotPoolTest, SlotsAreRegisteredUnlinkedAndReused) {
  ShmSlotPool pool({});
  FakeShard shard;
  auto registrar = [&](const std::string& n, int64_t b) { return shard(n, b); };
  absl::StatusOr<ShmSlot> a = pool.Take(1 << 20, registrar);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(Leftovers().empty());  // unlinked right after registering
  EXPECT_EQ(a->region, 1u);
  EXPECT_EQ(a->capacity, 1 << 20);
  EXPECT_EQ(shard.sizes[0], kShmDataOffset + (1 << 20));
  // The mapping is usable at the data offset, for the whole capacity.
  std::vector<char> bytes(1 << 20, 7);
  ASSERT_TRUE(a->memory->Write(kShmDataOffset, bytes.data(), bytes.size()).ok());
  EXPECT_EQ(a->memory->Write(kShmDataOffset + 1, bytes.data(), bytes.size()).code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<ShmSlot> b = pool.Take(1 << 20, registrar);  // a is lent: a new one
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->region, 2u);
  EXPECT_NE(shard.names[0], shard.names[1]);
  EXPECT_FALSE(pool.Give(*std::move(a)).has_value());
  absl::StatusOr<ShmSlot> c = pool.Take((1 << 20) - 100, registrar);  // same class: reused
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, 1u);
  EXPECT_EQ(shard.names.size(), 2u);
  EXPECT_EQ(pool.live_slots(), 2);
}

TEST(ShmSlotPoolTest, SmallerValuesReuseALargerFreeSlot) {
  ShmSlotPool pool({});
  FakeShard shard;
  auto registrar = [&](const std::string& n, int64_t b) { return shard(n, b); };
  ShmSlot big = *pool.Take(4 << 20, registrar);
  EXPECT_FALSE(pool.Give(std::move(big)).has_value());
  // A smaller class up to a quarter of the free slot takes it instead of a new object.
  ShmSlot reused = *pool.Take(1 << 20, registrar);
  EXPECT_EQ(reused.region, 1u);
  EXPECT_EQ(reused.capacity, 4 << 20);
  EXPECT_FALSE(pool.Give(std::move(reused)).has_value());
  // Far smaller: a slot of its own class (a large slot is not lent for a tiny batch).
  ShmSlot small = *pool.Take(512 << 10, registrar);
  EXPECT_EQ(small.region, 2u);
  EXPECT_EQ(small.capacity, 512 << 10);
  EXPECT_EQ(shard.names.size(), 2u);
}

TEST(ShmSlotPoolTest, KeepLimitAndMaxSlots) {
  ShmSlotPool pool({.keep_bytes = 1 << 20, .max_slots = 3});
  FakeShard shard;
  auto registrar = [&](const std::string& n, int64_t b) { return shard(n, b); };
  std::vector<ShmSlot> lent;
  for (int i = 0; i < 3; ++i) lent.push_back(*pool.Take(1 << 20, registrar));
  EXPECT_EQ(pool.Take(1 << 20, registrar).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(pool.Give(std::move(lent[0])).has_value());  // kept: 1 MiB
  std::optional<uint64_t> gone = pool.Give(std::move(lent[1]));  // over the limit
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(*gone, 2u);
  EXPECT_EQ(pool.live_slots(), 2);
  EXPECT_EQ(pool.free_slots(), 1);
}

TEST(ShmSlotPoolTest, RefusedRegistrationLeavesNothing) {
  ShmSlotPool pool({});
  absl::StatusOr<ShmSlot> s = pool.Take(1 << 20, [](const std::string&, int64_t) {
    return absl::StatusOr<uint64_t>(absl::FailedPreconditionError("another host"));
  });
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Leftovers().empty());
  EXPECT_EQ(pool.live_slots(), 0);
}

TEST(ShmSlotPoolTest, InvalidateForgetsFreeAndLentSlots) {
  ShmSlotPool pool({});
  FakeShard shard;
  auto registrar = [&](const std::string& n, int64_t b) { return shard(n, b); };
  ShmSlot free = *pool.Take(1 << 20, registrar);
  ShmSlot lent = *pool.Take(1 << 20, registrar);
  pool.Give(std::move(free));
  pool.Invalidate();
  EXPECT_EQ(pool.free_slots(), 0);
  EXPECT_EQ(pool.live_slots(), 0);
  EXPECT_FALSE(pool.Give(std::move(lent)).has_value());  // dropped, not kept
  EXPECT_EQ(pool.free_slots(), 0);
  ShmSlot again = *pool.Take(1 << 20, registrar);  // registered anew
  EXPECT_EQ(again.region, 3u);
}

}  // namespace
}  // namespace mxgrid::services::internal
