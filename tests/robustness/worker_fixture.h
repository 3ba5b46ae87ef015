// LiveWorkerTest: a gtest fixture for red-team scenarios that start their own mxgrid-worker
// with scenario-specific flags, and check after each test that it is still alive
// (CheckServing) and stops cleanly (exit status 0).
//
//   TEST_F(LiveWorkerTest, Something) {
//     StartWorker({"--session_max_queued_ops=3"});
//     ... worker_->NewChannel() ...
//   }
//
// Thread-safety: as any gtest fixture.
#ifndef MXGRID_TESTS_ROBUSTNESS_WORKER_FIXTURE_H_
#define MXGRID_TESTS_ROBUSTNESS_WORKER_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "tests/robustness/live_server.h"

namespace mxgrid::robustness {

class LiveWorkerTest : public ::testing::Test {
 protected:
  void StartWorker(std::vector<std::string> args) {
    absl::StatusOr<std::unique_ptr<integration::ServerProcess>> started =
        StartServer(ServerKind::kWorker, std::move(args));
    ASSERT_TRUE(started.ok()) << started.status();
    worker_ = std::move(*started);
  }
  void TearDown() override {
    if (worker_ == nullptr) return;
    const absl::Status alive = CheckServing(*worker_, ServerKind::kWorker);
    EXPECT_TRUE(alive.ok()) << alive;
    absl::StatusOr<int> exit = worker_->Stop();
    EXPECT_TRUE(exit.ok() && *exit == 0)
        << (exit.ok() ? absl::StrCat("exit status ", *exit) : exit.status().ToString()) << "\n"
        << worker_->Log();
  }

  std::unique_ptr<integration::ServerProcess> worker_;
};

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_WORKER_FIXTURE_H_
