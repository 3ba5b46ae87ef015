#include "libs/kvstore/job_table.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"

namespace mxgrid::kvstore {
namespace {

constexpr int kMaxWorkers = 65536;

const char* ModeName(bool sync) { return sync ? "sync" : "async"; }

}  // namespace

JobTable::JobTable(JobTableOptions options) : options_(options) {
  MXGRID_CHECK(options_.num_workers >= 1) << "JobTableOptions::num_workers must be >= 1";
}

JobTable::~JobTable() = default;

absl::StatusOr<std::shared_ptr<Job>> JobTable::Join(const JoinRequest& request) {
  if (request.job.empty()) return absl::InvalidArgumentError("kvstore: JoinJob with an empty job");
  if (request.num_workers < 0 || request.num_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: num_workers ", request.num_workers,
                                                   " is outside [1, ", kMaxWorkers,
                                                   "] (0: the shard's --num_workers)"));
  }
  if (request.heartbeat_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: heartbeat timeout ", absl::FormatDuration(request.heartbeat_timeout),
        " is negative (0: the shard's --heartbeat_timeout)"));
  }
  JobOptions wanted;
  wanted.num_workers = request.num_workers == 0 ? options_.num_workers : request.num_workers;
  wanted.sync = request.sync.value_or(options_.sync);
  wanted.heartbeat_timeout = request.heartbeat_timeout == absl::ZeroDuration()
                                 ? options_.heartbeat_timeout
                                 : request.heartbeat_timeout;
  wanted.max_rounds_ahead = options_.max_rounds_ahead;
  // Under the table's lock: RemoveFinished cannot remove the job between the lookup and the
  // rank's join.
  base::MutexLock lock(&mu_);
  auto it = jobs_.find(request.job);
  if (it == jobs_.end()) {
    // A join that cannot succeed creates nothing (Job::Join checks joins of existing jobs).
    if (request.rank < 0 || request.rank >= wanted.num_workers) {
      return absl::InvalidArgumentError(absl::StrCat("kvstore: rank ", request.rank,
                                                     " is outside [0, ", wanted.num_workers,
                                                     ") of job ", Quoted(request.job)));
    }
    it = jobs_.emplace(request.job, std::make_shared<Job>(request.job, wanted)).first;
  }
  std::shared_ptr<Job> job = it->second;
  const JobOptions& have = job->options();
  if ((request.num_workers != 0 && request.num_workers != have.num_workers) ||
      (request.sync.has_value() && *request.sync != have.sync)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kvstore: job ", Quoted(request.job), " has ", have.num_workers, " workers in ",
        ModeName(have.sync), " mode; rank ", request.rank, " joined it with ",
        wanted.num_workers, " workers in ", ModeName(wanted.sync),
        " mode. Start every worker with the same settings"));
  }
  MXGRID_RETURN_IF_ERROR(job->Join(request.rank));
  return job;
}

absl::StatusOr<std::shared_ptr<Job>> JobTable::Find(absl::string_view name) const {
  if (name.empty()) return absl::InvalidArgumentError("kvstore: empty job name");
  base::MutexLock lock(&mu_);
  auto it = jobs_.find(name);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("kvstore: job ", Quoted(name),
                                            " is unknown on this shard; call JoinJob first"));
  }
  return it->second;
}

std::vector<std::shared_ptr<Job>> JobTable::Jobs() const {
  base::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Job>> out;
  for (const auto& [name, job] : jobs_) out.push_back(job);
  return out;
}

std::vector<std::string> JobTable::Names() const {
  base::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, job] : jobs_) out.push_back(name);
  return out;
}

int64_t JobTable::BytesInUse() const {
  int64_t bytes = 0;
  for (const std::shared_ptr<Job>& job : Jobs()) bytes += job->BytesInUse();
  return bytes;
}

int64_t JobTable::NumKeys() const {
  int64_t keys = 0;
  for (const std::shared_ptr<Job>& job : Jobs()) keys += static_cast<int64_t>(job->Info().keys.size());
  return keys;
}

int64_t JobTable::Generation() const {
  int64_t generation = 0;
  for (const std::shared_ptr<Job>& job : Jobs()) generation += job->Generation() + 1;
  return generation;
}

int JobTable::NumJobs() const {
  base::MutexLock lock(&mu_);
  return static_cast<int>(jobs_.size());
}

std::map<std::string, int64_t> JobTable::RestoredRounds() const {
  base::MutexLock lock(&mu_);
  return restored_rounds_;
}

absl::StatusOr<std::vector<JobSnapshot>> JobTable::CaptureAll() const {
  std::vector<JobSnapshot> out;
  for (const std::shared_ptr<Job>& job : Jobs()) {
    MXGRID_ASSIGN_OR_RETURN(JobSnapshot snap, job->Capture());
    out.push_back(std::move(snap));
  }
  return out;
}

absl::Status JobTable::Restore(absl::Span<const JobSnapshot> jobs) {
  for (const JobSnapshot& snap : jobs) {
    if (snap.name.empty() || snap.num_workers < 1 || snap.num_workers > kMaxWorkers ||
        snap.heartbeat_timeout_ms < 0) {
      return absl::InvalidArgumentError(absl::StrCat("kvstore: snapshot has a bad job ",
                                                     Quoted(snap.name)));
    }
    JobOptions options;
    options.num_workers = snap.num_workers;
    options.sync = snap.sync;
    options.heartbeat_timeout = snap.heartbeat_timeout_ms == 0
                                    ? options_.heartbeat_timeout
                                    : absl::Milliseconds(snap.heartbeat_timeout_ms);
    options.max_rounds_ahead = options_.max_rounds_ahead;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, Job::Restore(snap, options));
    base::MutexLock lock(&mu_);
    if (jobs_.count(snap.name) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("kvstore: job ", Quoted(snap.name),
                                                     " is already on this shard"));
    }
    jobs_.emplace(snap.name, std::move(job));
    restored_rounds_[snap.name] = snap.Round();
  }
  return absl::OkStatus();
}

std::vector<std::string> JobTable::CheckLiveness(absl::Time now) {
  std::vector<std::string> aborted;
  for (const std::shared_ptr<Job>& job : Jobs()) {
    if (job->CheckLiveness(now)) aborted.push_back(job->name());
  }
  return aborted;
}

std::vector<std::string> JobTable::RemoveFinished(absl::Time now, absl::Duration retention) {
  std::vector<std::string> removed;
  std::vector<std::shared_ptr<Job>> gone;  // freed after the lock is released
  base::MutexLock lock(&mu_);
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const std::optional<absl::Time> since = it->second->FinishedSince();
    if (!since.has_value() || now - *since < retention) {
      ++it;
      continue;
    }
    removed.push_back(it->first);
    restored_rounds_.erase(it->first);
    gone.push_back(std::move(it->second));
    it = jobs_.erase(it);
  }
  return removed;
}

}  // namespace mxgrid::kvstore
