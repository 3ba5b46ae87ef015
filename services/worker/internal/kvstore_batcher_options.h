// ShardBatcherOptions: how a shard connection coalesces small calls into Batch RPCs
// (kvstore_batcher.h); apart so that kvstore_shards.h can hold them without the batcher.
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_BATCHER_OPTIONS_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_BATCHER_OPTIONS_H_

#include <cstddef>

namespace mxgrid::services::internal {

struct ShardBatcherOptions {
  // Calls whose pushed plus pulled bytes exceed this go alone (unary or streams); 0 turns
  // batching off. Calls whose values travel through shared memory (min_shm_item_bytes)
  // may be as large as max_batch_bytes.
  size_t max_item_bytes = size_t{256} << 10;
  // Value bytes (pushed and pulled) of one batch; keep well below the shard's
  // --max_message_bytes (64 MiB by default), as the pulled values come back in one message.
  size_t max_batch_bytes = size_t{4} << 20;
  int max_batch_items = 4096;
  // Items of at least this many bytes (pushed or pulled) travel in one shared-memory slot
  // per batch when the shard shares this host (kvstore_shard_shm.h): the batch's values are
  // packed into the slot and each item names its range, so a value is copied once on each
  // side instead of five times through messages. 0 keeps every value in the message.
  size_t min_shm_item_bytes = size_t{16} << 10;
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_BATCHER_OPTIONS_H_
