// Honest memory accounting and per-session quotas: tiny handles by the hundred thousand
// against a session's memory quota (each handle, its storage and its queued operation are
// charged), handle and executor quotas, the worker's resident memory bounded by what it
// accounts and returning close to where it was once the session closes; and a stopped
// (SIGSTOP) worker that ends its clients' calls at their deadlines and serves on after
// SIGCONT.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/live_server.h"
#include "tests/robustness/load.h"
#include "tests/robustness/worker_fixture.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::FloatMeta;
using integration::ServerProcess;
using integration::SetTimeout;
using integration::WorkerClient;

constexpr int64_t kMiB = 1 << 20;

// Resident memory of `pid` in bytes (VmRSS), or -1.
int64_t ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, "VmRSS:")) continue;
    int64_t kb = 0;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    if (absl::SimpleAtoi(digits, &kb)) return kb * 1024;
  }
  return -1;
}

// The state letter of `pid` in /proc/PID/stat ('R', 'S', 'T' for stopped, ...); '?' if unknown.
char ProcessState(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');  // the command name may contain spaces
  return paren != std::string::npos && paren + 2 < text.size() ? text[paren + 2] : '?';
}

using MemoryQuotaTest = LiveWorkerTest;

// Up to a million zero-size `_copy` outputs, 1000 per InvokeBatch, until the session's
// 64 MiB quota refuses one.
TEST_F(MemoryQuotaTest, TinyHandlesStopAtTheSessionQuotaAndTheMemoryComesBack) {
  StartWorker({"--session_memory_mb=64"});
  WorkerClient w(worker_->NewChannel());
  ASSERT_TRUE(w.Open().ok());
  uint64_t empty = 0;
  ASSERT_TRUE(w.Create(FloatMeta({0}), 0, &empty).ok());
  ASSERT_TRUE(w.Wait({empty}).ok());
  const int64_t baseline = ResidentBytes(worker_->pid());
  ASSERT_GT(baseline, 0);

  v1::InvokeBatchRequest batch;
  batch.set_session(w.session());
  for (int i = 0; i < 1000; ++i) {
    v1::InvokeRequest* call = batch.add_calls();
    call->set_op("_copy");
    call->add_inputs(empty);
  }
  int64_t created = 0;
  grpc::Status refused;
  while (created < 1000000) {
    v1::InvokeBatchResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(60));
    const grpc::Status s = w.stub()->InvokeBatch(&context, batch, &response);
    if (!s.ok()) {
      refused = s;
      break;
    }
    created += response.results_size();
  }
  ASSERT_TRUE(w.Wait({}).ok());
  const int64_t peak = ResidentBytes(worker_->pid());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(refused);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "memory quota"))
      << refused.error_message();
  // Each handle costs a few hundred bytes of accounted memory: 64 MiB holds ~100k of them.
  EXPECT_GT(created, 50000);
  EXPECT_LT(created, 400000);
  // What the worker really holds stays near what it accounts for.
  EXPECT_LT(peak - baseline, 96 * kMiB) << "resident grew by " << (peak - baseline) / kMiB
                                        << " MiB for " << created << " handles";

  // Other sessions are not refused because this one is full.
  absl::StatusOr<std::unique_ptr<TinyOpVictim>> other = TinyOpVictim::Open(worker_->NewChannel());
  ASSERT_TRUE(other.ok()) << other.status();
  const grpc::Status step = (*other)->Step(absl::Seconds(10));
  EXPECT_TRUE(step.ok()) << Describe(step);

  ASSERT_TRUE(w.Close().ok());
  // Most of it goes back to the system (what stays: malloc's fragments, engine pools).
  const int64_t allowed = std::max<int64_t>(16 * kMiB, (peak - baseline) / 4);
  int64_t after = peak;
  for (const absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(200));
    after = ResidentBytes(worker_->pid());
    if (after - baseline < allowed) break;
  }
  EXPECT_LT(after - baseline, allowed)
      << "resident: baseline " << baseline / kMiB << " MiB, peak " << peak / kMiB
      << " MiB, after closing " << after / kMiB << " MiB";
  std::printf("%lld handles in a 64 MiB quota; resident: baseline %lld MiB, peak %lld MiB, "
              "after closing %lld MiB\n",
              static_cast<long long>(created), static_cast<long long>(baseline / kMiB),
              static_cast<long long>(peak / kMiB), static_cast<long long>(after / kMiB));
}

TEST_F(MemoryQuotaTest, HandleAndExecutorQuotas) {
  StartWorker({"--session_max_handles=40", "--session_max_executors=1"});
  WorkerClient w(worker_->NewChannel());
  ASSERT_TRUE(w.Open().ok());
  std::vector<uint64_t> handles;
  for (int i = 0; i < 40; ++i) {
    uint64_t h = 0;
    ASSERT_TRUE(w.Create(FloatMeta({2}), 1, &h).ok());
    handles.push_back(h);
  }
  uint64_t h = 0;
  grpc::Status s = w.Create(FloatMeta({2}), 1, &h);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "quota")) << s.error_message();
  ASSERT_TRUE(w.Free({handles.back()}).ok());
  handles.pop_back();
  EXPECT_TRUE(w.Create(FloatMeta({2}), 1, &h).ok());
  handles.push_back(h);
  ASSERT_TRUE(w.Free(handles).ok());

  // SimpleBind registers an executor's arguments, gradients and outputs. The second
  // executor is past the quota, and what it registered before the refusal is freed again.
  v1::SimpleBindRequest bind;
  bind.set_session(w.session());
  bind.mutable_symbol()->set_json(integration::MlpJson({.hidden = 4, .outputs = 2}));
  (*bind.mutable_inputs())["data"] = FloatMeta({2, 3});
  bind.set_grad_req("write");
  for (int i = 0; i < 2; ++i) {
    v1::DescribeArraysResponse before, after;
    ASSERT_TRUE(w.Describe({}, &before).ok());
    v1::BindResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    s = w.stub()->SimpleBind(&context, bind, &response);
    ASSERT_TRUE(w.Describe({}, &after).ok());
    if (i == 0) {
      ASSERT_TRUE(s.ok()) << Describe(s);
      EXPECT_GT(after.arrays_size(), before.arrays_size());
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
      EXPECT_TRUE(absl::StrContains(s.error_message(), "executors")) << s.error_message();
      EXPECT_EQ(after.arrays_size(), before.arrays_size());
    }
  }
}

TEST_F(MemoryQuotaTest, AStoppedWorkerEndsCallsAtTheirDeadlineAndServesAfterResuming) {
  StartWorker({});
  WorkerClient w(worker_->NewChannel());
  ASSERT_TRUE(w.Open().ok());
  uint64_t a = 0;
  ASSERT_TRUE(w.UploadFloats({2}, {1, 2}, &a).ok());
  worker_->Signal(SIGSTOP);
  // The signal is delivered asynchronously: wait until the kernel reports it stopped.
  for (const absl::Time until = absl::Now() + absl::Seconds(5);
       ProcessState(worker_->pid()) != 'T' && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(ProcessState(worker_->pid()), 'T');
  {
    v1::InvokeRequest request;
    request.set_session(w.session());
    request.set_op("_plus_scalar");
    (*request.mutable_attrs())["scalar"] = "1";
    request.add_inputs(a);
    v1::InvokeResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Milliseconds(500));
    const absl::Time start = absl::Now();
    const grpc::Status s = w.stub()->Invoke(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(s);
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }
  worker_->Signal(SIGCONT);
  std::vector<float> values;
  const grpc::Status s = w.DownloadFloats(a, &values);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(values, (std::vector<float>{1, 2}));
}

}  // namespace
}  // namespace mxgrid::robustness
