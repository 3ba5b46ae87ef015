// mxgrid-worker under load and abuse, as processes on loopback: 1 GiB streams, cancellation,
// deadlines on queued work, every kind of bad input, session isolation, lease expiry, 16
// concurrent clients and the message size limit.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/integration/worker_fixture.h"

namespace mxgrid::integration {
namespace {

using ::testing::ElementsAre;

float BigValue(int64_t i) { return static_cast<float>(i % 65521) - 7.f; }

TEST_F(WorkerProcessTest, OneGiBThroughUploadStreamAndDownloadStream) {
  constexpr int64_t kElements = int64_t{1} << 28;       // 1 GiB of float32
  constexpr int64_t kChunkElements = int64_t{1} << 19;  // 2 MiB
  uint64_t handle = 0;
  {
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(120));
    v1::ArrayInfo info;
    auto writer = w_->stub()->UploadStream(&context, &info);
    v1::UploadRequest request;
    request.set_session(w_->session());
    std::vector<float> values(kChunkElements);
    for (int64_t offset = 0; offset < kElements; offset += kChunkElements) {
      for (int64_t j = 0; j < kChunkElements; ++j) values[j] = BigValue(offset + j);
      if (offset == 0) {
        *request.mutable_chunk()->mutable_meta() = FloatMeta({kElements / 1024, 1024});
      } else {
        request.clear_session();
        request.mutable_chunk()->clear_meta();
      }
      request.mutable_chunk()->set_offset(offset * 4);
      request.mutable_chunk()->set_data(values.data(), kChunkElements * 4);
      ASSERT_TRUE(writer->Write(request)) << "write at element " << offset;
    }
    ASSERT_TRUE(writer->WritesDone());
    const grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_THAT(info.meta().shape(), ElementsAre(kElements / 1024, 1024));
    handle = info.handle();
  }
  v1::DownloadRequest request;
  request.set_session(w_->session());
  request.set_handle(handle);
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(120));
  auto reader = w_->stub()->DownloadStream(&context, request);
  v1::TensorChunk chunk;
  int64_t received = 0, mismatches = 0;
  int chunks = 0;
  while (reader->Read(&chunk)) {
    if (chunks++ == 0) {
      EXPECT_THAT(chunk.meta().shape(), ElementsAre(kElements / 1024, 1024));
    }
    ASSERT_EQ(chunk.offset(), received);
    const int64_t first = chunk.offset() / 4;
    const int64_t n = static_cast<int64_t>(chunk.data().size()) / 4;
    const float* data = reinterpret_cast<const float*>(chunk.data().data());
    for (int64_t j = 0; j < n; j += 1009) mismatches += data[j] != BigValue(first + j);
    if (n > 0) mismatches += data[n - 1] != BigValue(first + n - 1);
    received += static_cast<int64_t>(chunk.data().size());
  }
  const grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(received, kElements * 4);
  EXPECT_EQ(mismatches, 0);
  ASSERT_TRUE(w_->Free({handle}).ok());
}

TEST_F(WorkerProcessTest, CancelledDownloadStreamLeavesTheWorkerServing) {
  uint64_t big = 0;
  ASSERT_TRUE(w_->Create(FloatMeta({64, 1 << 20}), 3, &big).ok());  // 256 MiB
  {
    v1::DownloadRequest request;
    request.set_session(w_->session());
    request.set_handle(big);
    grpc::ClientContext context;
    auto reader = w_->stub()->DownloadStream(&context, request);
    v1::TensorChunk chunk;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&chunk));
    context.TryCancel();
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  v1::DescribeArraysResponse described;
  EXPECT_TRUE(w_->Describe({big}, &described).ok());
  EXPECT_THAT(Get(Put({2}, {1, 2})), ElementsAre(1, 2));
}

// Deadlines on calls that wait for a long chain of queued work.
TEST_F(WorkerProcessTest, DeadlinesOnPendingWork) {
  uint64_t m = 0;
  ASSERT_TRUE(w_->Create(FloatMeta({1024, 1024}), 0.001, &m).ok());
  v1::InvokeBatchRequest request;
  request.set_session(w_->session());
  uint64_t prev = m;
  for (int i = 0; i < 40; ++i) {  // 40 dependent 1024^3 matrix products
    v1::InvokeRequest* call = request.add_calls();
    call->set_op("dot");
    call->add_inputs(prev);
    call->add_inputs(m);
    call->add_new_handles(50000 + i);
    prev = 50000 + i;
  }
  v1::InvokeBatchResponse response;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->InvokeBatch(&context, request, &response);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  v1::Tensor t;
  EXPECT_EQ(w_->Download(prev, &t, absl::Milliseconds(1)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(w_->Wait({prev}, absl::Milliseconds(20)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The work finishes and the server is fine.
  EXPECT_TRUE(w_->Wait({prev}, absl::Seconds(120)).ok());
  EXPECT_THAT(Get(Put({1}, {4})), ElementsAre(4));
}

TEST_F(WorkerProcessTest, BadInputsHaveTheirCodes) {
  uint64_t h = 0;
  v1::TensorMeta negative = FloatMeta({2, -3});
  EXPECT_EQ(w_->Create(negative, 0, &h).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w_->Create(FloatMeta(std::vector<int64_t>(40, 1)), 0, &h).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::TensorMeta no_dtype = FloatMeta({2});
  no_dtype.set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_EQ(w_->Create(no_dtype, 0, &h).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::Tensor short_data = FloatTensor({2, 2}, {1, 2, 3, 4});
  short_data.mutable_data()->resize(9);
  EXPECT_EQ(w_->Upload(short_data, &h).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const uint64_t a = Put({2}, {1, 2}), b = Put({3}, {1, 2, 3});
  std::vector<uint64_t> out;
  EXPECT_EQ(w_->Invoke("no_such_op", {}, {a}, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(w_->Invoke("FullyConnected", {{"num_hidden", "abc"}}, {a, a, a}, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w_->Invoke("Activation", {{"act_type", "no_such_act"}}, {a}, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w_->Invoke("elemwise_add", {}, {a, b}, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w_->Invoke("elemwise_add", {}, {a}, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(w_->Invoke("elemwise_add", {}, {a, 123456}, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Upload into an array of another shape.
  EXPECT_EQ(w_->Upload(FloatTensor({3}, {1, 2, 3}), nullptr, a).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Chosen handles: one in use, one outside [1, 2^32).
  ASSERT_TRUE(w_->Create(FloatMeta({1}), 0, &h, 42).ok());
  EXPECT_EQ(w_->Create(FloatMeta({1}), 0, &h, 42).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(w_->Create(FloatMeta({1}), 0, &h, uint64_t{1} << 40).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Unknown session; SimpleBind of malformed JSON.
  WorkerClient stranger(worker_->NewChannel());
  stranger.set_session("no-such-session");
  EXPECT_EQ(stranger.Create(FloatMeta({1}), 0, &h).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::SimpleBindRequest bind;
  bind.set_session(w_->session());
  bind.mutable_symbol()->set_json("{\"nodes\": [");
  v1::BindResponse bound;
  grpc::ClientContext context;
  EXPECT_EQ(w_->stub()->SimpleBind(&context, bind, &bound).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Nothing above broke the session.
  EXPECT_THAT(Get(a), ElementsAre(1, 2));
}

TEST_F(WorkerProcessTest, SessionsCannotSeeEachOthersHandles) {
  const uint64_t mine = Put({1}, {1});
  WorkerClient other(worker_->NewChannel());
  ASSERT_TRUE(other.Open().ok());
  v1::DescribeArraysResponse described;
  EXPECT_EQ(other.Describe({mine}, &described).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::Tensor t;
  EXPECT_EQ(other.Download(mine, &t).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(other.Free({mine}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(Get(mine), ElementsAre(1));
  other.Close();
}

TEST_F(WorkerProcessTest, ExpiredLeaseFreesTheSession) {
  const uint64_t mine = Put({1}, {5});
  // Measured before the brief session exists: on a loaded machine its 1 s lease may run out
  // before a measurement taken after its allocation.
  const int64_t before = ArrayBytesOnCpu0();
  WorkerClient brief(worker_->NewChannel());
  ASSERT_TRUE(brief.Open(1).ok());
  uint64_t h = 0;
  ASSERT_TRUE(brief.Create(FloatMeta({16 << 20}), 1, &h).ok());  // 64 MiB
  static_cast<void>(brief.Wait({h}));  // NOT_FOUND once the lease has run out
  absl::SleepFor(absl::Milliseconds(2500));
  // The expired session's memory is gone before anyone touches the session again.
  EXPECT_LE(ArrayBytesOnCpu0(), before);
  v1::DescribeArraysResponse described;
  EXPECT_EQ(brief.Describe({h}, &described).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::KeepAliveRequest keep;
  keep.set_session(brief.session());
  v1::KeepAliveResponse kept;
  grpc::ClientContext context;
  EXPECT_EQ(brief.stub()->KeepAlive(&context, keep, &kept).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(w_->Describe({mine}, &described).ok());  // the suite's session (60 s lease)
}

TEST_F(WorkerProcessTest, SixteenConcurrentClients) {
  constexpr int kClients = 16, kRounds = 15;
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      WorkerClient c(worker_->NewChannel());
      grpc::Status s = c.Open();
      for (int r = 0; r < kRounds && s.ok(); ++r) {
        uint64_t a = 0, b = 0;
        std::vector<uint64_t> out;
        std::vector<float> got;
        s = c.Create(FloatMeta({4, 4}), t, &a);
        if (s.ok()) s = c.UploadFloats({4, 4}, std::vector<float>(16, static_cast<float>(r)), &b);
        if (s.ok()) s = c.Invoke("elemwise_add", {}, {a, b}, &out);
        if (s.ok()) s = c.DownloadFloats(out[0], &got);
        if (s.ok() && got != std::vector<float>(16, static_cast<float>(t + r))) {
          failures[t] = absl::StrCat("round ", r, ": got ", got.empty() ? -1 : got[0]);
          return;
        }
        if (s.ok()) s = c.Free({a, b, out[0]});
        if (!s.ok()) failures[t] = absl::StrCat("round ", r, ": ", Describe(s));
      }
      if (s.ok()) s = c.Close();
      if (!s.ok() && failures[t].empty()) failures[t] = Describe(s);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kClients; ++t) EXPECT_EQ(failures[t], "") << "client " << t;
}

uint64_t Put(WorkerClient* w) {
  uint64_t h = 0;
  EXPECT_TRUE(w->UploadFloats({1}, {1}, &h).ok());
  return h;
}

// A worker with a 1 MiB message limit: a 2 MiB Upload is RESOURCE_EXHAUSTED, then it serves on.
TEST(WorkerMessageLimitTest, OversizedUploadIsResourceExhausted) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> worker = ServerProcess::Start(
      {.binary = kWorker, .args = {"--compiler=127.0.0.1:1", "--max_message_bytes=1048576"}});
  ASSERT_TRUE(worker.ok()) << worker.status();
  {
    WorkerClient w((*worker)->NewChannel());
    ASSERT_TRUE(w.Open().ok());
    uint64_t h = 0;
    const grpc::Status s =
        w.UploadFloats({512 * 1024}, std::vector<float>(512 * 1024, 1.f), &h);  // 2 MiB
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
    ASSERT_TRUE(w.UploadFloats({2}, {3, 4}, &h).ok());
    std::vector<float> got;
    ASSERT_TRUE(w.DownloadFloats(h, &got).ok());
    EXPECT_THAT(got, ElementsAre(3, 4));
    // A Download past the limit fails cleanly too.
    ASSERT_TRUE(w.Create(FloatMeta({512 * 1024}), 2, &h).ok());
    v1::Tensor t;
    EXPECT_EQ(w.Download(h, &t).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_TRUE(w.DownloadFloats(Put(&w), &got).ok());
  }
  absl::StatusOr<int> status = (*worker)->Stop();
  EXPECT_TRUE(status.ok() && *status == 0) << (*worker)->Log();
}

// DownloadStream keeps its chunks below the worker's --max_message_bytes, whatever
// chunk_bytes asks for.
TEST(WorkerMessageLimitTest, DownloadStreamCapsChunksAtTheMessageLimit) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> worker = ServerProcess::Start(
      {.binary = kWorker, .args = {"--compiler=127.0.0.1:1", "--max_message_bytes=1048576"}});
  ASSERT_TRUE(worker.ok()) << worker.status();
  {
    WorkerClient w((*worker)->NewChannel());
    ASSERT_TRUE(w.Open().ok());
    uint64_t h = 0;
    ASSERT_TRUE(w.Create(FloatMeta({512 * 1024}), 2, &h).ok());  // 2 MiB
    for (int64_t chunk_bytes : {int64_t{0}, int64_t{8} << 20}) {
      v1::DownloadRequest request;
      request.set_session(w.session());
      request.set_handle(h);
      request.set_chunk_bytes(chunk_bytes);
      grpc::ClientContext context;
      auto reader = w.stub()->DownloadStream(&context, request);
      v1::TensorChunk chunk;
      int64_t received = 0;
      while (reader->Read(&chunk)) received += static_cast<int64_t>(chunk.data().size());
      const grpc::Status streamed = reader->Finish();
      EXPECT_TRUE(streamed.ok()) << "chunk_bytes " << chunk_bytes << ": " << Describe(streamed);
      EXPECT_EQ(received, 2 << 20);
    }
  }
  absl::StatusOr<int> status = (*worker)->Stop();
  EXPECT_TRUE(status.ok() && *status == 0) << (*worker)->Log();
}

}  // namespace
}  // namespace mxgrid::integration