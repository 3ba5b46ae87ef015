#include "libs/kvstore/client/internal/completion.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/check.h"

namespace mxgrid::kvstore::client::internal {
namespace {

struct FanInState {
  explicit FanInState(int n, Done done) : remaining(n), done(std::move(done)) {}
  base::Mutex mu;
  int remaining ABSL_GUARDED_BY(mu);
  absl::Status first_error ABSL_GUARDED_BY(mu);
  Done done;
};

}  // namespace

Done FanIn(int n, Done done) {
  MXGRID_CHECK(n >= 1) << "FanIn of " << n << " calls";
  auto state = std::make_shared<FanInState>(n, std::move(done));
  return [state](absl::Status s) {
    absl::Status result;
    {
      base::MutexLock lock(&state->mu);
      if (!s.ok() && state->first_error.ok()) state->first_error = std::move(s);
      if (--state->remaining > 0) return;
      result = state->first_error;
    }
    state->done(std::move(result));
  };
}

std::shared_ptr<Waiter> MakeWaiter(int n) {
  auto w = std::make_shared<Waiter>(n);
  w->self_ = w;
  return w;
}

Done Waiter::Callback() {
  std::shared_ptr<Waiter> self = self_.lock();
  MXGRID_CHECK(self != nullptr) << "a Waiter must come from MakeWaiter";
  return [self](absl::Status s) {
    base::MutexLock lock(&self->mu_);
    if (!s.ok() && self->first_error_.ok()) self->first_error_ = std::move(s);
    if (--self->remaining_ == 0) self->cv_.SignalAll();
  };
}

absl::Status Waiter::Wait(absl::Time deadline, const std::string& what) {
  base::MutexLock lock(&mu_);
  while (remaining_ > 0) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": no answer from the kvstore shards before the deadline"));
    }
    cv_.WaitFor(absl::ToChronoNanoseconds(std::min(left, absl::Seconds(1))));
  }
  return first_error_;
}

}  // namespace mxgrid::kvstore::client::internal
