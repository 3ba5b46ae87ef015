#include "libs/kvstore/client/internal/shard_set.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/check.h"

namespace mxgrid::kvstore::client::internal {

ShardSet::ShardSet(std::vector<std::unique_ptr<ShardConnection>> connections,
                   Membership membership, RetryPolicy policy)
    : connections_(std::move(connections)),
      membership_(std::move(membership)),
      policy_(policy),
      timer_(std::make_unique<Timer>()) {
  MXGRID_CHECK(!connections_.empty()) << "a dist kvstore needs at least one shard";
  for (const auto& c : connections_) MXGRID_CHECK(c != nullptr) << "null shard connection";
}

std::string ShardSet::Name(int shard) const {
  return absl::StrCat("kvstore shard ", shard, " (", connections_[shard]->address(), ")");
}

absl::Status ShardSet::Named(int shard, const absl::Status& s) const {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(Name(shard), ": ", s.message()));
}

bool ShardSet::closed() const {
  base::MutexLock lock(&mu_);
  return closed_;
}

void ShardSet::Close() {
  std::unique_ptr<Timer> timer;
  {
    base::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    timer = std::move(timer_);
  }
  for (const auto& c : connections_) c->CancelAll();
  timer.reset();  // runs the waiting retries, which now fail at once
}

void ShardSet::After(absl::Duration delay, std::function<void()> fn) {
  {
    base::MutexLock lock(&mu_);
    if (timer_ != nullptr) {
      timer_->RunAfter(delay, std::move(fn));
      return;
    }
  }
  fn();
}

void ShardSet::Call(int shard, absl::Time deadline, ShardOp op, Done done) {
  const absl::Time now = absl::Now();
  Attempt(shard, deadline, now + policy_.retry_timeout, policy_.initial_backoff,
          /*rejoin=*/false, std::move(op), std::move(done));
}

void ShardSet::Attempt(int shard, absl::Time deadline, absl::Time retry_until,
                       absl::Duration backoff, bool rejoin, ShardOp op, Done done) {
  if (closed()) {
    done(Named(shard, absl::CancelledError("the kvstore was closed")));
    return;
  }
  if (rejoin) {
    // The shard may have restarted (from a snapshot, without this rank): join first.
    const absl::Time join_deadline = std::min(absl::Now() + policy_.join_timeout, retry_until);
    connections_[shard]->JoinJob(
        membership_, join_deadline,
        [this, self = shared_from_this(), shard, deadline, retry_until, backoff, op = std::move(op),
         done = std::move(done)](absl::StatusOr<JobInfo> info) mutable {
          if (info.ok()) {
            Attempt(shard, deadline, retry_until, backoff, /*rejoin=*/false, std::move(op),
                    std::move(done));
            return;
          }
          if (info.status().code() == absl::StatusCode::kUnavailable ||
              info.status().code() == absl::StatusCode::kDeadlineExceeded) {
            if (absl::Now() + backoff < retry_until) {
              After(backoff, [this, self = shared_from_this(), shard, deadline, retry_until, backoff, op = std::move(op),
                              done = std::move(done)]() mutable {
                Attempt(shard, deadline, retry_until, std::min(backoff * 2, policy_.max_backoff),
                        /*rejoin=*/true, std::move(op), std::move(done));
              });
              return;
            }
            done(Named(shard, absl::UnavailableError(absl::StrCat(
                                  "unreachable for ", absl::FormatDuration(policy_.retry_timeout),
                                  " (retried): ", info.status().message()))));
            return;
          }
          done(Named(shard, info.status()));
        });
    return;
  }
  // Each attempt gets the call's deadline, but no attempt outlives it.
  auto shared_op = std::make_shared<ShardOp>(std::move(op));
  (*shared_op)(*connections_[shard], deadline,
               [this, self = shared_from_this(), shard, deadline, retry_until, backoff, shared_op,
                done = std::move(done)](absl::Status s) mutable {
                 if (s.code() != absl::StatusCode::kUnavailable) {
                   done(Named(shard, s));
                   return;
                 }
                 if (absl::Now() + backoff >= std::min(retry_until, deadline)) {
                   done(Named(shard, absl::UnavailableError(absl::StrCat(
                                         "unreachable (retried for up to ",
                                         absl::FormatDuration(policy_.retry_timeout),
                                         "): ", s.message()))));
                   return;
                 }
                 After(backoff, [this, self = shared_from_this(), shard, deadline, retry_until, backoff, shared_op,
                                 done = std::move(done)]() mutable {
                   Attempt(shard, deadline, retry_until,
                           std::min(backoff * 2, policy_.max_backoff), /*rejoin=*/true,
                           *shared_op, std::move(done));
                 });
               });
}

void ShardSet::Join(int shard, absl::Time deadline,
                    std::function<void(absl::StatusOr<JobInfo>)> done) {
  JoinAttempt(shard, deadline, std::min(deadline, absl::Now() + policy_.retry_timeout),
              policy_.initial_backoff, std::move(done));
}

void ShardSet::JoinAttempt(int shard, absl::Time deadline, absl::Time retry_until,
                           absl::Duration backoff,
                           std::function<void(absl::StatusOr<JobInfo>)> done) {
  if (closed()) {
    done(Named(shard, absl::CancelledError("the kvstore was closed")));
    return;
  }
  connections_[shard]->JoinJob(
      membership_, deadline,
      [this, self = shared_from_this(), shard, deadline, retry_until, backoff,
       done = std::move(done)](absl::StatusOr<JobInfo> info) mutable {
        if (info.ok()) {
          done(std::move(info));
          return;
        }
        if (info.status().code() == absl::StatusCode::kUnavailable &&
            absl::Now() + backoff < retry_until) {
          After(backoff, [this, self = shared_from_this(), shard, deadline, retry_until, backoff,
                          done = std::move(done)]() mutable {
            JoinAttempt(shard, deadline, retry_until, std::min(backoff * 2, policy_.max_backoff),
                        std::move(done));
          });
          return;
        }
        done(Named(shard, info.status()));
      });
}

}  // namespace mxgrid::kvstore::client::internal
