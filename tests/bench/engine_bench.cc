// Throughput of the threaded engine against a plain thread pool, end to end (push, run,
// wait for all), on no-op tasks:
//   (a) independent pushes, each writing its own pre-created variable;
//   (b) independent pushes with no variables;
//   (c) a dependent chain, every push writing the same variable;
// peer: a std::mutex + std::condition_variable + std::deque<std::function<void()>> pool with
// the engine's CPU worker count, running the same number of no-op tasks.
//
// Prints one JSON object per figure on stdout; progress and details go to stderr.
//   bazel run //tests/bench:engine_bench [-- N]      (N defaults to 2,000,000)
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "libs/base/context.h"
#include "libs/engine/engine.h"

namespace {

using Clock = std::chrono::steady_clock;
using mxgrid::Context;
using mxgrid::engine::Engine;
using mxgrid::engine::RunContext;
using mxgrid::engine::VarHandle;

constexpr int kRuns = 5;

// The peer: the textbook thread pool.
class DequeThreadPool {
 public:
  explicit DequeThreadPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~DequeThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  void Submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(task));
      ++pending_;
    }
    cv_.notify_one();
  }

  void WaitAll() {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<std::function<void()>> queue_;
  long pending_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// CPU time (user + system) of the whole process so far, in seconds.
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Best (highest) rate over kRuns runs of `body`, which performs `n` operations. Also shows
// the CPU time per operation (all threads), which other load on the machine disturbs less.
template <typename Body>
double BestRate(const char* what, long n, Body body) {
  double best = 0;
  for (int run = 0; run < kRuns; ++run) {
    const double cpu_start = ProcessCpuSeconds();
    const Clock::time_point start = Clock::now();
    body();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu_ns = (ProcessCpuSeconds() - cpu_start) * 1e9 / static_cast<double>(n);
    const double rate = static_cast<double>(n) / seconds;
    std::fprintf(stderr, "  %-36s run %d: %8.3f ms, %12.0f /s, %6.1f ns CPU/op\n", what, run,
                 seconds * 1e3, rate, cpu_ns);
    best = std::max(best, rate);
  }
  return best;
}

void PrintRow(const char* name, double mxgrid, double peer) {
  std::printf(
      "{\"name\": \"%s\", \"unit\": \"ops/s\", \"mxgrid\": %.1f, \"peer\": \"std::deque "
      "thread pool\", \"peer_value\": %.1f, \"better\": \"higher\"}\n",
      name, mxgrid, peer);
  std::fflush(stdout);
}

void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "engine error: %s\n", status.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 2'000'000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: engine_bench [N > 0]\n");
    return 2;
  }
  const int threads = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  std::fprintf(stderr, "engine_bench: N=%ld, %d CPU worker threads, best of %d runs\n", n,
               threads, kRuns);

  mxgrid::engine::EngineOptions options;  // threaded, default thread counts
  std::unique_ptr<Engine> engine = mxgrid::engine::CreateEngine(options);
  const Context cpu = Context::Cpu();
  auto noop = [](const RunContext&) { return absl::OkStatus(); };

  std::vector<VarHandle> vars(static_cast<size_t>(n));
  for (VarHandle& v : vars) v = engine->NewVariable();

  const double independent = BestRate("engine independent pushes", n, [&] {
    for (long i = 0; i < n; ++i) engine->PushSync(noop, cpu, {}, {vars[static_cast<size_t>(i)]});
    Check(engine->WaitForAll());
  });
  const double no_vars = BestRate("engine independent pushes (no vars)", n, [&] {
    for (long i = 0; i < n; ++i) engine->PushSync(noop, cpu, {}, {});
    Check(engine->WaitForAll());
  });
  const VarHandle chain_var = vars[0];
  const double chain = BestRate("engine dependent chain", n, [&] {
    for (long i = 0; i < n; ++i) engine->PushSync(noop, cpu, {}, {chain_var});
    Check(engine->WaitForAll());
  });
  for (VarHandle v : vars) engine->DeleteVariable([](const RunContext&) {}, cpu, v);
  Check(engine->WaitForAll());
  engine.reset();

  double peer = 0;
  {
    DequeThreadPool pool(threads);
    std::atomic<long> ran{0};
    peer = BestRate("std::deque thread pool", n, [&] {
      for (long i = 0; i < n; ++i) pool.Submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
      pool.WaitAll();
    });
    if (ran.load() != n * kRuns) {
      std::fprintf(stderr, "thread pool ran %ld tasks, expected %ld\n", ran.load(), n * kRuns);
      return 1;
    }
  }

  PrintRow("engine independent pushes", independent, peer);
  PrintRow("engine independent pushes (no vars)", no_vars, peer);
  PrintRow("engine dependent chain", chain, peer);
  return 0;
}
