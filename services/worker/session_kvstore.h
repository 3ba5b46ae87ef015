// SessionKVStore: a KVStore a session holds (worker.proto KVCreate) — the worker's own
// 'local' / 'device' store (libs/kvstore/store.h with one rank, each push applied at once,
// the optimizer run here) or the parameter-server client of a 'dist_*' store
// (libs/kvstore/client/dist_store.h). One interface for the Worker's KV* handlers and for
// executors bound to a store (SetExecutorKVStore). Free of gRPC.
//
//   std::shared_ptr<SessionKVStore> kv = SessionKVStore::Local("local");
//   MXGRID_RETURN_IF_ERROR(kv->Init({{"3", weight}}, deadline));
//   MXGRID_RETURN_IF_ERROR(kv->Push("3", {grad}));
//   MXGRID_RETURN_IF_ERROR(kv->Pull("3", {out}, deadline));
//
// Local stores: Pull waits for the copy (as before); with an optimizer set, a push runs
// optimizer.Update(index, stored, sum) itself so that its state can be exported
// (Get/SetOptimizerStates). Dist stores: Push and Pull are engine operations and return at
// once (errors reach the outs' variables); Init, Barrier and the optimizer calls block.
// Optimizer states are named "<key>/<part>/<i>" (state array i) and "<key>/<part>/count"
// (the update count, a one-element int64 array); part 0 for unsplit keys and local stores.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_SERVICES_WORKER_SESSION_KVSTORE_H_
#define MXGRID_SERVICES_WORKER_SESSION_KVSTORE_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/client/dist_store.h"
#include "libs/kvstore/optimizer.h"
#include "libs/kvstore/store.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/sparse.h"

namespace mxgrid::services {

// The sum of `values` (any devices, same shape and dtype) in a new CPU array.
// REQUIRES: values non-empty.
absl::StatusOr<tensor::NDArray> SumOnCpu(const std::vector<tensor::NDArray>& values);

class SessionKVStore {
 public:
  static std::shared_ptr<SessionKVStore> Local(std::string type);
  static std::shared_ptr<SessionKVStore> Dist(std::string type,
                                              std::unique_ptr<kvstore::client::DistStore> dist);
  SessionKVStore(const SessionKVStore&) = delete;
  SessionKVStore& operator=(const SessionKVStore&) = delete;

  const std::string& type() const { return type_; }
  // Null for a local store.
  kvstore::client::DistStore* dist() const { return dist_.get(); }

  // kv.init: one value per key. InvalidArgument, AlreadyExists (see store.h, dist_store.h).
  absl::Status Init(const std::vector<std::pair<std::string, tensor::NDArray>>& pairs,
                    absl::Time deadline);
  // kv.push: the values (any devices) are summed.
  absl::Status Push(const std::string& key, const std::vector<tensor::NDArray>& values)
      ABSL_LOCKS_EXCLUDED(mu_);
  // kv.push of row_sparse values (any devices; summed into the union of their rows). The
  // store's optimizer (the shards' for a dist store, which receive only the rows' pieces,
  // DistStore::PushRows) updates those rows, lazily where MXNet's does; without one the
  // stored value becomes the sum, zeros elsewhere. InvalidArgument for values unlike the
  // key's shape and dtype or not row_sparse.
  absl::Status PushRowSparse(const std::string& key,
                             const std::vector<tensor::SparseNDArray>& values)
      ABSL_LOCKS_EXCLUDED(mu_);
  // kv.row_sparse_pull: the rows `row_ids` (any integer or float dtype, any order, repeats
  // allowed; as mx.nd.sparse.retain takes them) of the stored value, as a row_sparse array
  // on the CPU (a dist store's shards send only those rows). Waits for `row_ids`;
  // InvalidArgument for an id outside the rows or a 0-d key; NotFound for an unknown key.
  // The rows' copy is an engine operation ordered after the key's updates pushed before the
  // call.
  absl::StatusOr<tensor::SparseNDArray> PullRows(const std::string& key,
                                                 const tensor::NDArray& row_ids);
  // kv.pull into every out.
  absl::Status Pull(const std::string& key, const std::vector<tensor::NDArray>& outs,
                    absl::Time deadline);
  // An executor's update of its arguments: for each i, push the sum of grads[i] to keys[i],
  // then the stored value into each of weights[i] (engine operations: returns at once; a
  // dist store does all of them in one shard round trip per shard, DistStore::PushPullList).
  // REQUIRES: the three of the same length.
  absl::Status PushPull(absl::Span<const std::string> keys,
                        absl::Span<const std::vector<tensor::NDArray>> grads,
                        absl::Span<const std::vector<tensor::NDArray>> weights)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A local store's stored array itself (for a client-side updater); FailedPrecondition for
  // a dist store, NotFound for an unknown key.
  absl::StatusOr<tensor::NDArray> LocalValue(const std::string& key) const;
  // The key's shape and dtype; NotFound for a key never initialized.
  absl::StatusOr<std::pair<Shape, DType>> Meta(const std::string& key) const;
  // kv._barrier(): at once for local stores.
  absl::Status Barrier(absl::Time deadline);
  // The optimizer and its per-key multipliers (InvalidArgument for a bad one); a dist
  // store's go to the shards.
  absl::Status SetOptimizer(const std::string& name,
                            const std::map<std::string, std::string>& params,
                            const kvstore::KeyMultipliers& mults, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Named optimizer states (see the header comment); FailedPrecondition without an
  // optimizer.
  absl::StatusOr<std::vector<std::pair<std::string, tensor::NDArray>>> GetOptimizerStates(
      absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces the states named (as GetOptimizerStates names them). InvalidArgument for a
  // malformed name, a missing count or state array; NotFound for an unknown key;
  // FailedPrecondition without an optimizer.
  absl::Status SetOptimizerStates(
      const std::vector<std::pair<std::string, tensor::NDArray>>& named, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Leaves a dist store's job (LeaveJob on every shard); nothing for local stores.
  void Close();

 private:
  SessionKVStore(std::string type, std::unique_ptr<kvstore::client::DistStore> dist);
  // A local push through the optimizer (see the header comment).
  absl::Status LocalPush(const std::string& key, const std::vector<tensor::NDArray>& values)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<kvstore::Optimizer> optimizer() const ABSL_LOCKS_EXCLUDED(mu_);
  // Local stores: sets `key`'s multipliers in the installed optimizer (none: nothing).
  void ApplyMultipliers(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string type_;
  const std::unique_ptr<kvstore::client::DistStore> dist_;  // dist types
  const std::unique_ptr<kvstore::Store> local_;             // local types
  mutable base::Mutex mu_;
  // Local stores: set by SetOptimizer. shared_ptr: a push in progress keeps the optimizer
  // it started with when another SetOptimizer replaces it.
  std::shared_ptr<kvstore::Optimizer> optimizer_ ABSL_GUARDED_BY(mu_);
  // Local stores: the multipliers of optimizer_'s keys (applied at SetOptimizer and Init).
  std::shared_ptr<const kvstore::KeyMultipliers> mults_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_WORKER_SESSION_KVSTORE_H_
