// Job: one training job on a parameter-server shard (MXNet's KVStoreDistServer, generalized
// to named jobs with membership), free of gRPC. The semantics are those of
// proto/mxgrid/v1/kvstore.proto's header comment; mxgrid-kvstore's handlers call one method
// per RPC (JobTable, job_table.h, finds the job).
//
//   Job job("mnist", {.num_workers = 2, .sync = true});
//   MXGRID_RETURN_IF_ERROR(job.Join(0));
//   MXGRID_ASSIGN_OR_RETURN(bool restored, job.Init({"3", 0}, 0, /*index=*/3, weight));
//   MXGRID_RETURN_IF_ERROR(job.Push({"3", 0}, 0, {grad}, wait));  // returns at once
//   MXGRID_ASSIGN_OR_RETURN(NDArray w, job.Pull({"3", 0}, 0, std::nullopt, wait));  // waits
//
// Members. Rank r is kNotJoined until Join(r), then kJoined until Leave(r) makes it kLeft
// (Join again makes it kJoined, counting from the next round). Rounds and barriers wait for
// every rank that has not left, joined or not yet. Every call of a rank refreshes its
// last-seen time (a not-joined rank counts from the job's creation); a rank other than kLeft
// silent for longer than heartbeat_timeout is dead: the job is aborted and every waiting and
// later call ends with ABORTED naming it. A rank waiting inside a call is not silent.
//
// Keys are (text, part), opaque here. A key is an int key when its text is an int's
// canonical decimal text, else a string key; one job holds one kind (FailedPrecondition).
// Each key has its own optimizer state slot (parts of one key have different shapes).
//
// Sync rounds: a rank's n-th push of a key goes to the key's round n; round n is applied
// (optimizer update, or overwrite without an optimizer) once every rank that has not left
// has pushed to it. A push that would put its rank more than max_rounds_ahead rounds ahead of
// the slowest such rank waits, then fails with ResourceExhausted. Pull waits until the rounds
// its rank pushed to are applied.
//
// Waits end at WaitOptions::deadline (DeadlineExceeded; a bounded push ResourceExhausted),
// when WaitOptions::cancelled() says so (Cancelled; polled every 100 ms), or when the job is
// aborted (Aborted).
//
// Consistency: all engine work on a key's arrays is pushed under the job's lock, so the
// engine runs it in lock order; a pull's copy follows the update of every round it waited
// for.
//
// Thread-safety: every method is thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_JOB_H_
#define MXGRID_LIBS_KVSTORE_JOB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/optimizer.h"
#include "libs/kvstore/part_rows.h"
#include "libs/kvstore/snapshot.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore {

struct JobOptions {
  // Ranks 0..num_workers-1. >= 1.
  int num_workers = 1;
  // true: sync rounds; false: async (each push applied at once).
  bool sync = true;
  // A rank silent for longer is dead. InfiniteDuration: never.
  absl::Duration heartbeat_timeout = absl::Seconds(30);
  // Sync rounds a rank may run ahead of the slowest rank on a key; <= 0: unbounded.
  int max_rounds_ahead = 4;
};

// How a waiting call may end early.
struct WaitOptions {
  absl::Time deadline = absl::InfiniteFuture();
  // Polled while waiting; true ends the wait with Cancelled. May be empty.
  std::function<bool()> cancelled;
};

struct KeyId {
  std::string key;
  int part = 0;
  bool operator<(const KeyId& o) const { return key != o.key ? key < o.key : part < o.part; }
};

enum class MemberState { kNotJoined, kJoined, kLeft };

// What ListKeys reports.
struct JobInfo {
  JobOptions options;
  std::vector<std::string> keys;  // init order, each text once
  std::vector<int> active_ranks;  // joined, not left
  std::vector<int> left_ranks;
  int dead_rank = -1;
  int64_t round = 0;           // least applied rounds over the keys
  int64_t restored_round = 0;  // 0: not restored
  int restored_keys = 0;
  int64_t bytes_in_use = 0;
};

class Job {
 public:
  // REQUIRES: options.num_workers >= 1.
  Job(std::string name, JobOptions options);
  // A job holding `snapshot`'s keys, values and optimizer (members all kNotJoined; push
  // counters at each key's applied rounds). The values' arrays are adopted (shared, not
  // copied): the caller must not write them afterwards. InvalidArgument for an inconsistent
  // snapshot.
  static absl::StatusOr<std::unique_ptr<Job>> Restore(const JobSnapshot& snapshot,
                                                      JobOptions options);
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job();

  const std::string& name() const { return name_; }
  const JobOptions& options() const { return options_; }

  // ---- membership (job.cc) ----
  // InvalidArgument rank out of range; Aborted.
  absl::Status Join(int rank);
  // The number of active ranks. InvalidArgument; FailedPrecondition not joined; Aborted.
  absl::StatusOr<int> Heartbeat(int rank);
  // Idempotent; completes the rounds and barriers that now have every remaining rank.
  // InvalidArgument rank out of range.
  absl::Status Leave(int rank);
  // The n-th call of each rank forms barrier n. InvalidArgument; FailedPrecondition;
  // Aborted; DeadlineExceeded; Cancelled.
  absl::Status Barrier(int rank, const WaitOptions& wait);
  // Declares a rank dead if it has been silent at `now` for longer than the heartbeat
  // timeout, aborting the job (mxgrid-kvstore's reaper calls it every second; calls and waits
  // check too). True when this call aborted the job.
  bool CheckLiveness(absl::Time now);
  // The Aborted status of an aborted job; OK otherwise.
  absl::Status aborted() const;
  // When the job finished: its last rank left (every rank joined and left) or it aborted;
  // nullopt while it runs (a rank joined, or one not joined yet). A rejoin runs it again.
  std::optional<absl::Time> FinishedSince() const;

  // Marks `rank` as inside a call for its lifetime (a long chunk stream): a rank inside a call
  // is never silent. Does nothing for a rank out of range (the call itself fails on it).
  class BusyScope {
   public:
    BusyScope(Job* job, int rank);
    ~BusyScope();
    BusyScope(const BusyScope&) = delete;
    BusyScope& operator=(const BusyScope&) = delete;

   private:
    Job* const job_;
    const int rank_;
  };

  // ---- keys (job_keys.cc) ----
  // kv.init from `rank`; true when the key was restored from a snapshot (value kept).
  absl::StatusOr<bool> Init(const KeyId& id, int rank, int index, const tensor::NDArray& value);
  absl::Status Push(const KeyId& id, int rank, absl::Span<const tensor::NDArray> values,
                    const WaitOptions& wait);
  // A row_sparse push (kvstore.proto PushRequest.rows): `value`, a 1-D CPU array of the
  // key's dtype, holds the pieces of `rows` in the part (PartRows), and is this rank's
  // contribution to its next round, as Push. A round of row pushes only is applied to the
  // union of their rows: the optimizer's UpdatePieces (lazy where MXNet's is), or without
  // one the part becomes the sum, zero elsewhere; a round with dense pushes too adds the
  // rows densely. InvalidArgument for rows that do not describe the part or a value of
  // another size or dtype; otherwise Push's errors.
  absl::Status PushRows(const KeyId& id, int rank, const RowsSpec& rows, const tensor::NDArray& value,
                        const WaitOptions& wait);
  // kv.row_sparse_pull of the part: the pieces of `rows` (a new 1-D CPU array in `dtype`,
  // the key's own when unset), once the rounds the rank pushed to are applied, waited for.
  // Pull's errors, and InvalidArgument for rows that do not describe the part.
  absl::StatusOr<tensor::NDArray> PullRows(const KeyId& id, int rank, const RowsSpec& rows,
                                           std::optional<DType> dtype, const WaitOptions& wait);
  // A new CPU array of the key's shape in `dtype` (the key's own when unset). Same as
  // FinishPull(BeginPull(...), wait).
  absl::StatusOr<tensor::NDArray> Pull(const KeyId& id, int rank, std::optional<DType> dtype,
                                       const WaitOptions& wait);

  // A pull split in two, so that a batch of calls (the Batch RPC) can fix a pull's round and
  // go on with later items before waiting for it. BeginPull never waits: it checks the rank
  // and key and fixes the round the pull needs (the rounds `rank` pushed to the key so far);
  // FinishPull waits for that round (as Pull does) and copies the value. Pushes made by the
  // rank between the two calls do not move the target.
  struct PullTicket {
    KeyId id;
    int rank = 0;
    std::optional<DType> dtype;
    int64_t target_rounds = 0;  // sync: applied rounds needed; async: 0
  };
  // NotFound unknown key; InvalidArgument / FailedPrecondition rank; Aborted.
  absl::StatusOr<PullTicket> BeginPull(const KeyId& id, int rank, std::optional<DType> dtype);
  // Errors as Pull.
  absl::StatusOr<tensor::NDArray> FinishPull(const PullTicket& ticket, const WaitOptions& wait);

  // Makes the array a pull copies into, from the key's shape and own dtype (e.g. one over
  // caller memory, in another dtype). Called under the job's lock: must not call the job.
  using PullDestination =
      std::function<absl::StatusOr<tensor::NDArray>(const Shape& shape, DType own)>;
  // Pull into the array `destination` makes (a CPU array of the key's shape; values
  // converted to its dtype), waited for; returns it. Errors as Pull, and the destination's.
  absl::StatusOr<tensor::NDArray> PullInto(const KeyId& id, int rank, const WaitOptions& wait,
                                           const PullDestination& destination);
  // FinishPull that returns once the value's copy is queued on the engine: the caller waits
  // (WaitToRead) before reading it, so that a batch's many pulls wait for their copies once.
  // Into the array `destination` makes when given (see PullInto), else a new CPU array of
  // the ticket's dtype.
  absl::StatusOr<tensor::NDArray> FinishPullQueued(
      const PullTicket& ticket, const WaitOptions& wait,
      const PullDestination* destination = nullptr);
  // Installs the optimizer and the keys' multipliers. The same name and params keep the
  // optimizer and its state (only the multipliers change). InvalidArgument for a bad
  // optimizer, parameter or multiplier.
  absl::Status SetOptimizer(int rank, absl::string_view name,
                            const std::map<std::string, std::string>& params,
                            const KeyMultipliers& mults = {});
  struct KeyOptimizerState {
    KeyId id;
    int index = 0;  // the key's optimizer index from Init
    OptimizerIndexState state;
  };
  // FailedPrecondition no optimizer set.
  absl::StatusOr<std::vector<KeyOptimizerState>> GetOptimizerStates() const;
  // NotFound unknown key; FailedPrecondition no optimizer; InvalidArgument unlike the
  // optimizer's state for the key's weight.
  absl::Status SetOptimizerState(const KeyOptimizerState& state);

  JobInfo Info() const;
  int64_t BytesInUse() const;
  // Least applied rounds over the keys (0 without keys).
  int64_t Round() const;
  // Counts changes a snapshot would see (inits, applied updates, optimizer changes): equal
  // generations, equal snapshots.
  int64_t Generation() const;
  // A consistent copy of the keys, values and optimizer state (values copied through the
  // engine under the lock, waited for outside it).
  absl::StatusOr<JobSnapshot> Capture() const;

 private:
  struct Member {
    MemberState state = MemberState::kNotJoined;
    absl::Time last_seen;
    int64_t barriers = 0;  // Barrier calls made
    int busy = 0;          // BusyScopes open
  };
  // The sum of the pushes received for one sync round of one key.
  struct PendingRound {
    tensor::NDArray total;  // none until the first dense push of the round
    // Row pushes (PushRows): each rank's rows and their pieces' values.
    std::vector<std::pair<PartRows, tensor::NDArray>> rows;
    int pushes = 0;
  };
  struct Entry {
    tensor::NDArray stored;  // on the CPU
    int index = 0;           // the client's optimizer index
    int slot = 0;            // this job's optimizer state slot
    int64_t applied_rounds = 0;
    std::vector<int64_t> pushes_by_rank;  // sync: pushes received from each rank
    std::deque<PendingRound> pending;            // sync: rounds applied_rounds, +1, ...
    tensor::NDArray spare;  // sync: an applied round's accumulator, reused by the next round
    absl::Status apply_status;            // of the latest applied round
    bool restored = false;                // from a snapshot, not yet re-initialized by rank 0
  };

  // Validates `rank`, refreshes its last-seen time, and fails for an aborted job or (when
  // `need_joined`) a rank that is not kJoined.
  absl::Status Enter(int rank, bool need_joined) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Aborts with the first dead rank at `now`; the Aborted status if aborted.
  absl::Status CheckAliveLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits until `done()` (evaluated under mu_) or the wait ends; refreshes `rank`'s
  // last-seen time while waiting. `what` describes the wait for DeadlineExceeded.
  absl::Status WaitLocked(int rank, const WaitOptions& wait, const std::function<bool()>& done,
                          const std::function<std::string()>& what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Counts(int rank) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return members_[rank].state != MemberState::kLeft;
  }
  int ActiveCount() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Barriers completed: the least calls over the ranks that have not left.
  int64_t BarriersDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<Entry*> FindEntry(const KeyId& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Least pushes over the ranks that have not left (entry's slowest rank).
  int64_t SlowestPushes(const Entry& entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the complete rounds at the front of entry->pending; the first error.
  absl::Status ApplyCompleteRounds(Entry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Apply(Entry* entry, const tensor::NDArray& total)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The entry of a pull's ticket once the rounds it needs are applied (its status: the
  // latest update's error).
  absl::StatusOr<Entry*> AwaitTicket(const PullTicket& ticket, const WaitOptions& wait)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a complete round (dense, rows, or both; job_rows.cc); releases its bytes.
  absl::Status ApplyRound(Entry* entry, PendingRound round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The round slot of `rank`'s next push of `entry` (waiting while the rank is
  // max_rounds_ahead rounds ahead; see Push).
  absl::StatusOr<PendingRound*> NextRound(const KeyId& id, Entry* entry, int rank,
                                          const WaitOptions& wait)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddKey(const KeyId& id, int index, tensor::NDArray stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const JobOptions options_;
  mutable base::Mutex mu_;
  base::CondVar changed_{&mu_};  // rounds applied, barriers, leaves, joins, abort
  std::vector<Member> members_ ABSL_GUARDED_BY(mu_);
  absl::Status aborted_ ABSL_GUARDED_BY(mu_);
  int dead_rank_ ABSL_GUARDED_BY(mu_) = -1;
  std::optional<absl::Time> finished_since_ ABSL_GUARDED_BY(mu_);
  std::map<KeyId, Entry> entries_ ABSL_GUARDED_BY(mu_);  // nodes are stable
  std::vector<KeyId> init_order_ ABSL_GUARDED_BY(mu_);
  int key_kind_ ABSL_GUARDED_BY(mu_) = 0;  // 0 none yet, 1 int keys, 2 string keys
  int64_t bytes_in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Optimizer> optimizer_ ABSL_GUARDED_BY(mu_);  // null: overwrite
  KeyMultipliers mults_ ABSL_GUARDED_BY(mu_);  // applied to every slot of optimizer_
  // False for a restored job until its first Join: ranks are not silent before any rejoined.
  bool liveness_started_ ABSL_GUARDED_BY(mu_) = true;
  int64_t restored_round_ ABSL_GUARDED_BY(mu_) = 0;
  int restored_keys_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_JOB_H_
