// Completion helpers for the dist client's asynchronous shard calls.
//
//   Done each = FanIn(3, [](absl::Status first_error) { ... });  // after all three
//   auto waiter = std::make_shared<Waiter>();
//   conn->Barrier(job, rank, deadline, waiter->Callback());
//   absl::Status s = waiter->Wait(deadline);   // the call's status, or DeadlineExceeded
//
// Thread-safety: the callbacks may run on any thread; Waiter is thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_COMPLETION_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_COMPLETION_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/client/shard_connection.h"

namespace mxgrid::kvstore::client::internal {

// A callback to give to each of `n` calls; `done` runs once, after the last of them, with the
// first error (or OK). REQUIRES: n >= 1.
Done FanIn(int n, Done done);

// Waits for the callback(s) of `n` calls (Callback() each), from a thread that may block.
class Waiter {
 public:
  explicit Waiter(int n = 1) : remaining_(n) {}

  // The callback for one call. The Waiter must be held by a shared_ptr (the callback keeps
  // it alive after a Wait that gave up).
  Done Callback();
  // The first error of the calls, OK, or DeadlineExceeded naming `what` once `deadline`
  // passes first (the calls go on and are ignored).
  absl::Status Wait(absl::Time deadline, const std::string& what) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  int remaining_ ABSL_GUARDED_BY(mu_);
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  std::weak_ptr<Waiter> self_;
  friend std::shared_ptr<Waiter> MakeWaiter(int n);
};

// A Waiter for `n` calls.
std::shared_ptr<Waiter> MakeWaiter(int n);

}  // namespace mxgrid::kvstore::client::internal

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_COMPLETION_H_
