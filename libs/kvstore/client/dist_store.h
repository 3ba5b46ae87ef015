// DistStore: the worker side of MXNet's dist KVStore (KVStoreDist, mxnet-1x.md §6.3): the
// parameter-server client that an mxgrid-worker runs for a 'dist_sync' / 'dist_async' store.
// It joins the job on every shard, heartbeats, partitions keys (partition.h) and moves the
// values between the worker's arrays and the shards itself; free of gRPC (the shards are
// ShardConnections).
//
//   MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<DistStore> kv,
//                           DistStore::Create(std::move(connections), options, deadline));
//   MXGRID_RETURN_IF_ERROR(kv->Init({{"3", weight}}, deadline));  // every rank; then a barrier
//   MXGRID_RETURN_IF_ERROR(kv->Push("3", {grad_gpu0, grad_gpu1}));  // engine op, returns at once
//   MXGRID_RETURN_IF_ERROR(kv->Pull("3", {weight}));                // engine op, returns at once
//   MXGRID_RETURN_IF_ERROR(weight.WaitToRead());  // the round's sum (or the optimizer's step)
//   MXGRID_RETURN_IF_ERROR(kv->PushPull("3", {grad}, {weight}));  // both, one round trip
//
// Semantics (kvstore.proto's header):
// - Init(keys, values) is called by every rank with the same keys in the same order: a string
//   key's optimizer index is its position in init order, an int key's its value. It sends
//   every part to its shard (rank 0's value is stored, the others' shapes checked) and then
//   passes a Barrier, so that no rank pulls before rank 0's values are stored. Blocking.
// - Push(key, values) sums a list on the worker's CPU first, then sends each part to its
//   shard. Pull(key, outs) fetches every part and writes the whole value into each out. Both
//   are engine operations (engine::Get()->PushAsync): a push reads the values and writes the
//   key's own variable, a pull reads that variable and writes the outs, so a pull after a
//   push of the same key is sent after the shards acknowledged the push, and the next push
//   after the pull's answer (MXNet orders them through comm_buf_[key] the same way). The RPCs
//   start from the operation and complete it from their callbacks: no engine thread waits
//   on the network. A failed push is reported by the next pull of the key; a failed pull
//   (e.g. ABORTED naming a dead rank) is the error of its outs' variables, seen at their next
//   read, as MXNet's engine errors are.
// - Barrier, SetOptimizer (sent to every shard), Get/SetOptimizerStates block the caller.
// - A thread heartbeats every shard every heartbeat_timeout / 4. Close() (also the
//   destructor) stops it and leaves the job on every shard (LeaveJob), so that the other
//   ranks' rounds and barriers stop waiting for this one, then cancels calls in flight.
// - Retries: see internal/shard_set.h. Every call has a deadline: call_timeout, and
//   pull_timeout for the calls that wait for other ranks (Pull, Barrier).
//
// Thread-safety: thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_DIST_STORE_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_DIST_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/base/shape.h"
#include "libs/kvstore/client/internal/shard_set.h"
#include "libs/kvstore/client/partition.h"
#include "libs/kvstore/client/shard_connection.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore::client {

struct DistStoreOptions {
  // job (non-empty), rank in [0, num_workers), num_workers (0: the shards'), mode, and
  // heartbeat_timeout (zero: the shards').
  Membership membership;
  // Arrays with more elements are split across all shards (MXNET_KVSTORE_BIGARRAY_BOUND).
  int64_t bigarray_bound = kDefaultBigArrayBound;
  // Deadline of each shard call that does not wait for other ranks.
  absl::Duration call_timeout = absl::Seconds(60);
  // Deadline of calls that wait for other ranks (Pull, Barrier): generous, still finite.
  absl::Duration pull_timeout = absl::Minutes(10);
  // How long LeaveJob may take on Close.
  absl::Duration leave_timeout = absl::Seconds(5);
  internal::RetryPolicy retry;
};

class DistStore {
 public:
  // Joins the job on every shard (in parallel). InvalidArgument for an empty job or a rank
  // outside [0, num_workers); the shards' JoinJob errors (FailedPrecondition for a job of
  // another size or mode, Aborted, Unavailable after the retry timeout) naming the shard;
  // DeadlineExceeded after `deadline`.
  static absl::StatusOr<std::unique_ptr<DistStore>> Create(
      std::vector<std::unique_ptr<ShardConnection>> connections, DistStoreOptions options,
      absl::Time deadline);
  // Close().
  ~DistStore();
  DistStore(const DistStore&) = delete;
  DistStore& operator=(const DistStore&) = delete;

  int rank() const { return options_.membership.rank; }
  // The job's size and mode as the shards hold them.
  int num_workers() const { return job_.num_workers; }
  Mode mode() const { return job_.mode; }
  // The largest round a shard restored the job at (0: none restored).
  int64_t restored_round() const { return restored_round_; }
  int num_shards() const { return shards_->size(); }
  std::vector<std::string> ShardAddresses() const;
  const Partition& partition() const { return partition_; }

  // Init of each (key, value) (see the header comment). InvalidArgument for an empty key, a
  // none value, int and string keys mixed, or a key twice in the call; AlreadyExists for a
  // key this store already initialized; the shards' errors; DeadlineExceeded.
  absl::Status Init(absl::Span<const std::pair<std::string, tensor::NDArray>> pairs,
                    absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_, init_mu_);
  // NotFound for a key never initialized; InvalidArgument for no values or a value unlike
  // the key's shape and dtype.
  absl::Status Push(const std::string& key, absl::Span<const tensor::NDArray> values)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for a key never initialized; InvalidArgument for no outs or an out of another
  // shape (any dtype: values are converted).
  absl::Status Pull(const std::string& key, absl::Span<const tensor::NDArray> outs)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Push (Pull) of a list of keys as ONE engine operation: the list's shard calls go out
  // together (the connections batch them) and one completion ends the operation, where an
  // operation per key cost a dispatch, a completion and their thread wake-ups per key (a
  // model of 2,000 small arrays spent most of its push in them). Every key is checked as
  // Push (Pull) checks it before anything is sent, so a bad key sends nothing. A failed
  // push is still reported by the key's next pull; a failed pull fails every out of the
  // list. A list naming a key twice runs as one Push (Pull) per key, in order.
  // InvalidArgument when the lists differ in length.
  absl::Status PushList(absl::Span<const std::string> keys,
                        absl::Span<const std::vector<tensor::NDArray>> values)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status PullList(absl::Span<const std::string> keys,
                        absl::Span<const std::vector<tensor::NDArray>> outs)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Push(key, values) then Pull(key, outs) in one shard exchange per part (the shards'
  // PushPull: one round trip where a Push then a Pull take two). An engine operation that
  // reads the merged values and writes the key's variable and the outs, followed by a tiny
  // one that sets the exchange's error (naming the shard, or that of an earlier failed Push
  // of the key) on the outs only, so that the key's later pushes and pulls still run. The
  // errors of Push and Pull for bad arguments.
  absl::Status PushPull(const std::string& key, absl::Span<const tensor::NDArray> values,
                        absl::Span<const tensor::NDArray> outs) ABSL_LOCKS_EXCLUDED(mu_);
  // PushPull of a list of keys as ONE exchange operation (plus each key's tiny status
  // operation), its shard calls sent together, one batch per shard (Module.update's
  // parameters in one round trip per shard). Every key is checked first, so a bad key sends
  // nothing; each key's exchange error goes to its own outs. A list naming a key twice runs
  // as one PushPull per key, in order. InvalidArgument when the lists differ in length.
  absl::Status PushPullList(absl::Span<const std::string> keys,
                            absl::Span<const std::vector<tensor::NDArray>> values,
                            absl::Span<const std::vector<tensor::NDArray>> outs)
      ABSL_LOCKS_EXCLUDED(mu_);
  // kv.push of a row_sparse sum: the rows `rows` (strictly increasing) of the key, seen as
  // (shape[0], the rest flattened), with `values` (len(rows), shape[1:]) of the key's dtype
  // (any device). Each part receives the pieces of those rows it holds (PartRows), every
  // part a push, empty or not, so that sync rounds count it; the shards update only those
  // elements where their optimizer is lazy (kvstore.proto PushRequest.rows). An engine
  // operation, its error reported as Push's. NotFound for an unknown key; InvalidArgument
  // for a 0-d key, rows not strictly increasing or outside [0, shape[0]), values of
  // another shape or dtype.
  absl::Status PushRows(const std::string& key, std::vector<int64_t> rows,
                        const tensor::NDArray& values) ABSL_LOCKS_EXCLUDED(mu_);
  // kv.row_sparse_pull: the rows `rows` (strictly increasing) of the key's value into `out`
  // (len(rows), shape[1:]; any device and dtype), each part sending only its pieces; waits
  // as Pull does. An engine operation writing `out`. Errors as PushRows for the arguments.
  absl::Status PullRows(const std::string& key, std::vector<int64_t> rows,
                        const tensor::NDArray& out) ABSL_LOCKS_EXCLUDED(mu_);
  // kv._barrier(): returns when every active rank has called it (pull_timeout at most).
  absl::Status Barrier(absl::Time deadline);
  // Sends the optimizer to every shard (as every MXNet worker does); the shards' errors
  // (InvalidArgument for a bad optimizer or parameter).
  absl::Status SetOptimizer(const std::string& name,
                            const std::map<std::string, std::string>& params,
                            const KeyMultipliers& mults, absl::Time deadline);
  // Every shard's optimizer state of every (key, part), shard by shard.
  absl::StatusOr<std::vector<PartState>> GetOptimizerStates(absl::Time deadline);
  // Sends each state to the shard of its (key, part); the index is the key's. NotFound for
  // a key never initialized; InvalidArgument for a part the key does not have.
  absl::Status SetOptimizerStates(std::vector<PartState> states, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);

  struct KeyMeta {
    Shape shape;
    DType dtype = DType::kFloat32;
    int index = 0;
    std::vector<PartRange> parts;
  };
  // NotFound for a key never initialized.
  absl::StatusOr<KeyMeta> Meta(const std::string& key) const ABSL_LOCKS_EXCLUDED(mu_);
  // The initialized keys in init order.
  std::vector<std::string> Keys() const ABSL_LOCKS_EXCLUDED(mu_);

  // Leaves the job on every shard and stops heartbeating; later calls fail with
  // FailedPrecondition, pushes and pulls in flight with Cancelled. Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

  // One key's state, shared with the engine operations on it.
  struct Key;

 private:
  DistStore(std::shared_ptr<internal::ShardSet> shards, DistStoreOptions options, JobInfo job,
            int64_t restored_round);
  void HeartbeatLoop() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::shared_ptr<Key>> FindKey(const std::string& key) const
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckOpen() const ABSL_LOCKS_EXCLUDED(mu_);
  // PushPullList of distinct keys (also PushPull's one key).
  absl::Status PushPullKeys(absl::Span<const std::string> keys,
                            absl::Span<const std::vector<tensor::NDArray>> values,
                            absl::Span<const std::vector<tensor::NDArray>> outs)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<internal::ShardSet> shards_;
  const DistStoreOptions options_;
  const JobInfo job_;
  const int64_t restored_round_;
  const Partition partition_;

  base::Mutex init_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serializes Init
  mutable base::Mutex mu_;
  base::CondVar stop_cv_{&mu_};
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<Key>> keys_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> init_order_ ABSL_GUARDED_BY(mu_);
  int num_string_keys_ ABSL_GUARDED_BY(mu_) = 0;
  int num_int_keys_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread heartbeat_;
};

}  // namespace mxgrid::kvstore::client

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_DIST_STORE_H_
