// EngineOptionsFromEnv, CreateEngine and the process-wide engine.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/base/context.h"
#include "libs/engine/engine.h"

namespace mxgrid::engine {
namespace {

using ::testing::HasSubstr;

// Sets (or unsets, for nullopt) an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value.has_value()) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(EngineOptionsTest, DefaultsWithoutEnvironment) {
  ScopedEnv kind("MXGRID_ENGINE", std::nullopt);
  ScopedEnv threads("MXGRID_CPU_WORKER_NTHREADS", std::nullopt);
  absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->kind, EngineKind::kThreaded);
  EXPECT_EQ(options->cpu_worker_threads, 0);
}

TEST(EngineOptionsTest, ParsesKindAndThreadCount) {
  {
    ScopedEnv kind("MXGRID_ENGINE", "naive");
    ScopedEnv threads("MXGRID_CPU_WORKER_NTHREADS", "8");
    absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->kind, EngineKind::kNaive);
    EXPECT_EQ(options->cpu_worker_threads, 8);
  }
  ScopedEnv kind("MXGRID_ENGINE", "threaded");
  ScopedEnv threads("MXGRID_CPU_WORKER_NTHREADS", "1");
  absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->kind, EngineKind::kThreaded);
  EXPECT_EQ(options->cpu_worker_threads, 1);
}

TEST(EngineOptionsTest, RejectsAnUnknownEngineKind) {
  ScopedEnv kind("MXGRID_ENGINE", "ThreadedEnginePooled");
  absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("ThreadedEnginePooled"));
}

TEST(EngineOptionsTest, RejectsMalformedThreadCounts) {
  ScopedEnv kind("MXGRID_ENGINE", std::nullopt);
  for (const char* bad : {"0", "-2", "two", "4x", "1.5", "99999999999"}) {
    ScopedEnv threads("MXGRID_CPU_WORKER_NTHREADS", bad);
    absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
    ASSERT_FALSE(options.ok()) << bad;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(options.status().message()), HasSubstr(bad));
  }
}

TEST(EngineOptionsTest, CreateEngineMakesTheRequestedKind) {
  for (EngineKind kind : {EngineKind::kThreaded, EngineKind::kNaive}) {
    EngineOptions options;
    options.kind = kind;
    options.cpu_worker_threads = 1;
    std::unique_ptr<Engine> engine = CreateEngine(options);
    VarHandle v = engine->NewVariable();
    bool pushing_thread_ran_it = false;
    const std::thread::id me = std::this_thread::get_id();
    engine->PushSync(
        [&](const RunContext&) {
          pushing_thread_ran_it = std::this_thread::get_id() == me;
          return absl::OkStatus();
        },
        Context::Cpu(), {}, {v});
    // Naive ran it before PushSync returned, in this thread; threaded on a worker.
    if (kind == EngineKind::kNaive) {
      EXPECT_TRUE(pushing_thread_ran_it);
    }
    ASSERT_TRUE(engine->WaitForVar(v).ok());
    if (kind == EngineKind::kThreaded) {
      EXPECT_FALSE(pushing_thread_ran_it);
    }
  }
}

TEST(EngineOptionsDeathTest, GetAbortsOnAMalformedEnvironment) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ScopedEnv kind("MXGRID_ENGINE", "turbo");
  EXPECT_DEATH(Get(), "MXGRID_ENGINE='turbo'");
}

TEST(EngineOptionsTest, GetReturnsOneWorkingEngine) {
  ScopedEnv kind("MXGRID_ENGINE", std::nullopt);
  Engine* engine = Get();
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(Get(), engine);
  VarHandle v = engine->NewVariable();
  int value = 0;
  engine->PushSync(
      [&value](const RunContext&) {
        value = 7;
        return absl::OkStatus();
      },
      Context::Cpu(), {}, {v});
  ASSERT_TRUE(engine->WaitForVar(v).ok());
  EXPECT_EQ(value, 7);
  engine->DeleteVariable(nullptr, Context::Cpu(), v);
  EXPECT_TRUE(engine->WaitForAll().ok());
}

TEST(EngineOptionsTest, ConfiguringTheProcessEngineAfterItExistsIsRefused) {
  Get();
  EXPECT_EQ(ConfigureProcessEngine(EngineOptions()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(EngineOptionsTest, NiceFromTheEnvironment) {
  {
    ScopedEnv nice("MXGRID_CPU_WORKER_NICE", "7");
    absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->cpu_worker_nice, 7);
  }
  for (const char* bad : {"20", "-21", "x"}) {
    ScopedEnv nice("MXGRID_CPU_WORKER_NICE", bad);
    EXPECT_EQ(EngineOptionsFromEnv().status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(EngineOptionsTest, CpuWorkersRunAtTheirNiceValue) {
  EngineOptions options;
  options.cpu_worker_threads = 1;
  options.cpu_worker_nice = 5;
  std::unique_ptr<Engine> engine = CreateEngine(options);
  // Raising a nice value needs no privilege; a test run already above 5 stays where it is.
  const int before = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  int seen = -100;
  engine->PushSync(
      [&seen](const RunContext&) {
        errno = 0;
        seen = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
        return absl::OkStatus();
      },
      Context::Cpu(), {}, {});
  ASSERT_TRUE(engine->WaitForAll().ok());
  EXPECT_EQ(seen, std::max(5, before));
}

}  // namespace
}  // namespace mxgrid::engine
