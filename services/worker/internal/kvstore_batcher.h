// ShardBatcher: coalesces a shard connection's small Push / Pull / PushPull calls into Batch
// RPCs (kvstore.proto rpc Batch), so that a model of thousands of small arrays costs a few
// round trips per step instead of one per array.
//
//   ShardBatcher batcher(impl, {});
//   if (!batcher.Enqueue(ShardBatcher::Call::kPush, ref, &grad, nullptr, deadline, done)) {
//     ... send it alone (too large, or the shard has no Batch) ...
//   }
//
// A call whose values (pushed and pulled) fit max_item_bytes is encoded at once (the caller's
// arrays are readable now) and queued. Sending takes everything queued (FIFO, one job and
// rank per batch, at most max_batch_bytes of values and max_batch_items items) as one Batch,
// started with the callback API; sending never waits for a batch's answer, so several
// batches may be in flight (a batch whose pulls wait for the other ranks must not hold up
// pushes queued after it: two ranks would wait on each other). Who sends: a call that finds
// nothing queued and no batch of this connection in flight sends its own batch at once from
// the caller's thread (a lone call pays no thread hop); otherwise (a burst: thousands of
// small keys) the per-connection sender thread drains the queue, and the calls arriving
// meanwhile coalesce behind it. A caller that knows its set of calls (a list of keys, a
// training step's parameters) holds the connection around them (Hold / Release): they
// queue, and Release sends them as one batch from its thread. Each item completes from its
// BatchResult; a pull's value is decoded into its `out` then.
//
// Same host: items of at least min_shm_item_bytes are not encoded when queued; the batch
// that takes them packs their values into one shared-memory slot of the connection's pool
// (pushed values copied in as the batch is sent, pulled ones copied out from its answer), so
// a pushed value must stay readable until its `done` runs, as ShardConnection's contract
// already requires. No slot (another host, MXGRID_KV_SHM=0, the pool exhausted): they are
// encoded into the message then. An item answered NOT_FOUND through the slot (the shard
// forgot our regions) is redone alone by message, as the unary shared-memory calls do.
//
// Deadlines: a batch carries the latest deadline of its items (DistStore gives pushes
// call_timeout and pulls the longer pull_timeout; the earliest would cut the pulls short). An
// item may therefore complete after its own deadline, with its real result: a push the shard
// applied is never reported as failed.
//
// Cancellation: CancelQueued() ends the queued items with CANCELLED; the batches in flight
// are tracked in Impl (Track) like every call, so Impl::CancelAll cancels them, and every
// item of a cancelled batch completes CANCELLED. Items are taken and their batch tracked
// under one lock, so a CancelQueued then Impl::CancelAll misses none.
//
// Older shards: a Batch answered UNIMPLEMENTED turns batching off for this connection and
// sends that batch's items as unary calls; Enqueue returns false from then on.
//
// Thread-safety: thread-safe. Callbacks run on gRPC's threads with no lock
// held. The destructor stops and joins the sender and ends the queued items with CANCELLED.
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_BATCHER_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_BATCHER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/client/shard_connection.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.pb.h"
#include "services/worker/internal/kvstore_batcher_options.h"
#include "services/worker/internal/kvstore_streams.h"

namespace mxgrid::services::internal {

class ShardBatcher {
 public:
  enum class Call { kPush, kPull, kPushPull };

  // `impl` is the connection's shared state; starts the sender thread.
  ShardBatcher(ImplPtr impl, const ShardBatcherOptions& options);
  ~ShardBatcher();
  ShardBatcher(const ShardBatcher&) = delete;
  ShardBatcher& operator=(const ShardBatcher&) = delete;

  // Queues the call when it is small enough and the shard takes Batch; then `*done` is moved
  // from and runs exactly once later. False (done untouched): send the call as before.
  // `value` (kPush, kPushPull) must stay readable and unchanged until done runs; `out`
  // (kPull, kPushPull) is written before done runs, and must stay writable until then.
  bool Enqueue(Call call, const kvstore::client::KeyRef& ref, const tensor::NDArray* value,
               const tensor::NDArray* out, absl::Time deadline, kvstore::client::Done* done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // ShardConnection::Hold / Release: while held, Enqueue only queues; the last Release
  // sends what queued (as batches, from its thread) unless another thread is draining.
  void Hold() ABSL_LOCKS_EXCLUDED(mu_);
  void Release() ABSL_LOCKS_EXCLUDED(mu_);

  // Ends every queued item with CANCELLED.
  void CancelQueued() ABSL_LOCKS_EXCLUDED(mu_);

  // Batch RPCs started so far (tests and metrics).
  int64_t batches_sent() const { return batches_sent_.load(); }

  // One queued call. Public for the .cc's helpers.
  struct Item {
    v1::BatchItem proto;
    tensor::NDArray out;    // pulls: where the value goes; none for a push
    tensor::NDArray value;  // a push's value not yet encoded (shm)
    bool shm = false;       // its values go through the batch's slot
    int64_t shm_offset = 0;  // where in the slot, once packed
    absl::Time deadline;
    kvstore::client::Done done;
    size_t bytes = 0;
  };

 private:
  // Takes one batch off the queue and starts its call; false (and draining_ cleared) when
  // the queue is empty. REQUIRES: this thread is the one draining (it set draining_, or is
  // the sender woken for it).
  bool SendOneBatch() ABSL_LOCKS_EXCLUDED(mu_);
  // The sender thread: drains the queue each time an Enqueue hands a burst over.
  void SenderLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const ImplPtr impl_;
  const ShardBatcherOptions options_;
  // Shared with the batches in flight, whose callbacks may run after the batcher is gone.
  struct SharedState {
    std::atomic<bool> unsupported{false};  // the shard answered Batch UNIMPLEMENTED
    std::atomic<int> in_flight{0};         // Batch calls not yet answered
  };
  const std::shared_ptr<SharedState> state_ = std::make_shared<SharedState>();
  std::atomic<int64_t> batches_sent_{0};
  base::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  // A thread (an Enqueue's, or the sender) is sending what is queued; others only queue.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;  // the sender has a burst to drain
  int holds_ ABSL_GUARDED_BY(mu_) = 0;      // Hold() calls not yet released
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  base::CondVar wake_cv_{&mu_};
  std::thread sender_;  // last: starts once the rest is constructed
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_BATCHER_H_
