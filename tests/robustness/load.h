// Load against a worker, for the starvation scenario of the red-team suite and for
// tests/bench/fairness_bench: a victim session that times a tiny operator round trip, a
// flooding session that queues heavy operators without ever waiting for them, and latency
// summaries.
//
//   auto victim = TinyOpVictim::Open(worker.NewChannel());
//   Flooder flood(worker.NewChannel(), {.n = 800, .batch = 50});
//   flood.Start();
//   LatencySummary s = TimeCalls(absl::Seconds(3), 0, [&] { return victim->Step(absl::Seconds(5)); });
//   flood.Stop();
//
// Thread-safety: TinyOpVictim is thread-compatible; Flooder's methods may be called from any
// thread (it runs its own); TimeCalls runs `call` on the calling thread.
#ifndef MXGRID_TESTS_ROBUSTNESS_LOAD_H_
#define MXGRID_TESTS_ROBUSTNESS_LOAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "libs/base/mutex.h"
#include "tests/integration/worker_client.h"

namespace mxgrid::robustness {

struct LatencySummary {
  int64_t calls = 0;     // timed calls that succeeded
  int64_t failures = 0;  // calls that returned an error
  grpc::Status first_failure;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double seconds = 0;  // wall time of the whole loop
};

// Calls `call` until `duration` has passed (or `max_calls` were made, when > 0) and
// summarizes the latencies of the successful calls.
// With a `pause`, sleeps that long between calls (not timed): a client that calls at a pace.
LatencySummary TimeCalls(absl::Duration duration, int64_t max_calls,
                         const std::function<grpc::Status()>& call,
                         absl::Duration pause = absl::ZeroDuration());

// One session that times the smallest useful round trip: `_plus_scalar` on a one-element
// array, Download of the result (waits for it), Free — each call with its own deadline.
class TinyOpVictim {
 public:
  static absl::StatusOr<std::unique_ptr<TinyOpVictim>> Open(
      std::shared_ptr<grpc::Channel> channel);
  // One round trip; its first failing call's status. Checks the value (1 + 1 = 2).
  grpc::Status Step(absl::Duration deadline);
  integration::WorkerClient& client() { return client_; }

 private:
  explicit TinyOpVictim(std::shared_ptr<grpc::Channel> channel) : client_(std::move(channel)) {}
  integration::WorkerClient client_;
  uint64_t input_ = 0;
};

struct FloodOptions {
  int64_t n = 800;     // dot of n x n float32 arrays
  int batch = 50;      // calls per InvokeBatch
  // Deadline of each InvokeBatch (it waits for room in the session's queue).
  absl::Duration call_deadline = absl::Seconds(30);
};

// A session on its own connection that loops `InvokeBatch([dot(x, x, out=o)] * batch)` from
// its own thread and never waits for results: the client that tries to take the worker.
class Flooder {
 public:
  Flooder(std::shared_ptr<grpc::Channel> channel, FloodOptions options);
  // Stops the thread.
  ~Flooder();
  Flooder(const Flooder&) = delete;
  Flooder& operator=(const Flooder&) = delete;

  // Opens the session, uploads x and o, starts queueing. The status of the setup calls.
  grpc::Status Start();
  // Stops queueing (the queued work goes on) and joins the thread; closes the session.
  void Stop();
  // Operations the worker accepted so far.
  int64_t queued() const { return queued_.load(); }
  // How many InvokeBatch calls ended with each code.
  std::map<grpc::StatusCode, int64_t> codes() const ABSL_LOCKS_EXCLUDED(mu_);
  integration::WorkerClient& client() { return client_; }

 private:
  void Loop();

  const FloodOptions options_;
  integration::WorkerClient client_;
  uint64_t x_ = 0, o_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> queued_{0};
  mutable base::Mutex mu_;
  std::map<grpc::StatusCode, int64_t> codes_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_LOAD_H_
