// JobTable: the named jobs of one parameter-server shard (job.h), created by their first
// JoinJob or restored from a snapshot, and removed some time after they finished
// (RemoveFinished: every rank left, or the job aborted), so that a long-lived shard does not
// keep every job it ever served. Callers share a job's ownership: a call in progress keeps
// its job alive after a removal; a later JoinJob of the name starts a new job.
//
//   JobTable table({.num_workers = 2, .sync = true});
//   MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table.Join({.job = "mnist", .rank = 0}));
//   MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> same, table.Find("mnist"));
//
// Thread-safety: every method is thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_JOB_TABLE_H_
#define MXGRID_LIBS_KVSTORE_JOB_TABLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/job.h"
#include "libs/kvstore/snapshot.h"

namespace mxgrid::kvstore {

// The shard's defaults (its flags), used where a JoinJob leaves a field unset.
struct JobTableOptions {
  int num_workers = 1;  // >= 1
  bool sync = true;
  absl::Duration heartbeat_timeout = absl::Seconds(30);  // > 0 or InfiniteDuration
  int max_rounds_ahead = 4;                              // <= 0: unbounded
};

struct JoinRequest {
  std::string job;
  int rank = 0;
  int num_workers = 0;              // 0: the shard's
  std::optional<bool> sync;         // unset: the shard's
  absl::Duration heartbeat_timeout;  // zero: the shard's; negative: InvalidArgument
};

class JobTable {
 public:
  explicit JobTable(JobTableOptions options);
  JobTable(const JobTable&) = delete;
  JobTable& operator=(const JobTable&) = delete;
  ~JobTable();

  // Joins `request.rank`, creating the job at its first join. InvalidArgument an empty job,
  // num_workers < 0 or over 65536, a rank out of range, a negative heartbeat timeout;
  // FailedPrecondition num_workers or mode unlike the job's; Aborted.
  absl::StatusOr<std::shared_ptr<Job>> Join(const JoinRequest& request);
  // NotFound for a job this shard does not serve (InvalidArgument for an empty name).
  absl::StatusOr<std::shared_ptr<Job>> Find(absl::string_view name) const;
  std::vector<std::string> Names() const;

  // Summed over the jobs.
  int64_t BytesInUse() const;
  int64_t NumKeys() const;
  int NumJobs() const;
  // The sum of the jobs' generations plus their count: changes whenever a snapshot would.
  int64_t Generation() const;
  // Each job's restored round (jobs restored from a snapshot only).
  std::map<std::string, int64_t> RestoredRounds() const;

  // Captures every job (Job::Capture), without holding the table's lock while copying.
  absl::StatusOr<std::vector<JobSnapshot>> CaptureAll() const;
  // Adds the snapshot's jobs (before any JoinJob), adopting their value arrays (see
  // Job::Restore). InvalidArgument for a job already here or an inconsistent snapshot.
  absl::Status Restore(absl::Span<const JobSnapshot> jobs);
  // Declares silent ranks dead (Job::CheckLiveness) in every job; the jobs aborted now.
  std::vector<std::string> CheckLiveness(absl::Time now);
  // Removes the jobs finished (Job::FinishedSince) for at least `retention` at `now`; their
  // names. Later snapshots leave them out.
  std::vector<std::string> RemoveFinished(absl::Time now, absl::Duration retention);

  const JobTableOptions& options() const { return options_; }

 private:
  std::vector<std::shared_ptr<Job>> Jobs() const;

  const JobTableOptions options_;
  mutable base::Mutex mu_;
  std::map<std::string, std::shared_ptr<Job>, std::less<>> jobs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> restored_rounds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_JOB_TABLE_H_
