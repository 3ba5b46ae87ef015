// RateLimiter: a token bucket. Up to `per_second` calls a second on average, with bursts of
// up to `burst` calls (a client that was idle may make `burst` calls at once).
//
//   RateLimiter limiter(/*per_second=*/1000, /*burst=*/1000);
//   if (!limiter.TryTake(absl::Now())) return absl::ResourceExhaustedError("...");
//
// Thread-safety: thread-safe.
#ifndef MXGRID_LIBS_BASE_RATE_LIMITER_H_
#define MXGRID_LIBS_BASE_RATE_LIMITER_H_

#include <algorithm>

#include "absl/time/time.h"
#include "libs/base/mutex.h"

namespace mxgrid::base {

class RateLimiter {
 public:
  // REQUIRES: per_second > 0, burst >= 1.
  RateLimiter(double per_second, double burst)
      : per_second_(per_second), burst_(burst), tokens_(burst) {}

  // Takes one call's token if there is one at `now` (times may come slightly out of order
  // from concurrent callers; an earlier `now` adds nothing).
  bool TryTake(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (now > last_) {
      if (last_ != absl::InfinitePast()) {
        tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * per_second_);
      }
      last_ = now;
    }
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

  double per_second() const { return per_second_; }

 private:
  const double per_second_;
  const double burst_;
  Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace mxgrid::base

#endif  // MXGRID_LIBS_BASE_RATE_LIMITER_H_
