#include "libs/engine/flow.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/base/memory_account.h"
#include "libs/engine/engine.h"
#include "libs/engine/engine_test_util.h"

namespace mxgrid::engine {
namespace {

using testing::Event;

std::unique_ptr<Engine> OneWorkerEngine() {
  EngineOptions options;
  options.cpu_worker_threads = 1;
  return CreateEngine(options);
}

// An operation that blocks its worker until `gate` is notified.
SyncFn BlockOn(Event* gate) {
  return [gate](const RunContext&) {
    EXPECT_TRUE(gate->WaitFor());
    return absl::OkStatus();
  };
}

TEST(FlowTest, CountsQueuedOperationsBytesAndMemory) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto memory = std::make_shared<base::MemoryAccount>("session", 0);
  auto flow = std::make_shared<Flow>("session", FlowLimits{}, memory);
  VarHandle big = engine->NewVariable(4096);
  Event gate;
  {
    FlowScope scope(flow);
    EXPECT_EQ(CurrentFlow(), flow.get());
    engine->PushSync(BlockOn(&gate), Context::Cpu(), {}, {big});
    engine->PushSync([](const RunContext&) { return absl::OkStatus(); }, Context::Cpu(), {big},
                     {});
  }
  EXPECT_EQ(CurrentFlow(), nullptr);
  EXPECT_EQ(flow->queued_ops(), 2);
  EXPECT_EQ(flow->queued_bytes(), 4096);  // only the write counts
  EXPECT_EQ(memory->used(), 2 * kQueuedOpBytes);
  gate.Notify();
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_EQ(flow->queued_ops(), 0);
  EXPECT_EQ(flow->queued_bytes(), 0);
  EXPECT_EQ(flow->finished_ops(), 2);
  EXPECT_EQ(memory->used(), 0);
  engine->DeleteVariable([](const RunContext&) {}, Context::Cpu(), big);
}

TEST(FlowTest, OperationsRunInTheirFlowAndPushIntoIt) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto flow = std::make_shared<Flow>("f", FlowLimits{}, nullptr);
  std::atomic<Flow*> seen{nullptr};
  {
    FlowScope scope(flow);
    engine->PushSync(
        [&](const RunContext&) {
          seen = CurrentFlow();
          return absl::OkStatus();
        },
        Context::Cpu(), {}, {});
  }
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_EQ(seen.load(), flow.get());
}

TEST(FlowTest, WaitForRoomWaitsForQueuedOperationsToFinish) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto flow = std::make_shared<Flow>("f", FlowLimits{.max_queued_ops = 2}, nullptr);
  Event gate;
  {
    FlowScope scope(flow);
    EXPECT_TRUE(flow->WaitForRoom(absl::InfinitePast()).ok());
    engine->PushSync(BlockOn(&gate), Context::Cpu(), {}, {});
    engine->PushSync(BlockOn(&gate), Context::Cpu(), {}, {});
  }
  const absl::Status full = flow->WaitForRoom(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  const absl::Status cancelled = flow->WaitForRoom(
      absl::InfiniteFuture(), [] { return absl::CancelledError("the call was cancelled"); });
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kCancelled);
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(30));
    gate.Notify();
  });
  EXPECT_TRUE(flow->WaitForRoom(absl::Now() + absl::Seconds(10)).ok());
  release.join();
  ASSERT_TRUE(engine->WaitForAll().ok());
}

TEST(FlowTest, QueuedBytesLimitHoldsCallersBack) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto flow = std::make_shared<Flow>("f", FlowLimits{.max_queued_bytes = 1000}, nullptr);
  VarHandle v = engine->NewVariable(1000);
  Event gate;
  {
    FlowScope scope(flow);
    engine->PushSync(BlockOn(&gate), Context::Cpu(), {}, {v});
  }
  EXPECT_EQ(flow->WaitForRoom(absl::Now()).code(), absl::StatusCode::kResourceExhausted);
  gate.Notify();
  EXPECT_TRUE(flow->WaitForRoom(absl::Now() + absl::Seconds(10)).ok());
  ASSERT_TRUE(engine->WaitForAll().ok());
  engine->DeleteVariable([](const RunContext&) {}, Context::Cpu(), v);
}

// The property the worker's sessions rely on: a flow's backlog does not delay another
// flow's operation by more than about one operation per busy flow.
TEST(FlowTest, AnotherFlowsOperationOvertakesABacklog) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto flood = std::make_shared<Flow>("flood", FlowLimits{}, nullptr);
  auto victim = std::make_shared<Flow>("victim", FlowLimits{}, nullptr);
  Event gate;
  std::atomic<int> flood_done{0};
  std::atomic<int> flood_done_before_victim{-1};
  {
    FlowScope scope(flood);
    engine->PushSync(BlockOn(&gate), Context::Cpu(), {}, {});  // holds the only worker
    for (int i = 0; i < 200; ++i) {
      engine->PushSync(
          [&](const RunContext&) {
            absl::SleepFor(absl::Microseconds(200));
            flood_done.fetch_add(1);
            return absl::OkStatus();
          },
          Context::Cpu(), {}, {});
    }
  }
  {
    FlowScope scope(victim);
    engine->PushSync(
        [&](const RunContext&) {
          flood_done_before_victim = flood_done.load();
          return absl::OkStatus();
        },
        Context::Cpu(), {}, {});
  }
  gate.Notify();
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_EQ(flood_done.load(), 200);
  // Round-robin: the victim runs right after the blocking operation (or after one more).
  EXPECT_LE(flood_done_before_victim.load(), 1);
  EXPECT_GE(flood_done_before_victim.load(), 0);
}

// A dependent chain stays on its worker only while nothing else waits: another flow's
// operation is not held behind the chain.
TEST(FlowTest, ADependentChainDoesNotHoldBackAnotherFlow) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto chain = std::make_shared<Flow>("chain", FlowLimits{}, nullptr);
  auto victim = std::make_shared<Flow>("victim", FlowLimits{}, nullptr);
  VarHandle v = engine->NewVariable();
  Event gate;
  std::atomic<int> links{0};
  std::atomic<int> links_before_victim{-1};
  {
    FlowScope scope(chain);
    engine->PushSync(BlockOn(&gate), Context::Cpu(), {}, {v});
    for (int i = 0; i < 100; ++i) {
      engine->PushSync(
          [&](const RunContext&) {
            absl::SleepFor(absl::Microseconds(200));
            links.fetch_add(1);
            return absl::OkStatus();
          },
          Context::Cpu(), {}, {v});
    }
  }
  {
    FlowScope scope(victim);
    engine->PushSync(
        [&](const RunContext&) {
          links_before_victim = links.load();
          return absl::OkStatus();
        },
        Context::Cpu(), {}, {});
  }
  gate.Notify();
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_LE(links_before_victim.load(), 1);
  engine->DeleteVariable([](const RunContext&) {}, Context::Cpu(), v);
}

}  // namespace
}  // namespace mxgrid::engine

namespace mxgrid::engine {
namespace {

TEST(FlowTest, ACancelledFlowSkipsWhatHasNotStarted) {
  std::unique_ptr<Engine> engine = OneWorkerEngine();
  auto flow = std::make_shared<Flow>("session 1", FlowLimits{}, nullptr);
  VarHandle out = engine->NewVariable();
  Event gate, started;
  std::atomic<int> ran{0};
  {
    FlowScope scope(flow);
    engine->PushSync(
        [&](const RunContext&) {
          started.Notify();
          EXPECT_TRUE(gate.WaitFor());
          ++ran;
          return absl::OkStatus();
        },
        Context::Cpu(), {}, {});
    for (int i = 0; i < 10; ++i) {
      engine->PushSync(
          [&](const RunContext&) {
            ++ran;
            return absl::OkStatus();
          },
          Context::Cpu(), {}, {out});
    }
  }
  ASSERT_TRUE(started.WaitFor());
  flow->Cancel();
  gate.Notify();
  const absl::Status s = engine->WaitForVar(out);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(ran.load(), 1);  // the running one finished; the queued ones were skipped
  engine->WaitForAll().IgnoreError();
  EXPECT_EQ(flow->queued_ops(), 0);
  engine->DeleteVariable([](const RunContext&) {}, Context::Cpu(), out);
}

}  // namespace
}  // namespace mxgrid::engine
