// Same-host transfers of GrpcShardConnection (kvstore_shards.h): values of at least
// kShmMinBytes go through shared-memory slots registered with the shard (kvstore.proto
// RegisterShardShm, ShmValue) instead of messages: Push copies the value into a slot and
// names it; Pull names a slot for the shard to write into and copies out of it; PushPull
// does both on one slot. One copy on each side instead of a message's five.
//
// Routing: each Shm* function returns false when the call should go by message (disabled,
// too small, not a CPU value), leaving `done` alone; true when it took the call (`done` moved
// from, run exactly once). A connection learns on its first large call whether the shard
// shares this host: a registration refused with FAILED_PRECONDITION (no such object: another
// host), UNIMPLEMENTED, INVALID_ARGUMENT or PERMISSION_DENIED makes it use messages for good,
// silently. MXGRID_KV_SHM=0 in the worker's environment disables shared memory. A shard that
// no longer knows a region (it restarted, or the rank left) answers NOT_FOUND: the pool is
// invalidated (the next call registers anew) and the call is redone by message, so the
// user's push never fails because of shared memory. Other registration failures send that
// one call by message.
//
// Thread-safety: thread-safe (engine threads call concurrently).
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHARD_SHM_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHARD_SHM_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/client/shard_connection.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/tensor.pb.h"
#include "services/worker/internal/kvstore_shards.h"
#include "services/worker/internal/kvstore_shm_pool.h"

namespace mxgrid::services::internal {

// A connection's shared-memory state: whether it is on, and a slot pool per (job, rank).
class ShardShm {
 public:
  // On unless MXGRID_KV_SHM=0.
  ShardShm();
  ShardShm(const ShardShm&) = delete;
  ShardShm& operator=(const ShardShm&) = delete;

  bool enabled() const ABSL_LOCKS_EXCLUDED(mu_);
  // Messages for good (the shard is on another host, or does not know the RPCs).
  void Disable() ABSL_LOCKS_EXCLUDED(mu_);
  // The pool of (job, rank), made on first use.
  std::shared_ptr<ShmSlotPool> Pool(const std::string& job, int rank) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable base::Mutex mu_;
  bool enabled_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int>, std::shared_ptr<ShmSlotPool>> pools_
      ABSL_GUARDED_BY(mu_);
};

using ShmImplPtr = std::shared_ptr<GrpcShardConnection::Impl>;
// The same call by message, for the fallbacks.
using ByMessage = std::function<void(kvstore::client::Done)>;

// Slot helpers shared with the batcher (kvstore_batcher.h), which packs a batch's values
// into one slot. TakeShmSlot: a slot of at least `bytes` value bytes from ref's pool, or
// nothing (the values go by message; an answer meaning "never" disables shared memory for
// the connection). GiveBackShmSlot: returns it (unregistering one the pool drops).
// CopyOutOfSlot: the pulled value at `offset` of the slot into `out`, after checking the
// shard's meta against out.
std::optional<ShmSlot> TakeShmSlot(const ShmImplPtr& impl, ShmSlotPool& pool,
                                   const kvstore::client::KeyRef& ref, int64_t bytes,
                                   absl::Time deadline);
void GiveBackShmSlot(const ShmImplPtr& impl, const kvstore::client::KeyRef& ref,
                     ShmSlotPool& pool, ShmSlot slot);
absl::Status CopyOutOfSlot(const ShmSlot& slot, int64_t offset, const v1::TensorMeta& meta,
                           const tensor::NDArray& out);

bool ShmPush(const ShmImplPtr& impl, const kvstore::client::KeyRef& ref,
             const tensor::NDArray& value, absl::Time deadline, kvstore::client::Done* done,
             ByMessage by_message);
bool ShmPull(const ShmImplPtr& impl, const kvstore::client::KeyRef& ref,
             const tensor::NDArray& out, absl::Time deadline, kvstore::client::Done* done,
             ByMessage by_message);
bool ShmPushPull(const ShmImplPtr& impl, const kvstore::client::KeyRef& ref,
                 const tensor::NDArray& value, const tensor::NDArray& out, absl::Time deadline,
                 kvstore::client::Done* done, ByMessage by_message);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHARD_SHM_H_
