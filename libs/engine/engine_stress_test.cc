// Randomized checks against serial execution: thousands of random operations (random
// read/write sets, properties, contexts, async completions from another thread, failures)
// must leave every variable's value and error exactly as running them one by one in push
// order would. Run on both engine kinds, from one pusher and from several.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "libs/base/context.h"
#include "libs/base/mutex.h"
#include "libs/engine/engine.h"
#include "libs/engine/engine_test_util.h"

namespace mxgrid::engine {
namespace {

// Runs callbacks on its own thread, in order (async operations complete from here).
class Completer {
 public:
  Completer() : thread_([this] { Loop(); }) {}
  ~Completer() {
    {
      base::MutexLock lock(&mu_);
      stop_ = true;
      cv_.Signal();
    }
    thread_.join();
  }
  void Post(std::function<void()> fn) {
    base::MutexLock lock(&mu_);
    queue_.push_back(std::move(fn));
    cv_.Signal();
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> fn;
      {
        base::MutexLock lock(&mu_);
        while (queue_.empty() && !stop_) cv_.Wait();
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

struct RandomOp {
  int64_t id;
  std::vector<int> reads;   // slot indices, may repeat and overlap the writes
  std::vector<int> writes;
  bool fails;
  bool async;
  bool async_elsewhere;  // completes from the Completer thread
  Context ctx;
  FnProperty property;
  int priority;
};

// The update: non-commutative, so any reordering of conflicting operations shows.
// Unsigned, so that overflow wraps instead of being undefined.
void Apply(const RandomOp& op, std::vector<uint64_t>* slots) {
  uint64_t acc = 0;
  for (int r : op.reads) acc = acc * 7 + (*slots)[r];
  for (int w : op.writes) (*slots)[w] = (*slots)[w] * 31 + acc + static_cast<uint64_t>(op.id);
}

std::vector<RandomOp> MakeOps(uint32_t seed, int num_ops, int num_vars, int64_t first_id) {
  std::mt19937 rng(seed);
  auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<RandomOp> ops;
  for (int i = 0; i < num_ops; ++i) {
    RandomOp op{first_id + i, {}, {}, false, false, false, Context::Cpu(), FnProperty::kNormal, 0};
    for (int n = uniform(0, 4); n > 0; --n) op.reads.push_back(uniform(0, num_vars - 1));
    for (int n = uniform(0, 3); n > 0; --n) op.writes.push_back(uniform(0, num_vars - 1));
    op.fails = uniform(0, 199) == 0;
    switch (uniform(0, 9)) {
      case 0: op.property = FnProperty::kCPUPrioritized; op.priority = uniform(-2, 2); break;
      case 1: op.ctx = Context::Gpu(uniform(0, 1)); break;
      case 2: op.ctx = Context::Gpu(0); op.property = FnProperty::kCopyToGPU; break;
      case 3: op.async = true; op.property = FnProperty::kAsync; break;
      case 4: op.async = op.async_elsewhere = true; op.property = FnProperty::kAsync; break;
      default: break;
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

// The serial reference: values and which variables end with an error.
struct Model {
  std::vector<uint64_t> slots;
  std::vector<bool> error;
  bool any_failed = false;  // some operation failed or was skipped: WaitForAll reports it
};

Model RunSerially(const std::vector<RandomOp>& ops, int num_vars) {
  Model m{std::vector<uint64_t>(num_vars, 1), std::vector<bool>(num_vars, false)};
  for (const RandomOp& op : ops) {
    bool failed = op.fails;
    for (int v : op.reads) failed = failed || m.error[v];
    for (int v : op.writes) failed = failed || m.error[v];
    if (!failed) Apply(op, &m.slots);
    m.any_failed = m.any_failed || failed;
    for (int v : op.writes) m.error[v] = m.error[v] || failed;
  }
  return m;
}

// Pushes `ops` on `vars`; operations update `slots`.
void PushAll(Engine* engine, const std::vector<RandomOp>& ops, const std::vector<VarHandle>& vars,
             std::vector<uint64_t>* slots, Completer* completer) {
  for (const RandomOp& op : ops) {
    std::vector<VarHandle> reads, writes;
    for (int r : op.reads) reads.push_back(vars[r]);
    for (int w : op.writes) writes.push_back(vars[w]);
    const PushOptions options{op.property, op.priority, "random_op"};
    // Statuses are made where they are returned: see engine_error_test.cc's Fail().
    auto run = [&op, slots] {
      if (op.fails) return absl::AbortedError("random failure");
      Apply(op, slots);
      return absl::OkStatus();
    };
    if (!op.async) {
      engine->PushSync([run](const RunContext&) { return run(); }, op.ctx, reads, writes,
                       options);
    } else {
      engine->PushAsync(
          [&op, run, completer](const RunContext&, CallbackOnComplete done) {
            auto finish = [run, done] { done(run()); };
            if (op.async_elsewhere) {
              completer->Post(finish);
            } else {
              finish();
            }
          },
          op.ctx, reads, writes, options);
    }
  }
}

void ExpectMatches(Engine* engine, const Model& model, const std::vector<VarHandle>& vars,
                   const std::vector<uint64_t>& slots) {
  for (size_t v = 0; v < vars.size(); ++v) {
    const absl::Status status = engine->WaitForVar(vars[v]);
    EXPECT_EQ(!status.ok(), model.error[v]) << "variable " << v << ": " << status;
    if (!status.ok()) {
      EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
    }
    EXPECT_EQ(slots[v], model.slots[v]) << "variable " << v;
  }
}

class EngineStressTest : public testing::BothEnginesTest {};

INSTANTIATE_TEST_SUITE_P(AllKinds, EngineStressTest, testing::AllEngineKinds(),
                         testing::KindParamName);

TEST_P(EngineStressTest, RandomOperationsMatchSerialExecution) {
  constexpr int kVars = 40;
  const int num_ops = 10000 / testing::kSanitizerSlowdown;
  for (uint32_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const std::vector<RandomOp> ops = MakeOps(seed, num_ops, kVars, 1);
    const Model model = RunSerially(ops, kVars);
    Completer completer;
    std::unique_ptr<Engine> engine = NewEngine();
    std::vector<VarHandle> vars;
    for (int i = 0; i < kVars; ++i) vars.push_back(engine->NewVariable());
    std::vector<uint64_t> slots(kVars, 1);
    PushAll(engine.get(), ops, vars, &slots, &completer);
    ExpectMatches(engine.get(), model, vars, slots);
    EXPECT_EQ(engine->WaitForAll().code(),
              model.any_failed ? absl::StatusCode::kAborted : absl::StatusCode::kOk);
    for (VarHandle v : vars) engine->DeleteVariable(nullptr, Context::Cpu(), v);
  }
}

TEST_P(EngineStressTest, ConcurrentPushersOnDisjointVariablesMatchSerialExecution) {
  constexpr int kThreads = 4;
  constexpr int kVars = 12;
  const int num_ops = 5000 / testing::kSanitizerSlowdown;
  Completer completer;
  std::unique_ptr<Engine> engine = NewEngine();
  std::vector<std::vector<RandomOp>> ops(kThreads);
  std::vector<std::vector<VarHandle>> vars(kThreads);
  std::vector<std::vector<uint64_t>> slots(kThreads, std::vector<uint64_t>(kVars, 1));
  for (int t = 0; t < kThreads; ++t) {
    ops[t] = MakeOps(100 + t, num_ops, kVars, 1'000'000 * t);
    for (int i = 0; i < kVars; ++i) vars[t].push_back(engine->NewVariable());
  }
  std::vector<std::thread> pushers;
  for (int t = 0; t < kThreads; ++t) {
    pushers.emplace_back(
        [&, t] { PushAll(engine.get(), ops[t], vars[t], &slots[t], &completer); });
  }
  for (std::thread& p : pushers) p.join();
  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE(::testing::Message() << "pusher " << t);
    ExpectMatches(engine.get(), RunSerially(ops[t], kVars), vars[t], slots[t]);
  }
  engine->WaitForAll().IgnoreError();
}

}  // namespace
}  // namespace mxgrid::engine
