// Snapshot files in a state directory: atomic writes (temp file, fsync, rename to
// snapshot-<seq>.mxkv, fsync of the directory; the newest two kept) and loading the newest
// good one. Snapshotter (below) decides when to write.
//
//   MXGRID_ASSIGN_OR_RETURN(SnapshotFile f, WriteSnapshotFile("/var/lib/mxkv", jobs));
//   MXGRID_ASSIGN_OR_RETURN(LoadedSnapshot s, LoadNewestSnapshot("/var/lib/mxkv"));
//
// Thread-safety: the functions are thread-safe for different directories; writers of one
// directory must be serialized (Snapshotter does). Snapshotter is thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_SNAPSHOT_DIR_H_
#define MXGRID_LIBS_KVSTORE_SNAPSHOT_DIR_H_

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/job_table.h"
#include "libs/kvstore/snapshot.h"

namespace mxgrid::kvstore {

struct SnapshotFile {
  std::string path;
  int64_t bytes = 0;
  int jobs = 0;
};

// Writes `jobs` as the next snapshot-<seq>.mxkv of `dir` (created if missing) and removes
// all but the newest two. Unavailable / Internal when a file operation fails (the earlier
// snapshots stay).
absl::StatusOr<SnapshotFile> WriteSnapshotFile(const std::string& dir,
                                               absl::Span<const JobSnapshot> jobs);

struct LoadedSnapshot {
  std::string path;  // empty: there was no good snapshot
  std::vector<JobSnapshot> jobs;
  // "<file>: <reason>" for each snapshot skipped as unreadable, corrupt or truncated.
  std::vector<std::string> skipped;
};

// The newest snapshot of `dir` that reads back whole, trying newest first. A missing or
// empty directory gives an empty path.
LoadedSnapshot LoadNewestSnapshot(const std::string& dir);

struct SnapshotterOptions {
  std::string dir;                                // REQUIRES: non-empty
  int64_t every_rounds = 100;                     // a job advanced this many rounds; <= 0 off
  // Since the last snapshot, when something changed since (an idle shard writes nothing).
  absl::Duration interval = absl::Seconds(60);  // <= 0: off
  absl::Duration poll = absl::Milliseconds(200);  // how often the policy is checked
};

// Writes snapshots of a JobTable by its policy (a background thread) and on demand.
class Snapshotter {
 public:
  // Starts the policy thread. `table` must outlive the Snapshotter.
  Snapshotter(JobTable* table, SnapshotterOptions options);
  // Stops the thread (no final snapshot: call SnapshotNow first for one).
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // Captures every job and writes a snapshot now.
  absl::StatusOr<SnapshotFile> SnapshotNow() ABSL_LOCKS_EXCLUDED(write_mu_);
  // The last policy-driven write's error (OK if none failed).
  absl::Status last_error() const;

 private:
  void Run();
  bool Due(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  JobTable* const table_;
  const SnapshotterOptions options_;
  base::Mutex write_mu_;  // serializes writers of the directory
  mutable base::Mutex mu_;
  base::CondVar stop_cv_{&mu_};
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_time_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> last_rounds_ ABSL_GUARDED_BY(mu_);
  int64_t last_generation_ ABSL_GUARDED_BY(mu_) = -1;  // of the table at the last snapshot
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_SNAPSHOT_DIR_H_
