// Parallelism and scheduling that only the threaded engine has: concurrent reads, parallel
// independent operations, priority order, per-device pools, inline async operations.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/base/context.h"
#include "libs/engine/engine.h"
#include "libs/engine/engine_test_util.h"

namespace mxgrid::engine {
namespace {

using ::testing::ElementsAre;
using testing::Event;
using testing::Latch;

std::string ThreadName() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

std::unique_ptr<Engine> Threaded(int cpu_threads = 2, int priority_threads = 2) {
  EngineOptions options;
  options.kind = EngineKind::kThreaded;
  options.cpu_worker_threads = cpu_threads;
  options.cpu_priority_threads = priority_threads;
  options.gpu_worker_threads = 1;
  options.gpu_copy_threads = 1;
  return CreateEngine(options);
}

SyncFn Body(std::function<void()> body) {
  return [body = std::move(body)](const RunContext&) {
    body();
    return absl::OkStatus();
  };
}

TEST(ThreadedEngineTest, ConsecutiveReadsRunConcurrently) {
  std::unique_ptr<Engine> engine = Threaded();
  VarHandle v = engine->NewVariable();
  Latch both_reading(2);
  std::atomic<int> overlapped{0};
  std::atomic<int> reads_done_at_write{-1};
  engine->PushSync(Body([] {}), Context::Cpu(), {}, {v});
  for (int i = 0; i < 2; ++i) {
    // Each read waits for the other: they only both succeed if they overlap in time.
    engine->PushSync(Body([&] {
                       if (both_reading.ArriveAndWait(std::chrono::seconds(5))) overlapped++;
                     }),
                     Context::Cpu(), {v}, {});
  }
  engine->PushSync(Body([&] { reads_done_at_write = overlapped.load(); }), Context::Cpu(), {},
                   {v});
  ASSERT_TRUE(engine->WaitForVar(v).ok());
  EXPECT_EQ(overlapped.load(), 2);
  EXPECT_EQ(reads_done_at_write.load(), 2) << "the write must wait for both reads";
}

TEST(ThreadedEngineTest, IndependentOperationsRunInParallel) {
  std::unique_ptr<Engine> engine = Threaded();
  VarHandle a = engine->NewVariable();
  VarHandle b = engine->NewVariable();
  Latch both_running(2);
  std::atomic<int> met{0};
  for (VarHandle v : {a, b}) {
    engine->PushSync(Body([&] {
                       if (both_running.ArriveAndWait(std::chrono::seconds(5))) met++;
                     }),
                     Context::Cpu(), {}, {v});
  }
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_EQ(met.load(), 2);
}

TEST(ThreadedEngineTest, PriorityPoolRunsHighestPriorityFirst) {
  std::unique_ptr<Engine> engine = Threaded(/*cpu_threads=*/2, /*priority_threads=*/1);
  Event blocker_started, release;
  std::vector<std::string> order;  // written only by the single priority thread
  const PushOptions prioritized{FnProperty::kCPUPrioritized, 0, "blocker"};
  engine->PushSync(Body([&] {
                     blocker_started.Notify();
                     ASSERT_TRUE(release.WaitFor());
                   }),
                   Context::Cpu(), {}, {}, prioritized);
  ASSERT_TRUE(blocker_started.WaitFor());
  const std::pair<int, const char*> ops[] = {{1, "p1"},  {5, "p5a"}, {3, "p3"},
                                             {5, "p5b"}, {0, "p0"},  {10, "p10"}};
  for (const auto& [priority, name] : ops) {
    engine->PushSync(Body([&order, name = name] { order.push_back(name); }), Context::Cpu(), {},
                     {}, {FnProperty::kCPUPrioritized, priority, name});
  }
  release.Notify();
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_THAT(order, ElementsAre("p10", "p5a", "p5b", "p3", "p1", "p0"));
}

TEST(ThreadedEngineTest, NormalCpuPoolIsFifo) {
  std::unique_ptr<Engine> engine = Threaded(/*cpu_threads=*/1);
  Event started, release;
  std::vector<int> order;  // written only by the single CPU worker
  engine->PushSync(Body([&] {
                     started.Notify();
                     ASSERT_TRUE(release.WaitFor());
                   }),
                   Context::Cpu(), {}, {});
  ASSERT_TRUE(started.WaitFor());
  // More than the pool's lock-free ring holds, so later ones queue in its overflow list.
  const int n = 20000 / testing::kSanitizerSlowdown;
  for (int i = 0; i < n; ++i) {
    engine->PushSync(Body([&order, i] { order.push_back(i); }), Context::Cpu(), {}, {},
                     {FnProperty::kNormal, n - i});  // priority is ignored by FIFO pools
    if (i == n / 2) {
      release.Notify();  // let the worker drain while pushes continue
    }
  }
  ASSERT_TRUE(engine->WaitForAll().ok());
  ASSERT_EQ(order.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(order[i], i);
}

TEST(ThreadedEngineTest, OperationsRunOnTheirDevicePoolThreads) {
  std::unique_ptr<Engine> engine = Threaded();
  struct Case {
    Context ctx;
    FnProperty property;
    std::string expected_thread;
  };
  const std::vector<Case> cases = {
      {Context::Cpu(), FnProperty::kNormal, "mxg-cpu0"},
      {Context::Cpu(), FnProperty::kCPUPrioritized, "mxg-cpu-prio"},
      {Context::Cpu(2), FnProperty::kNormal, "mxg-cpu2"},
      {Context::Gpu(0), FnProperty::kNormal, "mxg-gpu0"},
      {Context::Gpu(0), FnProperty::kCopyFromGPU, "mxg-gpu0-copy"},
      {Context::Gpu(1), FnProperty::kCopyToGPU, "mxg-gpu1-copy"},
      {Context::Gpu(1), FnProperty::kCPUPrioritized, "mxg-gpu1"},
  };
  std::vector<std::string> threads(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    engine->PushSync(Body([&threads, i] { threads[i] = ThreadName(); }), cases[i].ctx, {}, {},
                     {cases[i].property});
  }
  ASSERT_TRUE(engine->WaitForAll().ok());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(threads[i], cases[i].expected_thread) << cases[i].ctx;
  }
}

TEST(ThreadedEngineTest, GpuPoolsRunWhileTheCpuPoolIsBlocked) {
  std::unique_ptr<Engine> engine = Threaded(/*cpu_threads=*/1);
  Event gpu_ran, copy_ran;
  std::atomic<bool> cpu_saw_gpu{false};
  engine->PushSync(Body([&] { cpu_saw_gpu = gpu_ran.WaitFor() && copy_ran.WaitFor(); }),
                   Context::Cpu(), {}, {});
  engine->PushSync(Body([&] { gpu_ran.Notify(); }), Context::Gpu(0), {}, {});
  engine->PushSync(Body([&] { copy_ran.Notify(); }), Context::Gpu(0), {}, {},
                   {FnProperty::kCopyToGPU});
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_TRUE(cpu_saw_gpu.load());
}

TEST(ThreadedEngineTest, AsyncOperationsRunInlineInTheThreadThatMakesThemReady) {
  std::unique_ptr<Engine> engine = Threaded();
  VarHandle v = engine->NewVariable();
  std::thread::id ready_at_push, ready_after_worker, worker;
  const PushOptions async{FnProperty::kAsync};
  engine->PushAsync(
      [&](const RunContext&, CallbackOnComplete done) {
        ready_at_push = std::this_thread::get_id();
        done();
      },
      Context::Cpu(), {}, {v}, async);
  engine->PushSync(Body([&] {
                     std::this_thread::sleep_for(std::chrono::milliseconds(10));
                     worker = std::this_thread::get_id();
                   }),
                   Context::Cpu(), {}, {v});
  engine->PushAsync(
      [&](const RunContext&, CallbackOnComplete done) {
        ready_after_worker = std::this_thread::get_id();
        done();
      },
      Context::Cpu(), {}, {v}, async);
  ASSERT_TRUE(engine->WaitForVar(v).ok());
  EXPECT_EQ(ready_at_push, std::this_thread::get_id());
  EXPECT_EQ(ready_after_worker, worker);
  EXPECT_NE(worker, std::this_thread::get_id());
}

TEST(ThreadedEngineTest, OperationPushedFromAnOperationRunsAfterIt) {
  std::unique_ptr<Engine> engine = Threaded();
  VarHandle v = engine->NewVariable();
  std::vector<int> order;  // touched only by operations writing v
  engine->PushSync(Body([&] {
                     order.push_back(1);
                     engine->PushSync(Body([&] { order.push_back(3); }), Context::Cpu(), {}, {v});
                     std::this_thread::sleep_for(std::chrono::milliseconds(5));
                     order.push_back(2);
                   }),
                   Context::Cpu(), {}, {v});
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
}

TEST(ThreadedEngineTest, LongChainsOfInlineOperationsDoNotRecurse) {
  std::unique_ptr<Engine> engine = Threaded();
  VarHandle v = engine->NewVariable();
  Event release;
  engine->PushSync(Body([&] { ASSERT_TRUE(release.WaitFor()); }), Context::Cpu(), {}, {v});
  // Queued behind the blocked write; when it finishes they all become ready one by one.
  const int n = 200000 / testing::kSanitizerSlowdown;
  int64_t count = 0;
  for (int i = 0; i < n; ++i) {
    engine->PushAsync(
        [&count](const RunContext&, CallbackOnComplete done) {
          ++count;
          done();
        },
        Context::Cpu(), {}, {v}, {FnProperty::kAsync});
  }
  release.Notify();
  ASSERT_TRUE(engine->WaitForVar(v).ok());
  EXPECT_EQ(count, n);
}

TEST(ThreadedEngineTest, ConcurrentPushersWithOverlappingVariablesDoNotDeadlock) {
  std::unique_ptr<Engine> engine = Threaded();
  VarHandle x = engine->NewVariable();
  VarHandle y = engine->NewVariable();
  int64_t both = 0;  // written by operations that write x and y
  std::atomic<int> writers{0};
  std::atomic<bool> overlap{false};
  const int per_thread = 4000 / testing::kSanitizerSlowdown;
  std::vector<std::thread> pushers;
  for (int t = 0; t < 4; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto fn = Body([&] {
          if (writers.fetch_add(1) != 0) overlap = true;
          ++both;
          writers.fetch_sub(1);
        });
        // Opposite list orders from different threads, plus reads in between.
        if (t % 2 == 0) {
          engine->PushSync(std::move(fn), Context::Cpu(), {}, {x, y});
        } else {
          engine->PushSync(std::move(fn), Context::Cpu(), {x}, {y, x});
        }
        if (i % 16 == 0) engine->PushSync(Body([] {}), Context::Cpu(), {y, x}, {});
      }
    });
  }
  for (std::thread& t : pushers) t.join();
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_EQ(both, 4 * per_thread);
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(engine->VarVersion(x), static_cast<uint64_t>(4 * per_thread));
}

}  // namespace
}  // namespace mxgrid::engine
