// Partitioning of a dist KVStore's keys over its shards (MXNet's EncodeDefaultKey,
// mxnet-1x.md §6.3), stable across processes and machines:
//
//   Partition p(/*num_shards=*/3, /*bigarray_bound=*/1000000);
//   std::vector<PartRange> parts = p.Split("fc1_weight", /*num_elements=*/3000000);
//   // parts[i]: shard i holds elements [begin, end) of the flattened array as `part` i
//
// An array of at most `bigarray_bound` elements is one part (part 0) on the shard its key
// hashes to: KeyHash (FNV-1a 64 over the key's bytes, then the splitmix64 finalizer) modulo
// the shard count. Every worker computes the same shard from the same key text (unlike
// std::hash or absl::Hash, which may differ between processes). A larger array is split
// across ALL shards, part i on shard i with round(n/S*(i+1)) - round(n/S*i) elements (MXNet's
// formula; parts may be empty when n < S, which cannot happen above a bound >= S).
//
// Thread-safety: immutable; thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_PARTITION_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_PARTITION_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace mxgrid::kvstore::client {

// MXNET_KVSTORE_BIGARRAY_BOUND's default.
inline constexpr int64_t kDefaultBigArrayBound = 1000000;

// The stable 64-bit hash of a key's text.
uint64_t KeyHash(absl::string_view key);

// One part of a key: elements [begin, end) of the flattened array, stored on `shard` as
// part number `part`.
struct PartRange {
  int part = 0;
  int shard = 0;
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

class Partition {
 public:
  // REQUIRES: num_shards >= 1, bigarray_bound >= 1.
  Partition(int num_shards, int64_t bigarray_bound);

  int num_shards() const { return num_shards_; }
  int64_t bigarray_bound() const { return bigarray_bound_; }

  // The shard of an unsplit key.
  int ShardOf(absl::string_view key) const;
  // True when an array of `num_elements` is split across all shards.
  bool IsSplit(int64_t num_elements) const { return num_elements > bigarray_bound_; }
  // The parts of `key` with `num_elements` elements, in part order; they cover
  // [0, num_elements) exactly.
  std::vector<PartRange> Split(absl::string_view key, int64_t num_elements) const;

 private:
  int num_shards_;
  int64_t bigarray_bound_;
};

}  // namespace mxgrid::kvstore::client

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_PARTITION_H_
