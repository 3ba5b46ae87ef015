// Fairness and concurrency of mxgrid-worker, measured in one run:
//   (a) a victim session's tiny round trip (_plus_scalar on one element, Download, Free)
//       alone, then while another session floods the worker with 800 x 800 dot products in
//       InvokeBatch calls of 50 that it never waits for; alternated three times, medians
//       (the peer is the victim alone: the target is p99 under the flood <= 5x alone);
//   (b) 16 clients, each on its own connection and session, making 500 tiny Invoke calls
//       (`_plus_scalar` of a one-element array into a new array, freed in batches of 100):
//       throughput and p99 against a bare gRPC Ping service with the same number of
//       clients, calls and message sizes, timed before any mxgrid server is started.
//   (c) a victim session making a paced tiny round trip every 10 ms, alone and while 8 other
//       sessions of one client loop the same round trip as fast as they can, on a worker
//       started with --session_calls_per_second=600 (the flooders are turned away with
//       RESOURCE_EXHAUSTED beyond it) and, for comparison, on one without the limit.
// Prints finished rows as JSON lines for tools/bench_report.py.
//   bazel build -c opt //tests/bench:fairness_bench && bazel-bin/tests/bench/fairness_bench
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/echo.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/load.h"

namespace mxgrid {
namespace {

using integration::ServerProcess;
using integration::WorkerClient;
using robustness::LatencySummary;

constexpr int kClients = 16;
constexpr int kCallsPerClient = 500;

void Row(const std::string& name, const char* unit, double mine, const std::string& peer,
         double peer_value, const char* better) {
  std::printf(
      "{\"name\": \"%s\", \"unit\": \"%s\", \"mxgrid\": %.6g, \"peer\": \"%s\", "
      "\"peer_value\": %.6g, \"better\": \"%s\"}\n",
      name.c_str(), unit, mine, peer.c_str(), peer_value, better);
  std::fflush(stdout);
}

void Check(const grpc::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "fairness_bench: %s failed: %s\n", what, integration::Describe(s).c_str());
  std::exit(1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Spread(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return absl::StrCat("runs ", absl::StrFormat("%.3g", *lo), "..", absl::StrFormat("%.3g", *hi));
}

// `clients` threads each make `calls` calls of `call(client, i)`; calls per second over the
// whole run and the p99 latency of all calls, in ms.
struct Concurrency {
  double calls_per_s = 0;
  double p99_ms = 0;
};
template <typename Fn>
Concurrency RunClients(int clients, int calls, Fn call) {
  std::vector<std::vector<double>> ms(clients);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < calls; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        call(c, i);
        ms[c].push_back(std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0).count());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (const auto& v : ms) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  return {clients * calls / seconds, all[all.size() * 99 / 100]};
}

// (b), the peer: bare gRPC Ping (echo_server, a process of its own) with a tiny Invoke's
// message sizes, no mxgrid server alive.
Concurrency PingPeer() {
  absl::StatusOr<std::unique_ptr<integration::ServerProcess>> server =
      integration::ServerProcess::Start({.binary = "tests/bench/echo_server"});
  if (!server.ok()) {
    std::fprintf(stderr, "fairness_bench: %s\n", server.status().ToString().c_str());
    std::exit(1);
  }
  std::vector<std::unique_ptr<bench::Echo::Stub>> stubs;
  for (int c = 0; c < kClients; ++c) {
    stubs.push_back(bench::Echo::NewStub((*server)->NewChannel()));
  }
  bench::PingRequest request;
  request.set_data(std::string(64, 'r'));
  request.set_response_bytes(64);
  const Concurrency result = RunClients(kClients, kCallsPerClient, [&](int c, int) {
    bench::PingResponse response;
    grpc::ClientContext context;
    Check(stubs[c]->Ping(&context, request, &response), "Ping");
  });
  (void)(*server)->Stop();
  return result;
}

// (c) for one worker: the paced victim's latencies alone and under a call flood, alternated
// three times; medians of p99 (and how many flood calls were turned away).
struct CallFlood {
  std::vector<double> alone_p99, flood_p99;
  int64_t flood_ok = 0, flood_refused = 0;
};

CallFlood RunCallFlood(ServerProcess& worker) {
  constexpr int kFlooders = 8;
  const absl::Duration pace = absl::Milliseconds(10);
  CallFlood out;
  auto victim = robustness::TinyOpVictim::Open(worker.NewChannel());
  if (!victim.ok()) std::exit(1);
  for (int round = 0; round < 3; ++round) {
    const LatencySummary alone = robustness::TimeCalls(
        absl::Seconds(3), 0, [&] { return (*victim)->Step(absl::Seconds(30)); }, pace);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> ok{0}, refused{0};
    std::vector<std::thread> flooders;
    for (int f = 0; f < kFlooders; ++f) {
      flooders.emplace_back([&] {
        auto flooder = robustness::TinyOpVictim::Open(worker.NewChannel());
        if (!flooder.ok()) return;
        while (!stop.load()) {
          const grpc::Status s = (*flooder)->Step(absl::Seconds(30));
          (s.ok() ? ok : refused).fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const LatencySummary flooded = robustness::TimeCalls(
        absl::Seconds(3), 0, [&] { return (*victim)->Step(absl::Seconds(30)); }, pace);
    stop.store(true);
    for (std::thread& t : flooders) t.join();
    if (alone.failures + flooded.failures > 0) {
      std::fprintf(stderr, "fairness_bench: paced victim calls failed: %s\n",
                   (alone.failures > 0 ? alone : flooded).first_failure.error_message().c_str());
      std::exit(1);
    }
    std::fprintf(stderr,
                 "call flood round %d: victim alone p99 %.2f ms, flooded p99 %.2f ms; flood "
                 "round trips %lld done, %lld turned away\n",
                 round, alone.p99_ms, flooded.p99_ms, static_cast<long long>(ok.load()),
                 static_cast<long long>(refused.load()));
    out.alone_p99.push_back(alone.p99_ms);
    out.flood_p99.push_back(flooded.p99_ms);
    out.flood_ok += ok.load();
    out.flood_refused += refused.load();
  }
  return out;
}

void Run() {
  const Concurrency ping = PingPeer();

  absl::StatusOr<std::unique_ptr<ServerProcess>> started =
      ServerProcess::Start({.binary = "services/worker/mxgrid-worker",
                            .args = {"--log_level=warn"}});
  if (!started.ok()) {
    std::fprintf(stderr, "fairness_bench: %s\n", started.status().ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<ServerProcess> worker = std::move(*started);

  // (b) 16 clients x 500 tiny Invoke calls, each client its own connection and session.
  std::vector<std::unique_ptr<WorkerClient>> clients;
  std::vector<uint64_t> inputs(kClients);
  std::vector<std::vector<uint64_t>> outputs(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<WorkerClient>(worker->NewChannel()));
    Check(clients[c]->Open(), "OpenSession");
    Check(clients[c]->UploadFloats({1}, {1}, &inputs[c]), "Upload");
  }
  const Concurrency invoke = RunClients(kClients, kCallsPerClient, [&](int c, int) {
    std::vector<uint64_t> out;
    Check(clients[c]->Invoke("_plus_scalar", {{"scalar", "1"}}, {inputs[c]}, &out), "Invoke");
    outputs[c].push_back(out.at(0));
    if (outputs[c].size() == 100) {
      Check(clients[c]->Free(outputs[c]), "Free");
      outputs[c].clear();
    }
  });
  for (auto& client : clients) (void)client->Close();
  clients.clear();

  // (a) The victim alone and under a flood, alternated.
  auto victim = robustness::TinyOpVictim::Open(worker->NewChannel());
  if (!victim.ok()) std::exit(1);
  std::vector<double> alone_p50, alone_p99, flood_p50, flood_p99;
  for (int round = 0; round < 3; ++round) {
    const LatencySummary alone = robustness::TimeCalls(
        absl::Seconds(4), 0, [&] { return (*victim)->Step(absl::Seconds(30)); });
    robustness::Flooder flood(worker->NewChannel(), {.n = 800, .batch = 50});
    Check(flood.Start(), "flood setup");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const LatencySummary flooded = robustness::TimeCalls(
        absl::Seconds(4), 0, [&] { return (*victim)->Step(absl::Seconds(30)); });
    flood.Stop();
    if (alone.failures + flooded.failures > 0) {
      std::fprintf(stderr, "fairness_bench: victim calls failed\n");
      std::exit(1);
    }
    std::fprintf(stderr,
                 "round %d: alone p50 %.2f p99 %.2f ms (%lld calls); flooded p50 %.2f p99 %.2f "
                 "ms (%lld calls); flood queued %lld ops\n",
                 round, alone.p50_ms, alone.p99_ms, static_cast<long long>(alone.calls),
                 flooded.p50_ms, flooded.p99_ms, static_cast<long long>(flooded.calls),
                 static_cast<long long>(flood.queued()));
    alone_p50.push_back(alone.p50_ms);
    alone_p99.push_back(alone.p99_ms);
    flood_p50.push_back(flooded.p50_ms);
    flood_p99.push_back(flooded.p99_ms);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the closed flood's work drains
  }
  Row("victim tiny Invoke + Download + Free, p99 while another session floods 800x800 dot "
      "(target ratio <= 5; " + Spread(flood_p99) + ")",
      "ms", Median(flood_p99), "the same victim alone, same run (" + Spread(alone_p99) + ")",
      Median(alone_p99), "lower");
  Row("victim tiny Invoke + Download + Free, p50 while another session floods 800x800 dot (" +
          Spread(flood_p50) + ")",
      "ms", Median(flood_p50), "the same victim alone, same run (" + Spread(alone_p50) + ")",
      Median(alone_p50), "lower");
  // (c) The call flood, against this worker (no limit) and one with the limit.
  const CallFlood unlimited = RunCallFlood(*worker);
  absl::StatusOr<std::unique_ptr<ServerProcess>> limited_started =
      ServerProcess::Start({.binary = "services/worker/mxgrid-worker",
                            .args = {"--log_level=error", "--session_calls_per_second=600"}});
  if (!limited_started.ok()) {
    std::fprintf(stderr, "fairness_bench: %s\n", limited_started.status().ToString().c_str());
    std::exit(1);
  }
  const CallFlood limited = RunCallFlood(**limited_started);
  limited_started->reset();
  Row(absl::StrFormat("paced victim (a tiny round trip every 10 ms), p99 while 8 sessions of "
                      "one client flood tiny round trips, --session_calls_per_second=600 "
                      "(%lld flood round trips done, %lld turned away; %s)",
                      static_cast<long long>(limited.flood_ok),
                      static_cast<long long>(limited.flood_refused),
                      Spread(limited.flood_p99)),
      "ms", Median(limited.flood_p99),
      "the same victim alone, same worker (" + Spread(limited.alone_p99) + ")",
      Median(limited.alone_p99), "lower");
  Row(absl::StrFormat("paced victim (a tiny round trip every 10 ms), p99 while 8 sessions of "
                      "one client flood tiny round trips, no call limit (%lld flood round "
                      "trips; %s)",
                      static_cast<long long>(unlimited.flood_ok), Spread(unlimited.flood_p99)),
      "ms", Median(unlimited.flood_p99),
      "the same victim alone, same worker (" + Spread(unlimited.alone_p99) + ")",
      Median(unlimited.alone_p99), "lower");
  Row("16 clients x 500 tiny Invoke (one-element _plus_scalar, new output), throughput",
      "calls/s", invoke.calls_per_s,
      "bare gRPC unary Ping, 16 clients x 500, 64-byte messages", ping.calls_per_s, "higher");
  Row("16 clients x 500 tiny Invoke (one-element _plus_scalar, new output), p99 latency", "ms",
      invoke.p99_ms, "bare gRPC unary Ping, 16 clients x 500, 64-byte messages", ping.p99_ms,
      "lower");
  (void)worker->Stop();
}

}  // namespace
}  // namespace mxgrid

int main() {
  // As the servers (services/common/flags.cc): no absl::Mutex deadlock graph in gRPC's
  // locks, for this process's clients and the bare gRPC peer alike.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mxgrid::Run();
  return 0;
}
