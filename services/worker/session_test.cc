#include "services/worker/session.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::services {
namespace {

using ::testing::HasSubstr;
using tensor::NDArray;

TEST(SessionTest, HandlesArePickedOrChosen) {
  Session s("id", "test", absl::Seconds(10));
  NDArray a = *NDArray::Ones({2});
  absl::StatusOr<uint64_t> picked = s.AddArray(0, a);
  ASSERT_TRUE(picked.ok());
  EXPECT_GE(*picked, kFirstWorkerHandle);
  EXPECT_EQ(*s.AddArray(7, a), 7u);
  EXPECT_EQ(s.AddArray(7, a).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.AddArray(kFirstWorkerHandle + 5, a).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(s.Array(7).ok());
  EXPECT_EQ(s.Array(8).status().code(), absl::StatusCode::kNotFound);
  // Views of one storage count once.
  EXPECT_EQ(s.ArrayBytes(), 8);
}

TEST(SessionTest, AddArraysIsAllOrNothing) {
  Session s("id", "test", absl::Seconds(10));
  NDArray a = *NDArray::Ones({2});
  ASSERT_TRUE(s.AddArray(3, a).ok());
  std::vector<NDArray> two = {a, a};
  EXPECT_EQ(s.AddArrays({4, 3}, two).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.Array(4).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.AddArrays({5, 5}, two).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<uint64_t>> added = s.AddArrays({5, 0}, two);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ((*added)[0], 5u);
  EXPECT_GE((*added)[1], kFirstWorkerHandle);
}

TEST(SessionTest, FreeDropsKnownHandlesAndNamesUnknownOnes) {
  Session s("id", "test", absl::Seconds(10));
  NDArray a = *NDArray::Ones({2});
  ASSERT_TRUE(s.AddArray(1, a).ok());
  ASSERT_TRUE(s.AddArray(2, a).ok());
  absl::Status st = s.Free({1, 9, 2});
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(st.message().find("9"), absl::string_view::npos);
  EXPECT_TRUE(s.ListArrays().empty());
}

TEST(SessionTableTest, OpenFindCloseAndExpire) {
  SessionTable table({.default_lease = absl::Seconds(30)});
  std::shared_ptr<Session> a = *table.Open(absl::ZeroDuration(), "a");
  std::shared_ptr<Session> b = *table.Open(absl::Seconds(1), "b");
  EXPECT_NE(a->id(), b->id());
  EXPECT_EQ(a->lease(), absl::Seconds(30));
  EXPECT_TRUE(table.Find(a->id()).ok());
  EXPECT_EQ(table.Find("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table.ReapExpired(absl::Now() + absl::Seconds(5)), 1);  // b only
  EXPECT_EQ(table.Find(b->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(table.Close(a->id()).ok());
  EXPECT_EQ(table.Close(a->id()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table.size(), 0);
}

TEST(SessionTableTest, TheReaperFreesExpiredSessions) {
  SessionTable table({.default_lease = absl::Milliseconds(50),
                      .reap_interval = absl::Milliseconds(10)});
  std::weak_ptr<Session> s = *table.Open(absl::ZeroDuration(), "short");
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!s.expired() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(s.expired());
}

TEST(SessionTableTest, LeaseIsCapped) {
  SessionTable table({.default_lease = absl::Seconds(1), .max_lease = absl::Seconds(5)});
  EXPECT_EQ((*table.Open(absl::Hours(1), "greedy"))->lease(), absl::Seconds(5));
}

TEST(SessionTableTest, SessionLimitsPerWorkerAndPerClient) {
  SessionTable table({.max_sessions = 3, .max_sessions_per_client = 2});
  ASSERT_TRUE(table.Open(absl::ZeroDuration(), "a1", "ipv4:10.0.0.1").ok());
  absl::StatusOr<std::shared_ptr<Session>> a2 =
      table.Open(absl::ZeroDuration(), "a2", "ipv4:10.0.0.1");
  ASSERT_TRUE(a2.ok());
  absl::StatusOr<std::shared_ptr<Session>> a3 =
      table.Open(absl::ZeroDuration(), "a3", "ipv4:10.0.0.1");
  EXPECT_EQ(a3.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(a3.status().message(), HasSubstr("--max_sessions_per_client"));
  // Another client is not affected, up to the worker's own limit.
  ASSERT_TRUE(table.Open(absl::ZeroDuration(), "b1", "cert:bob").ok());
  EXPECT_THAT(table.Open(absl::ZeroDuration(), "b2", "cert:bob").status().message(),
              HasSubstr("--max_sessions"));
  // Closing one gives the client its room back.
  ASSERT_TRUE(table.Close((*a2)->id()).ok());
  EXPECT_TRUE(table.Open(absl::ZeroDuration(), "a3", "ipv4:10.0.0.1").ok());
}

TEST(SessionTableTest, CallsPerSecondPerSession) {
  SessionTable table({.calls_per_second = 5});
  std::shared_ptr<Session> busy = *table.Open(absl::ZeroDuration(), "busy");
  std::shared_ptr<Session> calm = *table.Open(absl::ZeroDuration(), "calm");
  int allowed = 0;
  absl::Status refused;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::shared_ptr<Session>> s = table.Find(busy->id());
    if (s.ok()) {
      ++allowed;
    } else {
      refused = s.status();
    }
  }
  EXPECT_GE(allowed, 5);
  EXPECT_LE(allowed, 7);  // a burst of one second's worth (plus what accrues meanwhile)
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("calls per second"));
  EXPECT_TRUE(table.Find(calm->id()).ok());  // its own budget
}

TEST(SessionTest, HandleQuotaAndHandleMemory) {
  Session s("0123456789abcdef", "quota", absl::Seconds(30), {.max_handles = 2});
  NDArray a = *NDArray::Zeros(Shape{1}, Context::Cpu());
  const int64_t before = s.memory()->used();
  ASSERT_TRUE(s.AddArray(0, a).ok());
  ASSERT_TRUE(s.AddArray(0, a).ok());
  EXPECT_EQ(s.memory()->used() - before, 2 * kHandleOverheadBytes);
  EXPECT_EQ(s.AddArray(0, a).status().code(), absl::StatusCode::kResourceExhausted);
  const uint64_t none[] = {0, 0};
  const NDArray two[] = {a, a};
  EXPECT_EQ(s.AddArrays(none, two).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.num_handles(), 2);
  const uint64_t first[] = {s.ListArrays().front().first};
  ASSERT_TRUE(s.Free(first).ok());
  EXPECT_EQ(s.memory()->used() - before, kHandleOverheadBytes);
  EXPECT_TRUE(s.AddArray(0, a).ok());
}

TEST(SessionTest, ShmRegionsCountAsHandlesAndBelongToTheirSession) {
  const std::string name = "/mxgrid-session-test-" + std::to_string(getpid());
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  Session s("id", "test", absl::Seconds(10), {.max_handles = 2});
  Session other("other", "test", absl::Seconds(10));
  const int64_t used = s.memory()->used();
  absl::StatusOr<uint64_t> r = s.AddShmRegion(*shm::Region::Open(name, 4096));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(s.memory()->used(), used + kHandleOverheadBytes);
  EXPECT_TRUE(s.ShmRegion(*r).ok());
  EXPECT_EQ(other.ShmRegion(*r).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(s.AddArray(0, *NDArray::Ones({2})).ok());
  EXPECT_EQ(s.AddShmRegion(*shm::Region::Open(name, 4096)).status().code(),
            absl::StatusCode::kResourceExhausted);  // two handles: an array and a region
  EXPECT_TRUE(s.RemoveShmRegion(*r).ok());
  EXPECT_EQ(s.memory()->used(), used + kHandleOverheadBytes);  // the array's
  EXPECT_EQ(s.RemoveShmRegion(*r).code(), absl::StatusCode::kNotFound);
  close(fd);
  shm_unlink(name.c_str());
}

TEST(SessionTest, ExecutorQuota) {
  Session s("0123456789abcdef", "quota", absl::Seconds(30), {.max_executors = 1});
  EXPECT_TRUE(s.AddExecutor(std::make_shared<BoundExecutor>()).ok());
  EXPECT_EQ(s.AddExecutor(std::make_shared<BoundExecutor>()).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SessionTableTest, ClosingCancelsQueuedWorkAndReportsActiveAndDrainedSessions) {
  std::atomic<int> released{0};
  std::atomic<int> most_active{0};
  SessionTable table({.reap_interval = absl::Milliseconds(10),
                      .on_session_memory_released = [&] { ++released; },
                      .on_active_sessions =
                          [&](int n) {
                            if (n > most_active) most_active = n;
                          }});
  std::shared_ptr<Session> a = *table.Open(absl::ZeroDuration(), "a");
  std::shared_ptr<Session> b = *table.Open(absl::ZeroDuration(), "b");
  ASSERT_TRUE(table.Find(a->id()).ok());
  ASSERT_TRUE(table.Find(b->id()).ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (most_active < 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(most_active.load(), 2);
  const std::shared_ptr<engine::Flow> flow = a->flow();
  const std::string id = a->id();
  a.reset();
  ASSERT_TRUE(table.Close(id).ok());
  EXPECT_TRUE(flow->cancelled());
  EXPECT_FALSE(b->flow()->cancelled());
  while (released == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_GE(released.load(), 1);
}

}  // namespace
}  // namespace mxgrid::services
