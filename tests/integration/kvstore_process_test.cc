// mxgrid-kvstore as a real process on loopback: a two-rank sync round, deadlines,
// cancellation, a 1 GiB value through the streams, the server-side optimizer, error codes and
// 16 concurrent clients in async mode. Each test runs its own job; each rank has its own
// connection (KVClient).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "tests/integration/kvstore_client.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"

namespace mxgrid::integration {
namespace {

using ::testing::ElementsAre;

constexpr char kKVStore[] = "services/kvstore/mxgrid-kvstore";

std::unique_ptr<ServerProcess> StartKVStore(std::vector<std::string> args) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> p =
      ServerProcess::Start({.binary = kKVStore, .args = std::move(args)});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

class KVStoreSyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = StartKVStore({"--num_workers=2", "--mode=sync"}).release();
  }
  static void TearDownTestSuite() {
    if (server_ == nullptr) return;
    absl::StatusOr<int> status = server_->Stop();
    EXPECT_TRUE(status.ok() && *status == 0) << server_->Log();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static ServerProcess* server_;
};
ServerProcess* KVStoreSyncTest::server_ = nullptr;

// Both ranks of `job` on their own connections, joined (2 workers, sync).
struct TwoRanks {
  TwoRanks(const ServerProcess& server, const std::string& job)
      : r0(server.NewChannel(), job, 0), r1(server.NewChannel(), job, 1) {
    EXPECT_TRUE(r0.Join(2).ok());
    EXPECT_TRUE(r1.Join(2).ok());
  }
  KVClient r0, r1;
};

TEST_F(KVStoreSyncTest, PullWaitsForBothRanksAndSeesTheSum) {
  TwoRanks ranks(*server_, "sum");
  ASSERT_TRUE(ranks.r0.Init("sum", FloatTensor({2}, {0, 0})).ok());
  ASSERT_TRUE(ranks.r1.Init("sum", FloatTensor({2}, {5, 5})).ok());  // ignored
  std::vector<float> got[2];
  grpc::Status pushed[2], pulled[2];
  std::atomic<bool> rank1_pushed{false};
  bool rank0_pulled_early = false;
  std::thread rank0([&] {
    pushed[0] = ranks.r0.Push("sum", {FloatTensor({2}, {1, 2})});
    pulled[0] = ranks.r0.Pull("sum", &got[0]);
    rank0_pulled_early = !rank1_pushed.load();
  });
  absl::SleepFor(absl::Milliseconds(300));  // rank 0's pull must be waiting meanwhile
  rank1_pushed = true;
  pushed[1] =
      ranks.r1.Push("sum", {FloatTensor({2}, {10, 20}), FloatTensor({2}, {100, 200})});
  pulled[1] = ranks.r1.Pull("sum", &got[1]);
  rank0.join();
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_TRUE(pushed[rank].ok()) << Describe(pushed[rank]);
    ASSERT_TRUE(pulled[rank].ok()) << Describe(pulled[rank]);
    EXPECT_THAT(got[rank], ElementsAre(111, 222)) << "rank " << rank;
  }
  EXPECT_FALSE(rank0_pulled_early) << "rank 0's pull returned before rank 1 pushed";
}

TEST_F(KVStoreSyncTest, PullPastItsDeadlineIsDeadlineExceeded) {
  TwoRanks ranks(*server_, "deadline");
  ASSERT_TRUE(ranks.r0.Init("deadline", FloatTensor({1}, {0})).ok());
  ASSERT_TRUE(ranks.r0.Push("deadline", {FloatTensor({1}, {1})}).ok());
  std::vector<float> got;
  const absl::Time start = absl::Now();
  const grpc::Status s = ranks.r0.Pull("deadline", &got, absl::Milliseconds(300));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(s);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Completing the round releases the value.
  ASSERT_TRUE(ranks.r1.Push("deadline", {FloatTensor({1}, {2})}).ok());
  ASSERT_TRUE(ranks.r0.Pull("deadline", &got).ok());
  EXPECT_THAT(got, ElementsAre(3));
}

TEST_F(KVStoreSyncTest, CancelledPullIsCancelledAndTheServerKeepsWorking) {
  TwoRanks ranks(*server_, "cancel");
  ASSERT_TRUE(ranks.r0.Init("cancel", FloatTensor({1}, {0})).ok());
  ASSERT_TRUE(ranks.r0.Push("cancel", {FloatTensor({1}, {5})}).ok());
  grpc::ClientContext context;
  grpc::Status s;
  std::thread puller([&] {
    std::vector<float> got;
    s = ranks.r0.Pull("cancel", &got, absl::Seconds(60), &context);
  });
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time cancelled_at = absl::Now();
  context.TryCancel();
  puller.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << Describe(s);
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
  // The server still serves, and the round still completes.
  ASSERT_TRUE(ranks.r1.Push("cancel", {FloatTensor({1}, {6})}).ok());
  std::vector<float> got;
  ASSERT_TRUE(ranks.r1.Pull("cancel", &got).ok());
  EXPECT_THAT(got, ElementsAre(11));
  EXPECT_EQ(HealthCheck(server_->NewChannel()), 1);
}

TEST_F(KVStoreSyncTest, ErrorsHaveTheirCodes) {
  TwoRanks ranks(*server_, "errors");
  KVClient& c = ranks.r0;
  std::vector<float> got;
  EXPECT_EQ(c.Pull("missing", &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(c.Push("missing", {FloatTensor({1}, {1})}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  {
    v1::PullStreamRequest request;
    c.SetRef("missing", 0, request.mutable_ref());
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(10));
    auto reader = c.stub()->PullStream(&context, request);
    v1::PullStreamResponse chunk;
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  ASSERT_TRUE(c.Init("shaped", FloatTensor({2, 2}, {1, 2, 3, 4})).ok());
  EXPECT_EQ(c.Init("shaped", FloatTensor({2, 2}, {1, 2, 3, 4})).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  // A push of another shape, of a short byte string, of a negative dim, of too many dims.
  EXPECT_EQ(c.Push("shaped", {FloatTensor({4}, {1, 2, 3, 4})}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::Tensor short_data = FloatTensor({2, 2}, {1, 2, 3, 4});
  short_data.mutable_data()->resize(7);
  EXPECT_EQ(c.Push("shaped", {short_data}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::Tensor negative = FloatTensor({2, 2}, {1, 2, 3, 4});
  negative.mutable_meta()->set_shape(0, -2);
  EXPECT_EQ(c.Init("negative", negative).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::Tensor deep;
  *deep.mutable_meta() = FloatMeta(std::vector<int64_t>(40, 1));
  deep.set_data(std::string(4, '\0'));
  EXPECT_EQ(c.Init("deep", deep).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  KVClient rank7(server_->NewChannel(), "errors", 7);
  EXPECT_EQ(rank7.Push("shaped", {FloatTensor({2, 2}, {1, 2, 3, 4})}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(c.Init("", FloatTensor({1}, {1})).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  KVClient stranger(server_->NewChannel(), "no-such-job", 0);
  EXPECT_EQ(stranger.Push("shaped", {FloatTensor({1}, {1})}).error_code(),
            grpc::StatusCode::NOT_FOUND);
  KVClient empty_job(server_->NewChannel(), "", 0);
  EXPECT_EQ(empty_job.Join(2).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // None of it changed the stored value.
  ASSERT_TRUE(c.Pull("shaped", &got).ok());
  EXPECT_THAT(got, ElementsAre(1, 2, 3, 4));
}

TEST(KVStoreOptimizerTest, SetOptimizerSgdUpdatesOnPush) {
  std::unique_ptr<ServerProcess> server = StartKVStore({});
  ASSERT_NE(server, nullptr);
  {
    KVClient c(server->NewChannel(), "opt", 0);
    ASSERT_TRUE(c.Join(1).ok());
    ASSERT_TRUE(c.Init("w", FloatTensor({3}, {1, 2, 3})).ok());
    grpc::Status s = c.SetOptimizer("sgd", {{"learning_rate", "0.5"}});
    ASSERT_TRUE(s.ok()) << Describe(s);
    ASSERT_TRUE(c.Push("w", {FloatTensor({3}, {2, 4, -2})}).ok());
    std::vector<float> got;
    ASSERT_TRUE(c.Pull("w", &got).ok());
    EXPECT_THAT(got, ElementsAre(0, 0, 4));  // w - 0.5 * g
    EXPECT_EQ(c.SetOptimizer("no_such_optimizer", {}).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }  // Closes the connection: an idle sync client answers the server's GOAWAY ping late.
  absl::StatusOr<int> status = server->Stop();
  EXPECT_TRUE(status.ok() && *status == 0) << server->Log();
}

class KVStoreAsyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = StartKVStore({"--mode=async"}).release(); }
  static void TearDownTestSuite() {
    if (server_ == nullptr) return;
    absl::StatusOr<int> status = server_->Stop();
    EXPECT_TRUE(status.ok() && *status == 0) << server_->Log();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static ServerProcess* server_;
};
ServerProcess* KVStoreAsyncTest::server_ = nullptr;

TEST_F(KVStoreAsyncTest, SixteenClientsOnTheirOwnKeys) {
  constexpr int kClients = 16;
  constexpr int kRounds = 20;
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      KVClient c(server_->NewChannel(), absl::StrCat("client", t), 0);
      const std::string key = absl::StrCat("client", t);
      grpc::Status s = c.Join(1, v1::KV_MODE_ASYNC);
      if (s.ok()) s = c.Init(key, FloatTensor({4}, {0, 0, 0, 0}));
      if (!s.ok()) {
        failures[t] = "init: " + Describe(s);
        return;
      }
      for (int r = 0; r < kRounds; ++r) {
        const float v = static_cast<float>(t * 1000 + r);
        s = c.Push(key, {FloatTensor({4}, {v, v, v, v}), FloatTensor({4}, {1, 2, 3, 4})});
        std::vector<float> got;
        if (s.ok()) s = c.Pull(key, &got);
        if (!s.ok()) {
          failures[t] = absl::StrCat("round ", r, ": ", Describe(s));
          return;
        }
        if (got != std::vector<float>{v + 1, v + 2, v + 3, v + 4}) {
          failures[t] = absl::StrCat("round ", r, ": got ", got[0], " expected ", v + 1);
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kClients; ++t) EXPECT_EQ(failures[t], "") << "client " << t;
  KVClient c(server_->NewChannel(), "client0", 0);
  v1::ListKeysResponse jobs;
  ASSERT_TRUE(c.ListKeys(&jobs, "").ok());
  EXPECT_GE(jobs.jobs_size(), kClients);
  v1::ListKeysResponse keys;
  ASSERT_TRUE(c.ListKeys(&keys).ok());
  EXPECT_THAT(keys.keys(), ElementsAre("client0"));
  EXPECT_EQ(keys.mode(), v1::KV_MODE_ASYNC);
}

TEST_F(KVStoreAsyncTest, PushPullReturnsTheSumOfTheList) {
  KVClient c(server_->NewChannel(), "pushpull", 0);
  ASSERT_TRUE(c.Join(1).ok());  // the shard's --mode: async
  ASSERT_TRUE(c.Init("pushpull", FloatTensor({2}, {0, 0})).ok());
  v1::PushPullRequest request;
  c.SetRef("pushpull", 0, request.mutable_ref());
  *request.add_values() = FloatTensor({2}, {1, 2});
  *request.add_values() = FloatTensor({2}, {3, 4});
  v1::PullResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(10));
  const grpc::Status s = c.stub()->PushPull(&context, request, &response);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_THAT(TensorFloats(response.value()), ElementsAre(4, 6));
}

// The value of element i of the big test's pushed value.
float BigValue(int64_t i) { return static_cast<float>(i % 65521); }

TEST_F(KVStoreAsyncTest, OneGiBValueThroughTheStreams) {
  constexpr int64_t kElements = int64_t{1} << 28;       // 1 GiB of float32
  constexpr int64_t kChunkElements = int64_t{1} << 19;  // 2 MiB
  KVClient c(server_->NewChannel(), "big", 0);
  ASSERT_TRUE(c.Join(1).ok());
  {  // InitStream of zeros
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(120));
    v1::InitResponse response;
    auto writer = c.stub()->InitStream(&context, &response);
    v1::InitStreamRequest request;
    c.SetRef("big", 0, request.mutable_ref());
    request.mutable_chunk()->mutable_data()->assign(kChunkElements * 4, '\0');
    for (int64_t offset = 0; offset < kElements; offset += kChunkElements) {
      if (offset == 0) {
        *request.mutable_chunk()->mutable_meta() = FloatMeta({kElements});
      } else {
        request.mutable_chunk()->clear_meta();
        request.clear_ref();
      }
      request.mutable_chunk()->set_offset(offset * 4);
      ASSERT_TRUE(writer->Write(request)) << "InitStream write at " << offset;
    }
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  {  // PushStream of BigValue
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(120));
    v1::PushResponse response;
    auto writer = c.stub()->PushStream(&context, &response);
    v1::PushStreamRequest request;
    c.SetRef("big", 0, request.mutable_ref());
    std::vector<float> values(kChunkElements);
    for (int64_t offset = 0; offset < kElements; offset += kChunkElements) {
      for (int64_t j = 0; j < kChunkElements; ++j) values[j] = BigValue(offset + j);
      if (offset == 0) {
        *request.mutable_chunk()->mutable_meta() = FloatMeta({kElements});
      } else {
        request.mutable_chunk()->clear_meta();
        request.clear_ref();
      }
      request.mutable_chunk()->set_offset(offset * 4);
      request.mutable_chunk()->set_data(values.data(), kChunkElements * 4);
      ASSERT_TRUE(writer->Write(request)) << "PushStream write at " << offset;
    }
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  {  // PullStream: contiguous chunks, every byte once, sampled values
    v1::PullStreamRequest request;
    c.SetRef("big", 0, request.mutable_ref());
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(120));
    auto reader = c.stub()->PullStream(&context, request);
    v1::PullStreamResponse response;
    int64_t received = 0;
    int chunks = 0;
    int64_t mismatches = 0;
    while (reader->Read(&response)) {
      const v1::TensorChunk& chunk = response.chunk();
      if (chunks == 0) {
        EXPECT_TRUE(chunk.has_meta());
        EXPECT_THAT(chunk.meta().shape(), ElementsAre(kElements));
      }
      ASSERT_EQ(chunk.offset(), received) << "chunk " << chunks;
      ASSERT_EQ(chunk.data().size() % 4, 0u);
      const int64_t first = chunk.offset() / 4;
      const int64_t n = static_cast<int64_t>(chunk.data().size()) / 4;
      const float* data = reinterpret_cast<const float*>(chunk.data().data());
      for (int64_t j = 0; j < n; j += 1009) mismatches += data[j] != BigValue(first + j);
      if (n > 0) mismatches += data[n - 1] != BigValue(first + n - 1);
      received += static_cast<int64_t>(chunk.data().size());
      ++chunks;
    }
    const grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(received, kElements * 4);
    EXPECT_EQ(mismatches, 0);
    EXPECT_GE(chunks, 256);
  }
  v1::ListKeysResponse keys;
  ASSERT_TRUE(c.ListKeys(&keys).ok());
  EXPECT_GE(keys.bytes_in_use(), kElements * 4);
}

}  // namespace
}  // namespace mxgrid::integration
