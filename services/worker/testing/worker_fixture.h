// A Worker service over a real gRPC server on a loopback port, planning with a real Compiler
// service in the same server (mxgrid-worker's own arrangement without --compiler), with one
// session open; and float32 tensor helpers. For the worker's service tests.
//
//   class MyTest : public WorkerFixture {};
//   TEST_F(MyTest, Round) { EXPECT_THAT(Download(Upload({2}, {1, 2})), ElementsAre(1, 2)); }
#ifndef MXGRID_SERVICES_WORKER_TESTING_WORKER_FIXTURE_H_
#define MXGRID_SERVICES_WORKER_TESTING_WORKER_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/common/server.h"
#include "services/compiler/compiler_service.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {

// A float32 tensor message of `shape` holding `values`.
v1::Tensor FloatTensor(std::vector<int64_t> shape, const std::vector<float>& values);
// The float32 values of a tensor message.
std::vector<float> Floats(const v1::Tensor& t);

class WorkerFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Adjusts the worker's options before it starts (limits, quotas); the default keeps them.
  virtual void Configure(WorkerOptions* options) {}

  // Uploads a float32 array into session_ (as `handle` when nonzero); its handle.
  uint64_t Upload(std::vector<int64_t> shape, const std::vector<float>& values,
                  uint64_t handle = 0);
  // The float32 values of `handle` in session_.
  std::vector<float> Download(uint64_t handle);

  std::unique_ptr<WorkerService> worker_;
  std::unique_ptr<CompilerService> compiler_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  std::string session_;  // opened by SetUp, 30 s lease
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_WORKER_TESTING_WORKER_FIXTURE_H_
