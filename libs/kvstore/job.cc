// Job: membership, liveness, barriers and the waits every blocking call shares.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/check.h"
#include "libs/base/quote.h"
#include "libs/kvstore/job.h"

namespace mxgrid::kvstore {
namespace {

// How often a wait wakes to poll cancellation and the other ranks' liveness.
constexpr absl::Duration kPoll = absl::Milliseconds(100);

}  // namespace

Job::Job(std::string name, JobOptions options)
    : name_(std::move(name)), options_(options) {
  MXGRID_CHECK(options_.num_workers >= 1) << "JobOptions::num_workers must be >= 1";
  members_.resize(options_.num_workers);
  const absl::Time now = absl::Now();
  for (Member& m : members_) m.last_seen = now;
}

Job::~Job() = default;

absl::Status Job::CheckAliveLocked(absl::Time now) {
  if (!aborted_.ok()) return aborted_;
  if (options_.heartbeat_timeout == absl::InfiniteDuration() || !liveness_started_) {
    return absl::OkStatus();
  }
  for (int r = 0; r < static_cast<int>(members_.size()); ++r) {
    const Member& m = members_[r];
    if (m.state == MemberState::kLeft || m.busy > 0) continue;
    const absl::Duration silent = now - m.last_seen;
    if (silent <= options_.heartbeat_timeout) continue;
    dead_rank_ = r;
    finished_since_ = now;
    aborted_ = absl::AbortedError(absl::StrCat(
        "kvstore: job ", Quoted(name_), " was aborted: rank ", r,
        m.state == MemberState::kNotJoined ? " never joined and" : "", " sent nothing for ",
        absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
        " (heartbeat timeout ", absl::FormatDuration(options_.heartbeat_timeout),
        "); restart the job's workers"));
    changed_.SignalAll();
    return aborted_;
  }
  return absl::OkStatus();
}

absl::Status Job::Enter(int rank, bool need_joined) {
  if (rank < 0 || rank >= options_.num_workers) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: rank ", rank, " is outside [0, ",
                                                   options_.num_workers, ") of job ",
                                                   Quoted(name_)));
  }
  const absl::Time now = absl::Now();
  // The caller is alive whatever its state: refresh it before judging the others.
  if (members_[rank].state != MemberState::kLeft) members_[rank].last_seen = now;
  if (absl::Status s = CheckAliveLocked(now); !s.ok()) return s;
  if (need_joined && members_[rank].state != MemberState::kJoined) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kvstore: rank ", rank, members_[rank].state == MemberState::kLeft ? " has left"
                                                                           : " has not joined",
        " job ", Quoted(name_), "; call JoinJob first"));
  }
  return absl::OkStatus();
}

absl::Status Job::WaitLocked(int rank, const WaitOptions& wait,
                             const std::function<bool()>& done,
                             const std::function<std::string()>& what) {
  // Cancellation is checked once per kPoll of waiting: every push of the job wakes the waiters,
  // and a sync server's IsCancelled() polls the call's completion queue (a lock and a
  // syscall) — thousands of keys per round made that the shard's busiest work.
  absl::Time next_cancel_check = absl::Now() + kPoll;
  while (true) {
    const absl::Time now = absl::Now();
    members_[rank].last_seen = now;  // waiting inside a call is not silence
    if (absl::Status s = CheckAliveLocked(now); !s.ok()) return s;
    if (done()) return absl::OkStatus();
    if (wait.cancelled && now >= next_cancel_check) {
      if (wait.cancelled()) {
        return absl::CancelledError(absl::StrCat("kvstore: the client cancelled ", what()));
      }
      next_cancel_check = now + kPoll;
    }
    if (now >= wait.deadline) {
      return absl::DeadlineExceededError(absl::StrCat("kvstore: deadline exceeded: ", what()));
    }
    changed_.WaitFor(absl::ToChronoNanoseconds(std::min(wait.deadline - now, kPoll)));
  }
}

int Job::ActiveCount() const {
  int n = 0;
  for (const Member& m : members_) n += m.state == MemberState::kJoined;
  return n;
}

int64_t Job::BarriersDone() const {
  int64_t done = -1;
  for (const Member& m : members_) {
    if (m.state == MemberState::kLeft) continue;
    done = done < 0 ? m.barriers : std::min(done, m.barriers);
  }
  return done;  // -1: every rank left
}

absl::Status Job::Join(int rank) {
  base::MutexLock lock(&mu_);
  if (!liveness_started_) {
    // The first join after a restore: the other ranks have a heartbeat timeout from now.
    liveness_started_ = true;
    for (Member& other : members_) other.last_seen = absl::Now();
  }
  if (absl::Status s = Enter(rank, /*need_joined=*/false); !s.ok()) return s;
  Member& m = members_[rank];
  if (m.state == MemberState::kLeft) {
    // Counts again from the next round of each key and the next barrier.
    m.last_seen = absl::Now();
    m.barriers = std::max<int64_t>(m.barriers, std::max<int64_t>(BarriersDone(), 0));
    for (auto& [id, entry] : entries_) {
      if (!entry.pushes_by_rank.empty()) {
        entry.pushes_by_rank[rank] = std::max(entry.pushes_by_rank[rank], entry.applied_rounds);
      }
    }
  }
  m.state = MemberState::kJoined;
  finished_since_.reset();
  changed_.SignalAll();
  return absl::OkStatus();
}

absl::StatusOr<int> Job::Heartbeat(int rank) {
  base::MutexLock lock(&mu_);
  if (absl::Status s = Enter(rank, /*need_joined=*/true); !s.ok()) return s;
  return ActiveCount();
}

absl::Status Job::Leave(int rank) {
  if (rank < 0 || rank >= options_.num_workers) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: rank ", rank, " is outside [0, ",
                                                   options_.num_workers, ") of job ",
                                                   Quoted(name_)));
  }
  base::MutexLock lock(&mu_);
  if (members_[rank].state == MemberState::kLeft) return absl::OkStatus();
  members_[rank].state = MemberState::kLeft;
  if (std::all_of(members_.begin(), members_.end(),
                  [](const Member& m) { return m.state == MemberState::kLeft; })) {
    finished_since_ = absl::Now();
  }
  if (aborted_.ok()) {
    // Rounds that waited only for this rank are complete now. An update's error belongs to
    // the pulls of the round (apply_status), not to this call.
    for (auto& [id, entry] : entries_) ApplyCompleteRounds(&entry).IgnoreError();
  }
  changed_.SignalAll();
  return absl::OkStatus();
}

std::optional<absl::Time> Job::FinishedSince() const {
  base::MutexLock lock(&mu_);
  return finished_since_;
}

absl::Status Job::Barrier(int rank, const WaitOptions& wait) {
  base::MutexLock lock(&mu_);
  if (absl::Status s = Enter(rank, /*need_joined=*/true); !s.ok()) return s;
  const int64_t n = members_[rank].barriers++;  // this call forms barrier n
  changed_.SignalAll();
  absl::Status s = WaitLocked(
      rank, wait,
      [&] {
        mu_.AssertHeld();  // WaitLocked calls it under mu_
        return BarriersDone() > n || BarriersDone() < 0;
      },
      [&] {
        mu_.AssertHeld();
        std::vector<int> missing;
        for (int r = 0; r < static_cast<int>(members_.size()); ++r) {
          if (Counts(r) && members_[r].barriers <= n) missing.push_back(r);
        }
        return absl::StrCat("barrier ", n, " of job ", Quoted(name_), " by rank ", rank,
                            " is still waiting for ", missing.size(), " rank(s), e.g. rank ",
                            missing.empty() ? -1 : missing[0]);
      });
  // A barrier call that did not complete does not count: a retry forms the same barrier.
  if (!s.ok() && members_[rank].barriers == n + 1 && BarriersDone() <= n) {
    members_[rank].barriers = n;
  }
  return s;
}

bool Job::CheckLiveness(absl::Time now) {
  base::MutexLock lock(&mu_);
  if (!aborted_.ok()) return false;
  return !CheckAliveLocked(now).ok();
}

Job::BusyScope::BusyScope(Job* job, int rank)
    : job_(job), rank_(rank >= 0 && rank < job->options_.num_workers ? rank : -1) {
  if (rank_ < 0) return;
  base::MutexLock lock(&job_->mu_);
  ++job_->members_[rank_].busy;
}

Job::BusyScope::~BusyScope() {
  if (rank_ < 0) return;
  base::MutexLock lock(&job_->mu_);
  Member& m = job_->members_[rank_];
  --m.busy;
  m.last_seen = std::max(m.last_seen, absl::Now());
}

absl::Status Job::aborted() const {
  base::MutexLock lock(&mu_);
  return aborted_;
}

}  // namespace mxgrid::kvstore
