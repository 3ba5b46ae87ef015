// Helpers shared by the engine tests: one-shot events and latches with timeouts (so a test
// that expects concurrency fails instead of hanging), and the engine-kind parameter.
//
// Thread-safety: Event and Latch are thread-safe.
#ifndef MXGRID_LIBS_ENGINE_ENGINE_TEST_UTIL_H_
#define MXGRID_LIBS_ENGINE_ENGINE_TEST_UTIL_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "libs/base/mutex.h"
#include "libs/engine/engine.h"

namespace mxgrid::engine::testing {

// Long enough never to expire on a loaded machine when the engine is right.
inline constexpr std::chrono::seconds kTimeout{10};

class Event {
 public:
  void Notify() {
    base::MutexLock lock(&mu_);
    done_ = true;
    cv_.SignalAll();
  }
  // True if notified within `timeout`.
  bool WaitFor(std::chrono::nanoseconds timeout = kTimeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    base::MutexLock lock(&mu_);
    while (!done_) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      cv_.WaitFor(deadline - now);
    }
    return true;
  }
  bool notified() {
    base::MutexLock lock(&mu_);
    return done_;
  }

 private:
  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// `count` parties arrive; each waits until all have (or the timeout passes).
class Latch {
 public:
  explicit Latch(int count) : count_(count) {}
  // True if every party arrived within `timeout`.
  bool ArriveAndWait(std::chrono::nanoseconds timeout = kTimeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    base::MutexLock lock(&mu_);
    if (--count_ <= 0) cv_.SignalAll();
    while (count_ > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      cv_.WaitFor(deadline - now);
    }
    return true;
  }

 private:
  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  int count_ ABSL_GUARDED_BY(mu_);
};

inline std::string KindName(EngineKind kind) {
  return kind == EngineKind::kThreaded ? "Threaded" : "Naive";
}

// Fixture for tests that run on both engine kinds; engine_ is a fresh engine of the kind.
//   class EngineTest : public testing::BothEnginesTest {};
//   INSTANTIATE_TEST_SUITE_P(AllKinds, EngineTest, testing::AllEngineKinds(),
//                            testing::KindParamName);
class BothEnginesTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  void SetUp() override { engine_ = NewEngine(); }

  std::unique_ptr<Engine> NewEngine() const {
    EngineOptions options;
    options.kind = GetParam();
    return CreateEngine(options);
  }

  std::unique_ptr<Engine> engine_;
  const Context cpu_ = Context::Cpu();
};

inline auto AllEngineKinds() {
  return ::testing::Values(EngineKind::kThreaded, EngineKind::kNaive);
}

inline std::string KindParamName(const ::testing::TestParamInfo<EngineKind>& info) {
  return KindName(info.param);
}

// Iteration counts are divided by this under ThreadSanitizer (about 10x slower).
#if defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 4;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

}  // namespace mxgrid::engine::testing

#endif  // MXGRID_LIBS_ENGINE_ENGINE_TEST_UTIL_H_
