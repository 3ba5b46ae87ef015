#include "libs/base/rate_limiter.h"

#include "gtest/gtest.h"

namespace mxgrid::base {
namespace {

TEST(RateLimiterTest, BurstThenSteadyRate) {
  RateLimiter limiter(/*per_second=*/10, /*burst=*/3);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(limiter.TryTake(t0));
  EXPECT_TRUE(limiter.TryTake(t0));
  EXPECT_TRUE(limiter.TryTake(t0));
  EXPECT_FALSE(limiter.TryTake(t0));  // the burst is spent
  EXPECT_FALSE(limiter.TryTake(t0 + absl::Milliseconds(50)));  // half a token
  EXPECT_TRUE(limiter.TryTake(t0 + absl::Milliseconds(100)));
  EXPECT_FALSE(limiter.TryTake(t0 + absl::Milliseconds(100)));
  // A long pause refills only up to the burst.
  const absl::Time later = t0 + absl::Seconds(60);
  int taken = 0;
  while (limiter.TryTake(later)) ++taken;
  EXPECT_EQ(taken, 3);
}

TEST(RateLimiterTest, EarlierTimesAddNothing) {
  RateLimiter limiter(/*per_second=*/1, /*burst=*/1);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(limiter.TryTake(t0));
  EXPECT_FALSE(limiter.TryTake(t0 - absl::Seconds(5)));
  EXPECT_TRUE(limiter.TryTake(t0 + absl::Seconds(1)));
}

}  // namespace
}  // namespace mxgrid::base
