// The shard's shared-memory transfers over a real loopback server: a 2-rank sync round pushed
// and pulled through registered regions (PushPull too), every error code of RegisterShardShm
// and of ShmValue ranges, another rank's region, a truncated object (the server lives on),
// and regions dropped when the rank leaves.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/job_table.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/tensor/ndarray.h"
#include "services/kvstore/kvstore_service.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using tensor::NDArray;

// A worker's object of `bytes` bytes mapped here; unlinked by the destructor.
class Object {
 public:
  explicit Object(int64_t bytes)
      : name_(absl::StrCat("/mxgrid-kvshm-test-", getpid(), "-", n_++)), bytes_(bytes) {
    fd_ = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, bytes), 0);
    base_ = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
  }
  ~Object() {
    munmap(base_, bytes_);
    close(fd_);
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  float* floats(int64_t offset) { return reinterpret_cast<float*>(base_ + offset); }
  void Truncate(int64_t bytes) { ASSERT_EQ(ftruncate(fd_, bytes), 0); }

 private:
  static inline int n_ = 0;
  std::string name_;
  int64_t bytes_;
  int fd_ = -1;
  char* base_ = nullptr;
};

// How many mappings of `name` this process holds.
int Mappings(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) n += line.find("/dev/shm" + name) != std::string::npos;
  return n;
}

v1::TensorMeta FloatMeta(int64_t n) {
  v1::TensorMeta meta;
  rpc::ToProto(DType::kFloat32, Shape({n}), &meta);
  return meta;
}

class KVStoreShmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = std::make_unique<kvstore::JobTable>(kvstore::JobTableOptions{.num_workers = 2});
    service_ = std::make_unique<KVStoreService>(table_.get(), nullptr);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::KVStore::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                     grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Join(int rank) {
    v1::JoinJobRequest req;
    req.set_job("j");
    req.set_rank(rank);
    v1::JoinJobResponse resp;
    grpc::ClientContext ctx;
    return stub_->JoinJob(&ctx, req, &resp);
  }
  grpc::Status Leave(int rank) {
    v1::LeaveJobRequest req;
    req.set_job("j");
    req.set_rank(rank);
    v1::LeaveJobResponse resp;
    grpc::ClientContext ctx;
    return stub_->LeaveJob(&ctx, req, &resp);
  }
  grpc::Status Register(int rank, const std::string& name, int64_t bytes, uint64_t* id,
                        const std::string& job = "j") {
    v1::RegisterShardShmRequest req;
    req.set_job(job);
    req.set_rank(rank);
    req.set_name(name);
    req.set_byte_size(bytes);
    v1::RegisterShardShmResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->RegisterShardShm(&ctx, req, &resp);
    *id = resp.region();
    return s;
  }
  // Init of key "k" as n zeros... (rank 0 by message).
  grpc::Status Init(int64_t n, float fill) {
    v1::InitRequest req;
    SetRef(0, req.mutable_ref());
    std::vector<float> v(n, fill);
    EXPECT_TRUE(rpc::ToProto(*NDArray::FromVector<float>({n}, v), req.mutable_value()).ok());
    v1::InitResponse resp;
    grpc::ClientContext ctx;
    return stub_->Init(&ctx, req, &resp);
  }
  static void SetRef(int rank, v1::KeyRef* ref) {
    ref->set_job("j");
    ref->set_key("k");
    ref->set_rank(rank);
  }
  grpc::Status PushShm(int rank, uint64_t region, int64_t offset, int64_t n) {
    v1::PushRequest req;
    SetRef(rank, req.mutable_ref());
    req.mutable_shm_value()->set_region(region);
    req.mutable_shm_value()->set_offset(offset);
    *req.mutable_shm_value()->mutable_meta() = FloatMeta(n);
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return stub_->Push(&ctx, req, &resp);
  }
  grpc::Status PullShm(int rank, uint64_t region, int64_t offset, v1::PullResponse* resp) {
    v1::PullRequest req;
    SetRef(rank, req.mutable_ref());
    req.mutable_shm_out()->set_region(region);
    req.mutable_shm_out()->set_offset(offset);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return stub_->Pull(&ctx, req, resp);
  }

  std::unique_ptr<kvstore::JobTable> table_;
  std::unique_ptr<KVStoreService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::KVStore::Stub> stub_;
};

TEST_F(KVStoreShmTest, TwoRanksPushAndPullThroughRegions) {
  constexpr int64_t kN = 1 << 19;  // 2 MiB of floats
  constexpr int64_t kBytes = kN * 4 + 4096;
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  ASSERT_TRUE(Init(kN, 0).ok());
  Object a(kBytes), b(kBytes);
  uint64_t ra = 0, rb = 0;
  ASSERT_TRUE(Register(0, a.name(), kBytes, &ra).ok());
  ASSERT_TRUE(Register(1, b.name(), kBytes, &rb).ok());
  for (int64_t i = 0; i < kN; ++i) {
    a.floats(2048)[i] = static_cast<float>(i);
    b.floats(2048)[i] = 1.5f;
  }
  ASSERT_TRUE(PushShm(0, ra, 2048, kN).ok());
  // The shard has read the value when it answers: overwriting it now changes nothing.
  std::fill(a.floats(2048), a.floats(2048) + kN, -100.0f);
  grpc::Status pushed = PushShm(1, rb, 2048, kN);
  ASSERT_TRUE(pushed.ok()) << pushed.error_message();
  v1::PullResponse resp;
  grpc::Status pulled = PullShm(0, ra, 64, &resp);  // unaligned for arrays: still fine
  ASSERT_TRUE(pulled.ok()) << pulled.error_message();
  EXPECT_TRUE(resp.value().data().empty());
  EXPECT_EQ(resp.value().meta().shape(0), kN);
  const float* got = a.floats(64);
  for (int64_t i : {int64_t{0}, int64_t{1}, kN / 2, kN - 1}) {
    EXPECT_EQ(got[i], static_cast<float>(i) + 1.5f) << i;
  }

  // PushPull naming the same bytes both ways (rank 1's round 2 waits for rank 0's push).
  for (int64_t i = 0; i < kN; ++i) b.floats(0)[i] = 2.0f;
  std::fill(a.floats(2048), a.floats(2048) + kN, -100.0f);
  ASSERT_TRUE(PushShm(0, ra, 2048, kN).ok());
  v1::PushPullRequest req;
  SetRef(1, req.mutable_ref());
  req.mutable_shm_value()->set_region(rb);
  *req.mutable_shm_value()->mutable_meta() = FloatMeta(kN);
  req.mutable_shm_out()->set_region(rb);
  grpc::ClientContext ctx;
  grpc::Status pp = stub_->PushPull(&ctx, req, &resp);
  ASSERT_TRUE(pp.ok()) << pp.error_message();
  EXPECT_EQ(b.floats(0)[0], -98.0f);
  EXPECT_EQ(b.floats(0)[kN - 1], -98.0f);
}

TEST_F(KVStoreShmTest, PullConvertsIntoTheRegion) {
  constexpr int64_t kN = 1000;
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  ASSERT_TRUE(Init(kN, 2.5f).ok());
  Object a(kN * 8 + 4096);
  uint64_t ra = 0;
  ASSERT_TRUE(Register(0, a.name(), kN * 8 + 4096, &ra).ok());
  v1::PullRequest req;
  SetRef(0, req.mutable_ref());
  req.set_dtype(v1::FLOAT64);
  req.mutable_shm_out()->set_region(ra);
  req.mutable_shm_out()->set_offset(4096);
  v1::PullResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->Pull(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.value().meta().dtype(), v1::FLOAT64);
  const double* got = reinterpret_cast<const double*>(a.floats(4096));
  EXPECT_EQ(got[0], 2.5);
  EXPECT_EQ(got[kN - 1], 2.5);
  // Too small from this offset for 8-byte elements: INVALID_ARGUMENT, nothing written.
  req.mutable_shm_out()->set_offset(8192);
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->Pull(&ctx2, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KVStoreShmTest, RegistrationErrors) {
  Object a(8192);
  uint64_t id = 0;
  EXPECT_EQ(Register(0, a.name(), 8192, &id, "nojob").error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Join(0).ok());
  EXPECT_EQ(Register(1, a.name(), 8192, &id).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // rank 1 has not joined
  EXPECT_EQ(Register(0, "no-slash", 8192, &id).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(0, "/../etc/passwd", 8192, &id).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(0, a.name(), 0, &id).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(0, a.name(), 16384, &id).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // smaller than byte_size
  EXPECT_EQ(Register(0, "/mxgrid-kvshm-test-none", 8192, &id).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // another host's
  ASSERT_TRUE(Register(0, a.name(), 8192, &id).ok());
  v1::UnregisterShardShmRequest req;
  req.set_job("j");
  req.set_rank(1);
  req.set_region(id);
  v1::UnregisterShardShmResponse resp;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->UnregisterShardShm(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);  // rank 1's, not 0's
  }
  req.set_rank(0);
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->UnregisterShardShm(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(Mappings(a.name()), 1);  // only the test's own
}

TEST_F(KVStoreShmTest, BadValuesAndRegions) {
  constexpr int64_t kN = 1024;
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  ASSERT_TRUE(Init(kN, 0).ok());
  Object a(kN * 4), b(kN * 4);
  uint64_t ra = 0, rb = 0;
  ASSERT_TRUE(Register(0, a.name(), kN * 4, &ra).ok());
  ASSERT_TRUE(Register(1, b.name(), kN * 4, &rb).ok());
  EXPECT_EQ(PushShm(0, ra, 4, kN).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(PushShm(0, ra, -4, kN).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(PushShm(0, ra, 0, int64_t{1} << 61).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(PushShm(0, rb, 0, kN).error_code(), grpc::StatusCode::NOT_FOUND);  // rank 1's
  EXPECT_EQ(PushShm(0, 12345, 0, kN).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::PullResponse resp;
  EXPECT_EQ(PullShm(0, ra, 8, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(PullShm(0, rb, 0, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    v1::PushRequest req;
    SetRef(0, req.mutable_ref());
    *req.add_values() = v1::Tensor();
    req.mutable_shm_value()->set_region(ra);
    *req.mutable_shm_value()->mutable_meta() = FloatMeta(kN);
    v1::PushResponse r;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Push(&ctx, req, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A truncated object: FAILED_PRECONDITION, and the server lives on.
  a.Truncate(0);
  EXPECT_EQ(PushShm(0, ra, 0, kN).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(PullShm(0, ra, 0, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  for (int64_t i = 0; i < kN; ++i) b.floats(0)[i] = 1;
  ASSERT_TRUE(PushShm(1, rb, 0, kN).ok());
}

TEST_F(KVStoreShmTest, BatchItemsPushAndPullThroughOneRegion) {
  // Each rank packs its push and its pull into one region, as the worker's batcher does.
  constexpr int64_t kN = 256;
  constexpr int64_t kOut = kN * 4 + 64;
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Join(1).ok());
  ASSERT_TRUE(Init(kN, 0).ok());
  Object a(2 * kOut), b(2 * kOut);
  uint64_t ra = 0, rb = 0;
  ASSERT_TRUE(Register(0, a.name(), 2 * kOut, &ra).ok());
  ASSERT_TRUE(Register(1, b.name(), 2 * kOut, &rb).ok());
  for (int64_t i = 0; i < kN; ++i) {
    a.floats(0)[i] = 1;
    b.floats(0)[i] = static_cast<float>(i);
  }
  auto batch = [&](int rank, uint64_t region, v1::BatchResponse* resp) {
    v1::BatchRequest req;
    v1::PushRequest* push = req.add_items()->mutable_push();
    SetRef(rank, push->mutable_ref());
    push->mutable_shm_value()->set_region(region);
    *push->mutable_shm_value()->mutable_meta() = FloatMeta(kN);
    v1::PullRequest* pull = req.add_items()->mutable_pull();
    SetRef(rank, pull->mutable_ref());
    pull->mutable_shm_out()->set_region(region);
    pull->mutable_shm_out()->set_offset(kOut);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return stub_->Batch(&ctx, req, resp);
  };
  v1::BatchResponse r0, r1;
  grpc::Status s0;
  std::thread t([&] { s0 = batch(0, ra, &r0); });
  ASSERT_TRUE(batch(1, rb, &r1).ok());
  t.join();
  ASSERT_TRUE(s0.ok());
  for (const v1::BatchResponse* r : {&r0, &r1}) {
    ASSERT_EQ(r->results_size(), 2);
    EXPECT_EQ(r->results(0).code(), 0);
    ASSERT_EQ(r->results(1).code(), 0) << r->results(1).message();
    EXPECT_TRUE(r->results(1).value().data().empty());  // the value is in the region
    DType dtype;
    Shape shape;
    ASSERT_TRUE(rpc::FromProto(r->results(1).value().meta(), &dtype, &shape).ok());
    EXPECT_EQ(shape, Shape({kN}));
  }
  for (int64_t i = 0; i < kN; ++i) {
    ASSERT_EQ(a.floats(kOut)[i], 1.0f + i);
    ASSERT_EQ(b.floats(kOut)[i], 1.0f + i);
  }
  // A range past the region's end: that item fails, the batch goes on.
  v1::BatchRequest req;
  v1::PullRequest* pull = req.add_items()->mutable_pull();
  SetRef(0, pull->mutable_ref());
  pull->mutable_shm_out()->set_region(ra);
  pull->mutable_shm_out()->set_offset(2 * kOut - 16);
  v1::BatchResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Batch(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.results(0).code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KVStoreShmTest, RegionsGoWhenTheRankLeaves) {
  constexpr int64_t kN = 1024;
  ASSERT_TRUE(Join(0).ok());
  ASSERT_TRUE(Init(kN, 0).ok());
  Object a(kN * 4);
  uint64_t ra = 0;
  ASSERT_TRUE(Register(0, a.name(), kN * 4, &ra).ok());
  EXPECT_EQ(Mappings(a.name()), 2);
  ASSERT_TRUE(Leave(0).ok());
  EXPECT_EQ(Mappings(a.name()), 1);
  ASSERT_TRUE(Join(0).ok());
  EXPECT_EQ(PushShm(0, ra, 0, kN).error_code(), grpc::StatusCode::NOT_FOUND);
  uint64_t again = 0;
  ASSERT_TRUE(Register(0, a.name(), kN * 4, &again).ok());
  EXPECT_NE(again, ra);
}

}  // namespace
}  // namespace mxgrid::services
