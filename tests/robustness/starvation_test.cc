// Fair, bounded work per session: a session that floods the worker with heavy operators it
// never waits for must not starve another session's tiny call, must be held to its queue
// quota (a call past it waits up to its deadline, then RESOURCE_EXHAUSTED), and must leave
// no backlog behind when it closes. Latency figures are benchmarks (tests/bench/
// fairness_bench), not asserted here: the victim's calls only have to succeed within their
// deadline.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/live_server.h"
#include "tests/robustness/load.h"
#include "tests/robustness/worker_fixture.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::FloatMeta;
using integration::ServerProcess;
using integration::SetTimeout;
using integration::WorkerClient;

// The value of the per-session gauge `name` for the session whose id starts with `prefix`
// on the server's /metrics page; -1 when absent.
double SessionGauge(const ServerProcess& server, const std::string& name,
                    const std::string& session) {
  absl::StatusOr<std::string> page = integration::HttpGet(server.metrics_port(), "/metrics");
  if (!page.ok()) return -1;
  const std::string key = absl::StrCat(name, "{session=\"", session.substr(0, 8), "\"} ");
  for (absl::string_view line : absl::StrSplit(*page, '\n')) {
    if (!absl::StartsWith(line, key)) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(key.size()), &value)) return value;
  }
  return -1;
}

using StarvationTest = LiveWorkerTest;

TEST_F(StarvationTest, VictimsTinyCallsCompleteWhileAnotherSessionFloods) {
  // A small queue quota keeps the flood's backlog (and the test) short.
  StartWorker({"--session_max_queued_ops=200"});
  absl::StatusOr<std::unique_ptr<TinyOpVictim>> victim =
      TinyOpVictim::Open(worker_->NewChannel());
  ASSERT_TRUE(victim.ok()) << victim.status();
  const LatencySummary alone =
      TimeCalls(absl::Seconds(1), 0, [&] { return (*victim)->Step(absl::Seconds(5)); });
  EXPECT_EQ(alone.failures, 0) << Describe(alone.first_failure);

  Flooder flood(worker_->NewChannel(), {.n = 800, .batch = 50});
  ASSERT_TRUE(flood.Start().ok());
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (flood.queued() < 200 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_GE(flood.queued(), 200) << "the flood did not get going";

  const LatencySummary flooded =
      TimeCalls(absl::Seconds(3), 0, [&] { return (*victim)->Step(absl::Seconds(5)); });
  // The flood's queue stays within its quota while the victim works.
  const double queued = SessionGauge(*worker_, "mxgrid_worker_session_queued_operations",
                                     flood.client().session());
  flood.Stop();

  EXPECT_EQ(flooded.failures, 0) << Describe(flooded.first_failure);
  EXPECT_GT(flooded.calls, 0);
  EXPECT_GE(queued, 0);
  EXPECT_LE(queued, 200);
  std::printf("victim alone: p50 %.2f ms p99 %.2f ms (%lld calls); under the flood: p50 %.2f "
              "ms p99 %.2f ms (%lld calls); the flood queued %lld operations\n",
              alone.p50_ms, alone.p99_ms, static_cast<long long>(alone.calls),
              flooded.p50_ms, flooded.p99_ms, static_cast<long long>(flooded.calls),
              static_cast<long long>(flood.queued()));
}

TEST_F(StarvationTest, AFullQueueIsResourceExhaustedAtTheDeadlineAndOthersGoOn) {
  StartWorker({"--session_max_queued_ops=3"});
  WorkerClient heavy(worker_->NewChannel());
  ASSERT_TRUE(heavy.Open().ok());
  uint64_t x = 0;
  ASSERT_TRUE(heavy.Create(FloatMeta({2000, 2000}), 0.5, &x).ok());
  // Three products of 2000 x 2000 matrices (16 GFLOP each) fill the queue for seconds.
  std::vector<uint64_t> outs;
  for (int i = 0; i < 3; ++i) {
    std::vector<uint64_t> out;
    const grpc::Status s = heavy.Invoke("dot", {}, {x, x}, &out);
    ASSERT_TRUE(s.ok()) << Describe(s);
    outs.push_back(out.at(0));
  }
  EXPECT_EQ(SessionGauge(*worker_, "mxgrid_worker_session_queued_operations", heavy.session()),
            3);
  {
    v1::InvokeRequest request;
    request.set_session(heavy.session());
    request.set_op("dot");
    request.add_inputs(x);
    request.add_inputs(x);
    v1::InvokeResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Milliseconds(100));
    const grpc::Status s = heavy.stub()->Invoke(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "queued")) << s.error_message();
  }
  // Another session is not held by the first one's quota, nor behind its queue.
  absl::StatusOr<std::unique_ptr<TinyOpVictim>> other =
      TinyOpVictim::Open(worker_->NewChannel());
  ASSERT_TRUE(other.ok()) << other.status();
  const grpc::Status step = (*other)->Step(absl::Seconds(5));
  EXPECT_TRUE(step.ok()) << Describe(step);
  // Closing the heavy session drops what it had queued and not started.
  ASSERT_TRUE(heavy.Close().ok());
  const LatencySummary after =
      TimeCalls(absl::Seconds(1), 5, [&] { return (*other)->Step(absl::Seconds(5)); });
  EXPECT_EQ(after.failures, 0) << Describe(after.first_failure);
}

}  // namespace
}  // namespace mxgrid::robustness
