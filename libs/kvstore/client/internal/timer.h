// Timer: runs callbacks after a delay on one owned thread (the dist client's retry backoff).
//
//   Timer timer;
//   timer.RunAfter(absl::Milliseconds(100), [] { ... });
//
// The destructor stops the thread and then runs every callback still waiting, at once, on
// the destroying thread, so that each callback runs exactly once (a callback that retries a
// call sees that its client closed and fails it).
//
// Thread-safety: thread-safe. Callbacks run without the timer's lock and may call RunAfter.
// REQUIRES: the destructor is not called from a callback.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_TIMER_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_TIMER_H_

#include <functional>
#include <map>
#include <thread>

#include "absl/time/time.h"
#include "libs/base/mutex.h"

namespace mxgrid::kvstore::client::internal {

class Timer {
 public:
  Timer();
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Runs `fn` once `delay` has passed (at once, on the calling thread, after the destructor
  // started).
  void RunAfter(absl::Duration delay, std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::multimap<absl::Time, std::function<void()>> due_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace mxgrid::kvstore::client::internal

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_TIMER_H_
