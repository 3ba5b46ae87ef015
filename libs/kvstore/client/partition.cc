#include "libs/kvstore/client/partition.h"

#include <cmath>

#include "libs/base/check.h"

namespace mxgrid::kvstore::client {

uint64_t KeyHash(absl::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;  // FNV-1a 64 prime
  }
  // splitmix64's finalizer: FNV-1a leaves the low bits of short, similar keys ("0".."999")
  // correlated; this mixes every input bit into every output bit.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

Partition::Partition(int num_shards, int64_t bigarray_bound)
    : num_shards_(num_shards), bigarray_bound_(bigarray_bound) {
  MXGRID_CHECK(num_shards >= 1) << "a dist kvstore needs at least one shard";
  MXGRID_CHECK(bigarray_bound >= 1) << "the big-array bound must be positive";
}

int Partition::ShardOf(absl::string_view key) const {
  return static_cast<int>(KeyHash(key) % static_cast<uint64_t>(num_shards_));
}

std::vector<PartRange> Partition::Split(absl::string_view key, int64_t num_elements) const {
  if (!IsSplit(num_elements)) {
    return {PartRange{.part = 0, .shard = ShardOf(key), .begin = 0, .end = num_elements}};
  }
  // MXNet: part i has round(n/S*(i+1)) - round(n/S*i) elements (std::round: half away from
  // zero, as MXNet's static_cast<size_t>(round(...))).
  std::vector<PartRange> parts;
  const double per_shard = static_cast<double>(num_elements) / num_shards_;
  int64_t begin = 0;
  for (int i = 0; i < num_shards_; ++i) {
    const int64_t end = i + 1 == num_shards_
                            ? num_elements
                            : static_cast<int64_t>(std::round(per_shard * (i + 1)));
    parts.push_back(PartRange{.part = i, .shard = i, .begin = begin, .end = end});
    begin = end;
  }
  return parts;
}

}  // namespace mxgrid::kvstore::client
