// Store: the parameter-server core of one KVStore shard (MXNet's KVStoreDistServer,
// src/kvstore/kvstore_dist_server.h), free of gRPC. The mxgrid-kvstore service and the
// worker's 'local' store call it from many RPC threads.
//
//   Store store({.num_workers = 2, .sync = true});
//   MXGRID_RETURN_IF_ERROR(store.Init("3", weight));
//   MXGRID_RETURN_IF_ERROR(store.SetOptimizer("sgd", {{"learning_rate", "0.1"}}));
//   MXGRID_RETURN_IF_ERROR(store.Push("3", /*rank=*/0, {grad_gpu0, grad_gpu1}));  // returns
//   MXGRID_RETURN_IF_ERROR(store.Pull("3", /*rank=*/0, out));  // waits for rank 1's push too
//
// Keys are strings. A key that is the canonical decimal text of an int ("0", "-7", not "07")
// is an int key and its optimizer index is that int (MXNet passes the int key to the
// updater); any other key is a string key whose index is its position in init order among
// string keys (MXNet's next_str_key_). As in MXNet, one store holds int keys or string keys,
// not both.
//
// Semantics (MXNet 1.9.1 DataHandleDefault / ApplyUpdates, mxnet-1x.md §6):
// - Init stores a copy (on the CPU) of the value; a second Init of a key is AlreadyExists
//   (KVStoreLocal's "duplicate init of key"; the dist server silently treats a push to an
//   uninitialized key as its init, which mxgrid keeps as an explicit call).
// - Push sums the values of one call (a push of a list). In sync mode the sums of all
//   num_workers ranks form one round: when the last rank's push arrives the round's total is
//   applied: `optimizer.Update(index, stored, total)` if an optimizer is set, else
//   `stored = total` (an overwrite, as MXNet's server and KVStoreLocal do without an
//   updater). In async mode each push is applied at once in the same way. (MXNet's async
//   server CHECK-fails without an updater; mxgrid overwrites instead.)
// - Push never blocks. A rank's n-th push of a key belongs to that key's n-th round, so a
//   rank that pushes again before its round has completed is queued for the next round
//   (ps-lite's worker would instead block that push until the round's response arrives; the
//   totals are the same). Memory grows with the rounds a fast rank runs ahead.
// - Pull(key, rank) in sync mode waits until every round the rank has pushed to has been
//   applied (ps-lite: a worker's pull after its push sees the aggregated update), then copies
//   the stored value. A rank that has not pushed, or any pull in async mode, reads the current
//   value at once.
//
// Consistency: all engine work on a key (summing into a round's buffer, the optimizer update,
// the overwrite, the copy into a pull's `out`) is pushed while holding the store's lock, so
// the engine runs it in lock order on the arrays' variables; a pull's copy is therefore
// ordered after the update of the round it waited for, without waiting for the update itself
// under the lock. Pull waits for its copy (outside the lock) and returns its status.
//
// Thread-safety: every method is thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_STORE_H_
#define MXGRID_LIBS_KVSTORE_STORE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/optimizer.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore {

struct StoreOptions {
  // Ranks 0..num_workers-1 push; a sync round completes when all of them have pushed. >= 1.
  int num_workers = 1;
  // true: dist_sync rounds; false: dist_async (each push applied at once).
  bool sync = true;
};

class Store {
 public:
  // REQUIRES: options.num_workers >= 1.
  explicit Store(StoreOptions options);
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  // Stores a copy of `value` under `key`. AlreadyExists for a key already initialized;
  // InvalidArgument for a none value, an empty key, or a key of the other kind (int vs string)
  // than the keys already stored.
  absl::Status Init(const std::string& key, const tensor::NDArray& value);

  // Pushes the sum of `values` from worker `rank` (see the header comment). Every value needs
  // the stored shape and dtype: InvalidArgument otherwise, and for an empty `values` or a rank
  // outside [0, num_workers); NotFound for a key never initialized. In sync mode the push that
  // completes a round returns the optimizer's error, if its update fails.
  absl::Status Push(const std::string& key, int rank, absl::Span<const tensor::NDArray> values);

  // Copies the stored value into `out` (same shape; any dtype, converted) once the rounds
  // `rank` pushed to are applied. DeadlineExceeded when `deadline` passes first; NotFound,
  // InvalidArgument as for Push; the error of the key's latest applied round if its update
  // failed (until a later round applies successfully).
  absl::Status Pull(const std::string& key, int rank, const tensor::NDArray& out,
                    absl::Time deadline = absl::InfiniteFuture());

  // Installs the optimizer mx.optimizer.create(name, **params) would build (see
  // Optimizer::Create), replacing any earlier one and its state; used from the next applied
  // round (or async push) on. InvalidArgument for an unknown optimizer or bad parameter.
  absl::Status SetOptimizer(absl::string_view name,
                            const std::map<std::string, std::string>& params);

  // The optimizer index of `key` (see the header comment); NotFound for an unknown key.
  absl::StatusOr<int> KeyIndex(const std::string& key) const;

  // The shape and dtype `key` was initialized with (what a Pull's `out` must have, up to
  // dtype); NotFound for an unknown key.
  struct KeyMeta {
    Shape shape;
    DType dtype = DType::kFloat32;
  };
  absl::StatusOr<KeyMeta> Meta(const std::string& key) const;

  // The stored array itself (on the CPU), sharing memory with the store: for an updater
  // that runs outside the store (MXNet's kv._set_updater), whose writes the engine orders
  // with the store's own work. NotFound for an unknown key.
  absl::StatusOr<tensor::NDArray> Value(const std::string& key) const;

  // The initialized keys in init order.
  std::vector<std::string> Keys() const;

  // Bytes of the stored values plus the buffers of rounds still accumulating.
  int64_t BytesInUse() const;

  const StoreOptions& options() const { return options_; }

 private:
  // The sum of the pushes received for one sync round of one key.
  struct Round {
    tensor::NDArray total;  // none until the first push of the round
    int pushes = 0;
  };
  struct Entry {
    tensor::NDArray stored;  // on the CPU
    int index = 0;           // optimizer index
    int64_t applied_rounds = 0;
    std::vector<int64_t> pushes_by_rank;  // sync: pushes received from each rank
    std::deque<Round> pending;            // sync: rounds applied_rounds, applied_rounds+1, ...
    absl::Status apply_status;            // of the latest applied round
  };

  // The entry of `key`, or NotFound.
  absl::StatusOr<Entry*> FindEntry(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `total` into entry->stored: the optimizer's update, or an overwrite.
  absl::Status Apply(Entry* entry, const tensor::NDArray& total)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoreOptions options_;
  mutable base::Mutex mu_;
  base::CondVar round_applied_{&mu_};  // signalled whenever a sync round is applied
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // nodes are stable
  std::vector<std::string> init_order_ ABSL_GUARDED_BY(mu_);
  int num_string_keys_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_in_use_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Optimizer> optimizer_ ABSL_GUARDED_BY(mu_);  // null: overwrite
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_STORE_H_
