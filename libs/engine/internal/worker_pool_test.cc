#include "libs/engine/internal/worker_pool.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "libs/engine/internal/opr_block.h"

namespace mxgrid::engine::internal {
namespace {

using SpinBudget = WorkerPool::SpinBudget;

std::atomic<int> runs{0};

void CountRun(OprBlock*) { runs.fetch_add(1); }

// Waits (up to 10 s) until `n` operations ran; false if they did not.
bool WaitForRuns(int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (runs.load() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  return true;
}

// Two workers that count what they run (in `runs`).
WorkerPool::Options CountingPool() {
  WorkerPool::Options options;
  options.name = "pool-test";
  options.threads = 2;
  options.executor = &CountRun;
  return options;
}

TEST(SpinBudgetTest, HalvesToItsFloorAndDoublesBackToItsCap) {
  SpinBudget budget;
  EXPECT_EQ(budget.spins, SpinBudget::kMaxSpins);
  EXPECT_EQ(budget.yields(), SpinBudget::kMaxYields);
  budget.Wasted();
  EXPECT_EQ(budget.spins, SpinBudget::kMaxSpins / 2);
  EXPECT_EQ(budget.yields(), SpinBudget::kMaxYields / 2);
  for (int i = 0; i < 20; ++i) budget.Wasted();
  EXPECT_EQ(budget.spins, SpinBudget::kMinSpins);
  EXPECT_LT(budget.yields(), 1);  // at the floor a worker spins a little and sleeps
  budget.Paid();
  EXPECT_EQ(budget.spins, 2 * SpinBudget::kMinSpins);
  for (int i = 0; i < 20; ++i) budget.Paid();
  EXPECT_EQ(budget.spins, SpinBudget::kMaxSpins);
  EXPECT_EQ(budget.yields(), SpinBudget::kMaxYields);
}

// Work that comes in bursts with long gaps between them shrinks the workers' polling to its
// floor; each burst must still wake a worker and run.
TEST(WorkerPoolTest, RunsBurstsSeparatedByLongIdleGaps) {
  runs = 0;
  WorkerPool pool(CountingPool());
  std::vector<OprBlock> blocks(60);
  int pushed = 0;
  for (int burst = 0; burst < 15; ++burst) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (int i = 0; i < 4; ++i) pool.Push(&blocks[pushed++]);
    ASSERT_TRUE(WaitForRuns(pushed)) << "burst " << burst << ": " << runs.load() << " of "
                                     << pushed << " operations ran";
  }
}

// A steady stream from another thread runs completely too (polling grows back).
TEST(WorkerPoolTest, RunsASteadyStream) {
  runs = 0;
  WorkerPool pool(CountingPool());
  std::vector<OprBlock> blocks(20000);
  std::thread producer([&] {
    for (OprBlock& b : blocks) pool.Push(&b);
  });
  producer.join();
  EXPECT_TRUE(WaitForRuns(static_cast<int>(blocks.size()))) << runs.load() << " ran";
}

}  // namespace
}  // namespace mxgrid::engine::internal
