// Behaviour of the Engine interface, checked on both engine kinds: ordering, versions,
// waiting, deletion and async operations. Errors are in engine_error_test.cc.
#include "libs/engine/engine.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/base/context.h"
#include "libs/engine/engine_test_util.h"

namespace mxgrid::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

SyncFn Ok(std::function<void()> body) {
  return [body = std::move(body)](const RunContext&) {
    body();
    return absl::OkStatus();
  };
}

class EngineTest : public testing::BothEnginesTest {};

INSTANTIATE_TEST_SUITE_P(AllKinds, EngineTest, testing::AllEngineKinds(),
                         testing::KindParamName);

TEST_P(EngineTest, WritesRunInPushOrder) {
  VarHandle v = engine_->NewVariable();
  std::vector<int> order;  // guarded by the engine: only ops writing v touch it
  for (int i = 0; i < 200; ++i) {
    engine_->PushSync(Ok([&order, i] { order.push_back(i); }), cpu_, {}, {v});
  }
  ASSERT_TRUE(engine_->WaitForVar(v).ok());
  std::vector<int> expected(200);
  for (int i = 0; i < 200; ++i) expected[i] = i;
  EXPECT_THAT(order, ElementsAreArray(expected));
  EXPECT_EQ(engine_->VarVersion(v), 200u);
  engine_->DeleteVariable(nullptr, cpu_, v);
  EXPECT_TRUE(engine_->WaitForAll().ok());
}

TEST_P(EngineTest, ReadsSeeThePrecedingWrite) {
  VarHandle v = engine_->NewVariable();
  int64_t value = 0;
  std::vector<std::atomic<int64_t>> seen(300);
  for (int i = 0; i < 100; ++i) {
    engine_->PushSync(Ok([&value, i] { value = i * 10; }), cpu_, {}, {v});
    for (int r = 0; r < 2; ++r) {
      engine_->PushSync(Ok([&, i, r] { seen[3 * i + r].store(value); }), cpu_, {v}, {});
    }
    // A read of v listed twice, once with another variable.
    engine_->PushSync(Ok([&, i] { seen[3 * i + 2].store(value + 1); }), cpu_, {v, v}, {});
  }
  ASSERT_TRUE(engine_->WaitForAll().ok());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(seen[3 * i].load(), i * 10) << "read after write " << i;
    EXPECT_EQ(seen[3 * i + 1].load(), i * 10) << "read after write " << i;
    EXPECT_EQ(seen[3 * i + 2].load(), i * 10 + 1) << "read after write " << i;
  }
  EXPECT_EQ(engine_->VarVersion(v), 100u);
}

TEST_P(EngineTest, VersionCountsCompletedWritesOncePerOperation) {
  VarHandle a = engine_->NewVariable();
  VarHandle b = engine_->NewVariable();
  EXPECT_EQ(engine_->VarVersion(a), 0u);
  engine_->PushSync(Ok([] {}), cpu_, {}, {a});
  engine_->PushSync(Ok([] {}), cpu_, {a}, {b});
  // Duplicates within and across the lists: `a` is written once by this operation.
  engine_->PushSync(Ok([] {}), cpu_, {a, b, a}, {a, a});
  ASSERT_TRUE(engine_->WaitForAll().ok());
  EXPECT_EQ(engine_->VarVersion(a), 2u);
  EXPECT_EQ(engine_->VarVersion(b), 1u);
}

TEST_P(EngineTest, WaitForVarWaitsForPendingWritesOnly) {
  VarHandle v = engine_->NewVariable();
  VarHandle other = engine_->NewVariable();
  std::atomic<bool> written{false};
  testing::Event release_other;
  // A slow unrelated write that WaitForVar(v) must not wait for (threaded: it blocks until
  // released below; naive ran it already, so the event is set before it is pushed).
  if (GetParam() == EngineKind::kNaive) release_other.Notify();
  engine_->PushSync(Ok([&] { ASSERT_TRUE(release_other.WaitFor()); }), cpu_, {}, {other});
  engine_->PushSync(Ok([&] {
                      std::this_thread::sleep_for(std::chrono::milliseconds(20));
                      written = true;
                    }),
                    cpu_, {}, {v});
  ASSERT_TRUE(engine_->WaitForVar(v).ok());
  EXPECT_TRUE(written.load());
  release_other.Notify();
  EXPECT_TRUE(engine_->WaitForAll().ok());
}

TEST_P(EngineTest, WaitForVarUntilGivesUpAtTheDeadline) {
  VarHandle v = engine_->NewVariable();
  testing::Event release;  // outlives the operation waiting on it
  if (GetParam() == EngineKind::kThreaded) {
    engine_->PushSync(Ok([&] { ASSERT_TRUE(release.WaitFor()); }), cpu_, {}, {v});
    EXPECT_EQ(engine_->WaitForVarUntil(v, absl::Now() + absl::Milliseconds(20)).code(),
              absl::StatusCode::kDeadlineExceeded);
    release.Notify();
    EXPECT_TRUE(engine_->WaitForVar(v).ok());
  }
  engine_->PushSync([](const engine::RunContext&) { return absl::InternalError("boom"); },
                    cpu_, {}, {v});
  // The error of the work it waited for, once finished in time.
  EXPECT_EQ(engine_->WaitForVarUntil(v, absl::InfiniteFuture()).code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(engine_->WaitForVarUntil(v, absl::Now()).ok());
  EXPECT_TRUE(engine_->WaitForAll().code() == absl::StatusCode::kInternal);
}

TEST_P(EngineTest, WaitForAllWaitsForEverything) {
  std::atomic<int> done{0};
  std::vector<VarHandle> vars;
  for (int i = 0; i < 8; ++i) vars.push_back(engine_->NewVariable());
  for (int i = 0; i < 64; ++i) {
    engine_->PushSync(Ok([&] {
                        std::this_thread::sleep_for(std::chrono::microseconds(200));
                        done.fetch_add(1);
                      }),
                      cpu_, {}, {vars[i % 8]});
  }
  ASSERT_TRUE(engine_->WaitForAll().ok());
  EXPECT_EQ(done.load(), 64);
}

TEST_P(EngineTest, OperationsMayPushOperations) {
  VarHandle v = engine_->NewVariable();
  VarHandle w = engine_->NewVariable();
  int v_value = 0;
  int w_value = 0;
  engine_->PushSync(Ok([&] {
                      v_value = 5;
                      engine_->PushSync(Ok([&] { w_value = v_value + 1; }), cpu_, {v}, {w});
                    }),
                    cpu_, {}, {v});
  ASSERT_TRUE(engine_->WaitForAll().ok());
  EXPECT_EQ(w_value, 6);
  EXPECT_EQ(engine_->VarVersion(w), 1u);
}

TEST_P(EngineTest, DeleteVariableRunsAfterPendingOperations) {
  VarHandle v = engine_->NewVariable();
  std::vector<std::string> log;
  for (int i = 0; i < 3; ++i) {
    engine_->PushSync(Ok([&log, i] {
                        std::this_thread::sleep_for(std::chrono::milliseconds(5));
                        log.push_back("write" + std::to_string(i));
                      }),
                      cpu_, {}, {v});
  }
  std::atomic<bool> read_done{false};
  engine_->PushSync(Ok([&] {
                      std::this_thread::sleep_for(std::chrono::milliseconds(5));
                      read_done = true;
                    }),
                    cpu_, {v}, {});
  engine_->DeleteVariable(
      [&](const RunContext&) {
        EXPECT_TRUE(read_done.load());
        log.push_back("deleted");
      },
      cpu_, v);
  ASSERT_TRUE(engine_->WaitForAll().ok());
  EXPECT_THAT(log, ElementsAre("write0", "write1", "write2", "deleted"));
}

TEST_P(EngineTest, ManyVariablesCreatedAndDeleted) {
  const int n = 20000 / testing::kSanitizerSlowdown;
  std::atomic<int> written{0};
  std::atomic<int> deleted{0};
  for (int i = 0; i < n; ++i) {
    VarHandle v = engine_->NewVariable();
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(engine_->VarVersion(v), 0u);
    engine_->PushSync(Ok([&] { written.fetch_add(1); }), cpu_, {}, {v});
    engine_->DeleteVariable([&](const RunContext&) { deleted.fetch_add(1); }, cpu_, v);
  }
  ASSERT_TRUE(engine_->WaitForAll().ok());
  EXPECT_EQ(written.load(), n);
  EXPECT_EQ(deleted.load(), n);
}

TEST_P(EngineTest, DestroyingTheEngineWaitsForPendingWork) {
  std::atomic<int> done{0};
  VarHandle v = engine_->NewVariable();
  for (int i = 0; i < 20; ++i) {
    engine_->PushSync(Ok([&] {
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                        done.fetch_add(1);
                      }),
                      cpu_, {}, {v});
  }
  engine_.reset();
  EXPECT_EQ(done.load(), 20);
}

TEST_P(EngineTest, WaitingInsideAnOperationIsRefused) {
  VarHandle v = engine_->NewVariable();
  VarHandle busy = engine_->NewVariable();
  absl::Status wait_var, wait_all;
  bool inside = false;
  engine_->PushSync(Ok([] {}), cpu_, {}, {busy});
  engine_->PushSync(Ok([&] {
                      inside = InEngineOperation();
                      wait_var = engine_->WaitForVar(busy);
                      wait_all = engine_->WaitForAll();
                    }),
                    cpu_, {}, {v});
  ASSERT_TRUE(engine_->WaitForVar(v).ok());
  EXPECT_TRUE(inside);
  EXPECT_FALSE(InEngineOperation());
  EXPECT_EQ(wait_var.code(), absl::StatusCode::kFailedPrecondition) << wait_var;
  EXPECT_EQ(wait_all.code(), absl::StatusCode::kFailedPrecondition) << wait_all;
  EXPECT_TRUE(engine_->WaitForAll().ok());
}

TEST_P(EngineTest, AsyncOperationCompletesFromAnotherThread) {
  VarHandle v = engine_->NewVariable();
  VarHandle out = engine_->NewVariable();
  int64_t value = 0;
  int64_t copied = -1;
  std::vector<std::thread> threads;
  engine_->PushAsync(
      [&](const RunContext&, CallbackOnComplete on_complete) {
        threads.emplace_back([&value, on_complete] {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          value = 42;
          on_complete();
        });
      },
      cpu_, {}, {v}, {FnProperty::kAsync, 0, "async_write"});
  // Must wait for the callback, not for the async function's return.
  engine_->PushSync(Ok([&] { copied = value; }), cpu_, {v}, {out});
  ASSERT_TRUE(engine_->WaitForVar(out).ok());
  EXPECT_EQ(copied, 42);
  EXPECT_EQ(engine_->VarVersion(v), 1u);
  ASSERT_TRUE(engine_->WaitForAll().ok());
  for (std::thread& t : threads) t.join();
}

TEST_P(EngineTest, AsyncOperationMayCompleteInline) {
  VarHandle v = engine_->NewVariable();
  int calls = 0;
  for (int i = 0; i < 1000; ++i) {
    engine_->PushAsync(
        [&calls](const RunContext&, CallbackOnComplete on_complete) {
          ++calls;
          on_complete();
        },
        cpu_, {}, {v}, {FnProperty::kAsync});
  }
  ASSERT_TRUE(engine_->WaitForVar(v).ok());
  EXPECT_EQ(calls, 1000);
  EXPECT_EQ(engine_->VarVersion(v), 1000u);
}

TEST_P(EngineTest, GpuAndPriorityContextsRunWithoutAGpu) {
  VarHandle v = engine_->NewVariable();
  std::vector<std::string> ran;
  struct Case {
    Context ctx;
    FnProperty property;
    const char* name;
  };
  const Case cases[] = {
      {Context::Gpu(0), FnProperty::kNormal, "gpu0"},
      {Context::Gpu(0), FnProperty::kCopyToGPU, "gpu0-copy-to"},
      {Context::Gpu(0), FnProperty::kCopyFromGPU, "gpu0-copy-from"},
      {Context::Gpu(3), FnProperty::kNormal, "gpu3"},
      {Context::Cpu(), FnProperty::kCPUPrioritized, "cpu-prio"},
      {Context::Cpu(1), FnProperty::kNormal, "cpu1"},
      {Context::CpuPinned(0), FnProperty::kNormal, "cpu-pinned"},
  };
  for (const Case& c : cases) {
    engine_->PushSync(
        [&ran, c](const RunContext& rc) {
          EXPECT_EQ(rc.ctx, c.ctx);
          ran.push_back(c.name);
          return absl::OkStatus();
        },
        c.ctx, {}, {v}, {c.property, 1, c.name});
  }
  ASSERT_TRUE(engine_->WaitForAll().ok());
  EXPECT_THAT(ran, ElementsAre("gpu0", "gpu0-copy-to", "gpu0-copy-from", "gpu3", "cpu-prio",
                               "cpu1", "cpu-pinned"));
}

}  // namespace
}  // namespace mxgrid::engine
