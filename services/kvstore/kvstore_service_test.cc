// The KVStore service over a real gRPC server on a loopback port.
#include "services/kvstore/kvstore_service.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tensor::NDArray;

v1::Tensor Floats(std::vector<float> values) {
  absl::StatusOr<NDArray> a =
      NDArray::FromVector<float>({static_cast<int64_t>(values.size())}, values);
  EXPECT_TRUE(a.ok()) << a.status();
  v1::Tensor t;
  EXPECT_TRUE(rpc::ToProto(*a, &t).ok());
  return t;
}

std::vector<float> Values(const v1::Tensor& t) {
  absl::StatusOr<NDArray> a = rpc::FromProto(t, Context::Cpu());
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return {};
  return *a->ToVector<float>();
}

class KVStoreServiceTest : public ::testing::Test {
 protected:
  void Start(kvstore::StoreOptions options) {
    service_ = std::make_unique<KVStoreService>(options);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::KVStore::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                                     grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  grpc::Status Init(const std::string& key, const v1::Tensor& value) {
    v1::InitRequest req;
    req.set_key(key);
    *req.mutable_value() = value;
    v1::InitResponse resp;
    grpc::ClientContext ctx;
    return stub_->Init(&ctx, req, &resp);
  }

  grpc::Status Push(const std::string& key, int rank, std::vector<v1::Tensor> values) {
    v1::PushRequest req;
    req.set_key(key);
    req.set_rank(rank);
    for (v1::Tensor& v : values) *req.add_values() = std::move(v);
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    return stub_->Push(&ctx, req, &resp);
  }

  grpc::Status Pull(const std::string& key, int rank, std::vector<float>* out,
                    absl::Duration timeout = absl::Seconds(30)) {
    v1::PullRequest req;
    req.set_key(key);
    req.set_rank(rank);
    v1::PullResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    grpc::Status s = stub_->Pull(&ctx, req, &resp);
    if (s.ok()) *out = Values(resp.value());
    return s;
  }

  std::unique_ptr<KVStoreService> service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::KVStore::Stub> stub_;
};

TEST_F(KVStoreServiceTest, InitPushPullRoundTrips) {
  Start({});
  ASSERT_TRUE(Init("3", Floats({1.5f, -2.f})).ok());
  std::vector<float> got;
  ASSERT_TRUE(Pull("3", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(1.5f, -2.f));
  ASSERT_TRUE(Push("3", 0, {Floats({4, 5})}).ok());
  ASSERT_TRUE(Pull("3", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(4, 5));

  v1::ListKeysResponse keys;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListKeys(&ctx, {}, &keys).ok());
  EXPECT_THAT(keys.keys(), ElementsAre("3"));
  EXPECT_EQ(keys.num_workers(), 1);
  EXPECT_TRUE(keys.sync());
  EXPECT_EQ(keys.bytes_in_use(), 8);
}

TEST_F(KVStoreServiceTest, PushOfListIsSummedAndPullConvertsDType) {
  Start({});
  ASSERT_TRUE(Init("weight", Floats({0, 0})).ok());
  ASSERT_TRUE(Push("weight", 0, {Floats({1, 2}), Floats({10, 20}), Floats({100, 200})}).ok());
  std::vector<float> got;
  ASSERT_TRUE(Pull("weight", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(111, 222));

  v1::PullRequest req;
  req.set_key("weight");
  req.set_dtype(v1::FLOAT64);
  v1::PullResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Pull(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.value().meta().dtype(), v1::FLOAT64);
  EXPECT_THAT(Values(resp.value()), ElementsAre(111, 222));
}

TEST_F(KVStoreServiceTest, TwoWorkerSyncRoundFromTwoClientThreads) {
  Start({.num_workers = 2, .sync = true});
  ASSERT_TRUE(Init("0", Floats({0, 0})).ok());
  std::vector<float> got[2];
  grpc::Status pushed[2], pulled[2];
  std::vector<std::thread> workers;
  for (int rank = 0; rank < 2; ++rank) {
    workers.emplace_back([&, rank] {
      if (rank == 1) absl::SleepFor(absl::Milliseconds(200));  // rank 0's pull must wait
      pushed[rank] = Push("0", rank, {Floats({1.f + rank, 10.f * (rank + 1)})});
      pulled[rank] = Pull("0", rank, &got[rank]);
    });
  }
  for (std::thread& t : workers) t.join();
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_TRUE(pushed[rank].ok()) << pushed[rank].error_message();
    ASSERT_TRUE(pulled[rank].ok()) << pulled[rank].error_message();
    EXPECT_THAT(got[rank], ElementsAre(3, 30)) << "rank " << rank;
  }
}

TEST_F(KVStoreServiceTest, PullTimesOutBeforeTheRoundCompletes) {
  Start({.num_workers = 2, .sync = true});
  ASSERT_TRUE(Init("0", Floats({0, 0})).ok());
  ASSERT_TRUE(Push("0", 0, {Floats({1, 1})}).ok());
  std::vector<float> got;
  const absl::Time start = absl::Now();
  grpc::Status s = Pull("0", 0, &got, absl::Milliseconds(300));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Rank 1 completes the round; rank 0 then sees the sum.
  ASSERT_TRUE(Push("0", 1, {Floats({2, 2})}).ok());
  ASSERT_TRUE(Pull("0", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(3, 3));
}

TEST_F(KVStoreServiceTest, SetOptimizerSgdIsApplied) {
  Start({});
  ASSERT_TRUE(Init("1", Floats({1, 2})).ok());
  v1::SetOptimizerRequest req;
  req.set_name("sgd");
  (*req.mutable_params())["learning_rate"] = "0.1";
  v1::SetOptimizerResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->SetOptimizer(&ctx, req, &resp).ok());
  ASSERT_TRUE(Push("1", 0, {Floats({10, -10})}).ok());
  std::vector<float> got;
  ASSERT_TRUE(Pull("1", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(0, 3));  // w - 0.1 * g

  req.set_name("no_such_optimizer");
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->SetOptimizer(&ctx2, req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KVStoreServiceTest, PushPullPushesThenPulls) {
  Start({});
  ASSERT_TRUE(Init("2", Floats({0, 0})).ok());
  v1::PushPullRequest req;
  req.set_key("2");
  *req.add_values() = Floats({1, 2});
  *req.add_values() = Floats({3, 4});
  v1::PullResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->PushPull(&ctx, req, &resp).ok());
  EXPECT_THAT(Values(resp.value()), ElementsAre(4, 6));
}

TEST_F(KVStoreServiceTest, ErrorsHaveTheirCodes) {
  Start({});
  std::vector<float> got;
  EXPECT_EQ(Pull("9", 0, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Push("9", 0, {Floats({1, 2})}).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Init("9", Floats({1, 2})).ok());
  EXPECT_EQ(Init("9", Floats({1, 2})).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Push("9", 0, {Floats({1, 2, 3})}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Push("9", 0, {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Push("9", 5, {Floats({1, 2})}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Tensor bad_dtype = Floats({1, 2});
  bad_dtype.mutable_meta()->set_dtype(static_cast<v1::DType>(99));
  grpc::Status s = Push("9", 0, {bad_dtype});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("values[0]"));
  EXPECT_EQ(Init("10", bad_dtype).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Tensor short_data = Floats({1, 2});
  short_data.mutable_data()->resize(5);
  EXPECT_EQ(Push("9", 0, {short_data}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Init("11", short_data).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Nothing above changed the stored value.
  ASSERT_TRUE(Pull("9", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(1, 2));
}

TEST_F(KVStoreServiceTest, HugeKeysGetTheRightCodeAndAShortMessage) {
  Start({});
  const std::string key(1 << 20, 'k');
  std::vector<float> got;
  for (const grpc::Status& s : {Pull(key, 0, &got), Push(key, 0, {Floats({1, 2})})}) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_LT(s.error_message().size(), 500u);
    EXPECT_THAT(s.error_message(), HasSubstr("(1048576 bytes)"));
  }
  ASSERT_TRUE(Init(key, Floats({1, 2})).ok());  // a long key itself is fine
  const grpc::Status twice = Init(key, Floats({1, 2}));
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_LT(twice.error_message().size(), 500u);

  v1::SetOptimizerRequest opt;
  opt.set_name(std::string(1 << 20, 'o'));
  v1::SetOptimizerResponse resp;
  grpc::ClientContext ctx;
  const grpc::Status s = stub_->SetOptimizer(&ctx, opt, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(s.error_message().size(), 500u);
}

TEST_F(KVStoreServiceTest, SetOptimizerChecksHyperparameters) {
  Start({.num_workers = 1, .sync = false});
  ASSERT_TRUE(Init("0", Floats({1, 1})).ok());
  for (const auto& [name, param, value] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"adam", "learning_rate", "-1"}, {"sgd", "momentum", "-0.9"},
           {"rmsprop", "gamma1", "1"}, {"adagrad", "eps", "0"}, {"nag", "wd", "-1e-4"}}) {
    v1::SetOptimizerRequest req;
    req.set_name(name);
    (*req.mutable_params())[param] = value;
    v1::SetOptimizerResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status s = stub_->SetOptimizer(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name << " " << param;
    EXPECT_THAT(s.error_message(), HasSubstr(param));
  }
  // No optimizer was installed: a push overwrites.
  ASSERT_TRUE(Push("0", 0, {Floats({5, 6})}).ok());
  std::vector<float> got;
  ASSERT_TRUE(Pull("0", 0, &got).ok());
  EXPECT_THAT(got, ElementsAre(5, 6));
}

TEST_F(KVStoreServiceTest, TenMiBValueThroughTheStreams) {
  Start({});
  Start({});
  const int64_t n = (int64_t{10} << 20) / 4;  // 10 MiB of float32
  absl::StatusOr<NDArray> value = NDArray::Arange(0, static_cast<double>(n));
  ASSERT_TRUE(value.ok()) << value.status();

  {  // InitStream
    grpc::ClientContext ctx;
    v1::InitResponse resp;
    auto writer = stub_->InitStream(&ctx, &resp);
    v1::InitStreamRequest req;
    req.set_key("big");
    ASSERT_TRUE(rpc::ForEachChunk(*value, rpc::kDefaultChunkBytes, [&](const v1::TensorChunk& c) {
                  *req.mutable_chunk() = c;
                  const bool ok = writer->Write(req);
                  req.clear_key();
                  return ok ? absl::OkStatus() : absl::UnavailableError("write");
                }).ok());
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {  // PushStream of a list of two values: value + value
    grpc::ClientContext ctx;
    v1::PushResponse resp;
    auto writer = stub_->PushStream(&ctx, &resp);
    v1::PushStreamRequest req;
    req.set_key("big");
    req.set_rank(0);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(
          rpc::ForEachChunk(*value, rpc::kDefaultChunkBytes, [&](const v1::TensorChunk& c) {
            *req.mutable_chunk() = c;
            const bool ok = writer->Write(req);
            req.clear_key();
            return ok ? absl::OkStatus() : absl::UnavailableError("write");
          }).ok());
    }
    ASSERT_TRUE(writer->WritesDone());
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {  // PullStream
    v1::PullStreamRequest req;
    req.set_key("big");
    grpc::ClientContext ctx;
    auto reader = stub_->PullStream(&ctx, req);
    rpc::ChunkAssembler in(Context::Cpu());
    v1::PullStreamResponse resp;
    int chunks = 0;
    while (reader->Read(&resp)) {
      ASSERT_TRUE(in.Add(resp.chunk()).ok());
      ++chunks;
    }
    grpc::Status s = reader->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(chunks, 5);
    absl::StatusOr<NDArray> got = in.Finish();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), n);
    std::vector<float> v = *got->ToVector<float>();
    EXPECT_EQ(v[0], 0.f);
    EXPECT_EQ(v[1], 2.f);
    EXPECT_EQ(v[n - 1], 2.f * static_cast<float>(n - 1));
  }
  // The unary Pull of the same value exceeds gRPC's default 4 MiB message limit.
  std::vector<float> got;
  EXPECT_EQ(Pull("big", 0, &got).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(KVStoreServiceTest, PushStreamRejectsMalformedChunks) {
  Start({});
  ASSERT_TRUE(Init("0", Floats({0, 0})).ok());
  grpc::ClientContext ctx;
  v1::PushResponse resp;
  auto writer = stub_->PushStream(&ctx, &resp);
  v1::PushStreamRequest req;
  req.set_key("0");
  req.mutable_chunk()->set_data("12345678");  // no meta on the first chunk
  writer->Write(req);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mxgrid::services
