#include "libs/kvstore/client/internal/timer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/clock.h"

namespace mxgrid::kvstore::client::internal {

Timer::Timer() { thread_ = std::thread([this] { Loop(); }); }

Timer::~Timer() {
  std::multimap<absl::Time, std::function<void()>> left;
  {
    base::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  thread_.join();
  {
    base::MutexLock lock(&mu_);
    left.swap(due_);
  }
  for (auto& [when, fn] : left) fn();
}

void Timer::RunAfter(absl::Duration delay, std::function<void()> fn) {
  {
    base::MutexLock lock(&mu_);
    if (!stop_) {
      due_.emplace(absl::Now() + delay, std::move(fn));
      cv_.SignalAll();
      return;
    }
  }
  fn();
}

void Timer::Loop() {
  mu_.Lock();
  while (!stop_) {
    const absl::Time now = absl::Now();
    if (!due_.empty() && due_.begin()->first <= now) {
      std::function<void()> fn = std::move(due_.begin()->second);
      due_.erase(due_.begin());
      mu_.Unlock();
      fn();
      mu_.Lock();
      continue;
    }
    const absl::Duration wait =
        due_.empty() ? absl::Seconds(1) : std::min(absl::Seconds(1), due_.begin()->first - now);
    cv_.WaitFor(absl::ToChronoNanoseconds(wait));
  }
  mu_.Unlock();
}

}  // namespace mxgrid::kvstore::client::internal
