// mxgrid-kvstore: one parameter-server shard (mxgrid.v1.KVStore) — MXNet's dist KVStore
// server for named jobs: membership with heartbeats, barriers, init/push/pull of int and
// string keys (split into parts), sync rounds over the active ranks or async updates, a
// server-side optimizer, and snapshots in --state_dir restored at start.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/base/mutex.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/job_table.h"
#include "libs/kvstore/snapshot_dir.h"
#include "services/common/flags.h"
#include "services/common/gauges.h"
#include "services/kvstore/kvstore_service.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(int, num_workers, 1,
          "workers (ranks 0..num_workers-1) of a job whose JoinJob leaves num_workers 0; a "
          "sync round completes when every rank that has not left pushed the key; >= 1");
ABSL_FLAG(std::string, mode, "sync",
          "mode of a job whose JoinJob leaves mode unspecified: sync (dist_sync: rounds over "
          "the active ranks) or async (dist_async: each push applied at once)");
ABSL_FLAG(absl::Duration, heartbeat_timeout, absl::Seconds(30),
          "a rank that sends nothing (no call, no heartbeat) for this long is dead and its "
          "job is aborted (every waiting and later call of the job ends with ABORTED); a "
          "JoinJob may set it per job; > 0, or inf for never");
ABSL_FLAG(int, max_rounds_ahead, 4,
          "sync rounds a rank may push ahead of the slowest rank on a key; a push beyond "
          "waits until its deadline, then fails with RESOURCE_EXHAUSTED; 0: unbounded");
ABSL_FLAG(std::string, state_dir, "",
          "directory for snapshots of every job (snapshot-<seq>.mxkv, the newest two kept); "
          "the newest good one is restored at start and a last one written at SIGTERM; "
          "empty: no snapshots");
ABSL_FLAG(int64_t, snapshot_rounds, 100,
          "with --state_dir, snapshot when a job has applied this many more sync rounds (a "
          "job's round is the least over its keys); 0: off");
ABSL_FLAG(absl::Duration, snapshot_interval, absl::Seconds(60),
          "with --state_dir, snapshot at least this often while the shard has jobs; 0: off");
ABSL_FLAG(absl::Duration, finished_job_retention, absl::Minutes(10),
          "a job whose every rank left (or that aborted) is removed this long after, its "
          "keys and optimizer state freed and left out of later snapshots; inf: never");

namespace {

using mxgrid::services::SampledGauges;

// Once a second: declares silent ranks dead, so that an abort is logged (and listed by
// ListKeys) even while no call of the job waits (calls and waits check too); and removes
// the jobs finished for longer than `retention`.
class Reaper {
 public:
  // `removed` is called with each removed job's name.
  Reaper(mxgrid::kvstore::JobTable* table, absl::Duration retention,
         std::function<void(const std::string&)> removed)
      : table_(table),
        retention_(retention),
        removed_(std::move(removed)),
        thread_([this] { Run(); }) {}
  ~Reaper() {
    {
      mxgrid::base::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    thread_.join();
  }

 private:
  void Run() {
    mxgrid::base::MutexLock lock(&mu_);
    while (!stop_) {
      cv_.WaitFor(absl::ToChronoNanoseconds(absl::Seconds(1)));
      for (const std::string& job : table_->CheckLiveness(absl::Now())) {
        absl::StatusOr<std::shared_ptr<mxgrid::kvstore::Job>> j = table_->Find(job);
        if (j.ok()) spdlog::warn("{}", std::string((*j)->aborted().message()));
      }
      if (retention_ == absl::InfiniteDuration()) continue;
      for (const std::string& job : table_->RemoveFinished(absl::Now(), retention_)) {
        spdlog::info("job '{}' removed: finished more than {} ago (--finished_job_retention)",
                     job, absl::FormatDuration(retention_));
        removed_(job);
      }
    }
  }

  mxgrid::kvstore::JobTable* const table_;
  const absl::Duration retention_;
  const std::function<void(const std::string&)> removed_;
  mxgrid::base::Mutex mu_;
  mxgrid::base::CondVar cv_{&mu_};
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  mxgrid::services::ServerOptions options = mxgrid::services::ParseServerFlags(
      argc, argv, "mxgrid-kvstore",
      "Serves one MXNet KVStore parameter-server shard (named jobs) over gRPC.");
  mxgrid::kvstore::JobTableOptions defaults;
  defaults.num_workers = absl::GetFlag(FLAGS_num_workers);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  defaults.sync = mode == "sync";
  defaults.heartbeat_timeout = absl::GetFlag(FLAGS_heartbeat_timeout);
  defaults.max_rounds_ahead = absl::GetFlag(FLAGS_max_rounds_ahead);
  const std::string state_dir = absl::GetFlag(FLAGS_state_dir);
  if (defaults.num_workers < 1 || defaults.num_workers > 65536) {
    std::fprintf(stderr, "mxgrid-kvstore: --num_workers must be in [1, 65536], got %d\n",
                 defaults.num_workers);
    return 2;
  }
  if (mode != "sync" && mode != "async") {
    std::fprintf(stderr, "mxgrid-kvstore: --mode must be sync or async, got '%s'\n",
                 mode.c_str());
    return 2;
  }
  if (defaults.heartbeat_timeout <= absl::ZeroDuration()) {
    std::fprintf(stderr, "mxgrid-kvstore: --heartbeat_timeout must be > 0 (or inf)\n");
    return 2;
  }
  if (defaults.max_rounds_ahead < 0) {
    std::fprintf(stderr, "mxgrid-kvstore: --max_rounds_ahead must be >= 0\n");
    return 2;
  }
  const absl::Duration retention = absl::GetFlag(FLAGS_finished_job_retention);
  if (retention < absl::ZeroDuration()) {
    std::fprintf(stderr, "mxgrid-kvstore: --finished_job_retention must be >= 0 (or inf)\n");
    return 2;
  }

  mxgrid::kvstore::JobTable table(defaults);
  std::unique_ptr<mxgrid::kvstore::Snapshotter> snapshotter;
  if (!state_dir.empty()) {
    mxgrid::kvstore::LoadedSnapshot loaded = mxgrid::kvstore::LoadNewestSnapshot(state_dir);
    for (const std::string& reason : loaded.skipped) {
      spdlog::warn("skipping snapshot {}", reason);
    }
    if (!loaded.path.empty()) {
      if (absl::Status s = table.Restore(loaded.jobs); !s.ok()) {
        spdlog::critical("cannot restore {}: {}", loaded.path, s.ToString());
        return 1;
      }
      for (const mxgrid::kvstore::JobSnapshot& job : loaded.jobs) {
        spdlog::info("restored job '{}' at round {} ({} keys) from {}", job.name, job.Round(),
                     job.keys.size(), loaded.path);
      }
    }
    snapshotter = std::make_unique<mxgrid::kvstore::Snapshotter>(
        &table, mxgrid::kvstore::SnapshotterOptions{
                    .dir = state_dir,
                    .every_rounds = absl::GetFlag(FLAGS_snapshot_rounds),
                    .interval = absl::GetFlag(FLAGS_snapshot_interval)});
  }
  auto service = std::make_unique<mxgrid::services::KVStoreService>(&table, snapshotter.get());
  auto reaper = std::make_unique<Reaper>(
      &table, retention, [&service](const std::string& job) { service->DropJobRegions(job); });
  const int code =
      mxgrid::services::RunServer(options, {service.get()}, [&](mxgrid::services::Server* server) {
        auto gauges = std::make_shared<SampledGauges>();
        gauges->Add("mxgrid_kvstore_jobs", "Jobs served by this shard.", [&table] {
          return SampledGauges::Sample{{{}, static_cast<double>(table.NumJobs())}};
        });
        gauges->Add("mxgrid_kvstore_keys", "Keys initialized on this shard (all jobs).",
                    [&table] {
                      return SampledGauges::Sample{{{}, static_cast<double>(table.NumKeys())}};
                    });
        gauges->Add("mxgrid_kvstore_bytes_in_use",
                    "Bytes of stored values plus sync rounds still accumulating (all jobs).",
                    [&table] {
                      return SampledGauges::Sample{
                          {{}, static_cast<double>(table.BytesInUse())}};
                    });
        gauges->Add("mxgrid_kvstore_restored_round",
                    "The sync round each job was restored at from a snapshot.", [&table] {
                      SampledGauges::Sample sample;
                      for (const auto& [job, round] : table.RestoredRounds()) {
                        sample.push_back({{{"job", job}}, static_cast<double>(round)});
                      }
                      return sample;
                    });
        server->AddCollectable(gauges);
      });
  reaper.reset();  // first: it calls into the service
  service.reset();
  if (snapshotter != nullptr && code == 0) {
    // The server has stopped: nothing changes any more. A last snapshot for the restart.
    absl::StatusOr<mxgrid::kvstore::SnapshotFile> file = snapshotter->SnapshotNow();
    if (file.ok()) {
      spdlog::info("wrote snapshot {} ({} bytes, {} jobs) at shutdown", file->path, file->bytes,
                   file->jobs);
    } else {
      spdlog::error("snapshot at shutdown failed: {}", file.status().ToString());
    }
  }
  snapshotter.reset();
  mxgrid::engine::DrainProcessEngine();
  return code;
}
