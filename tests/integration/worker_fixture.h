// WorkerProcessTest: the fixture of the worker integration tests. It starts a compiler and a
// worker that uses it (--lease=60s) once per test suite, opens a session per test (w_) and
// closes it afterwards.
//
// Thread-safety: as any gtest fixture; the helpers may be called from the test's own thread.
#ifndef MXGRID_TESTS_INTEGRATION_WORKER_FIXTURE_H_
#define MXGRID_TESTS_INTEGRATION_WORKER_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"

namespace mxgrid::integration {

inline constexpr char kCompiler[] = "services/compiler/mxgrid-compiler";
inline constexpr char kWorker[] = "services/worker/mxgrid-worker";

// A compiler and a worker that uses it, started once for the suite.
class WorkerProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> compiler =
        ServerProcess::Start({.binary = kCompiler});
    ASSERT_TRUE(compiler.ok()) << compiler.status();
    compiler_ = compiler->release();
    absl::StatusOr<std::unique_ptr<ServerProcess>> worker = ServerProcess::Start(
        {.binary = kWorker,
         .args = {absl::StrCat("--compiler=", compiler_->address()), "--lease=60s"}});
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = worker->release();
  }
  static void TearDownTestSuite() {
    for (ServerProcess** p : {&worker_, &compiler_}) {
      if (*p == nullptr) continue;
      absl::StatusOr<int> status = (*p)->Stop();
      EXPECT_TRUE(status.ok() && *status == 0) << (*p)->Log();
      delete *p;
      *p = nullptr;
    }
  }
  void SetUp() override {
    ASSERT_NE(worker_, nullptr);
    w_ = std::make_unique<WorkerClient>(worker_->NewChannel());
    ASSERT_TRUE(w_->Open().ok());
  }
  void TearDown() override {
    if (w_ != nullptr && !w_->session().empty()) w_->Close();
  }

  std::vector<float> Get(uint64_t handle) {
    std::vector<float> out;
    const grpc::Status s = w_->DownloadFloats(handle, &out);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return out;
  }
  uint64_t Put(const std::vector<int64_t>& shape, const std::vector<float>& values) {
    uint64_t h = 0;
    const grpc::Status s = w_->UploadFloats(shape, values, &h);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return h;
  }

  // ListDevices' used_by_arrays_bytes of cpu(0): bytes of arrays held by all sessions.
  int64_t ArrayBytesOnCpu0() {
    v1::ListDevicesResponse response;
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->ListDevices(&context, {}, &response);
    EXPECT_TRUE(s.ok()) << Describe(s);
    for (const v1::Device& d : response.devices()) {
      if (d.context().type() == v1::CPU && d.context().id() == 0) return d.used_by_arrays_bytes();
    }
    ADD_FAILURE() << "no cpu(0)";
    return 0;
  }

  static inline ServerProcess* compiler_ = nullptr;
  static inline ServerProcess* worker_ = nullptr;
  std::unique_ptr<WorkerClient> w_;
};

}  // namespace mxgrid::integration

#endif  // MXGRID_TESTS_INTEGRATION_WORKER_FIXTURE_H_
