// The Worker's shared-memory RPCs (RegisterShm, UploadShm, DownloadShm, UnregisterShm) over
// a real gRPC server on a loopback port, with objects this test creates as a client would.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "libs/ops/builtin.h"
#include "services/common/server.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using ::testing::HasSubstr;

// A client's shared-memory object: created, mapped and unlinked by the test.
class ClientObject {
 public:
  explicit ClientObject(int64_t bytes)
      : name_(absl::StrCat("/mxgrid-worker-shm-test-", getpid(), "-", counter_++)),
        bytes_(bytes) {
    fd_ = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, bytes), 0);
    base_ = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
  }
  ~ClientObject() {
    munmap(base_, bytes_);
    close(fd_);
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  float* floats() { return reinterpret_cast<float*>(base_); }
  void Truncate(int64_t bytes) { ASSERT_EQ(ftruncate(fd_, bytes), 0); }

 private:
  static inline int counter_ = 0;
  const std::string name_;
  const int64_t bytes_;
  int fd_ = -1;
  char* base_ = nullptr;
};

// How many of this process's mappings are of `name` (the test's own counts one).
int Mappings(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int count = 0;
  while (std::getline(maps, line)) count += line.find("/dev/shm" + name) != std::string::npos;
  return count;
}

class WorkerShmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerOptions options;
    options.sessions.default_lease = absl::Seconds(30);
    worker_ = std::make_unique<WorkerService>(&ops::GlobalRegistry(), options);
    ServerOptions server_options;
    server_options.name = "worker-shm-test";
    server_options.address = "127.0.0.1:0";
    server_options.metrics_address = "";
    server_options.shutdown_grace = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(server_options, {worker_.get()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::Worker::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
    session_ = Open();
  }
  void TearDown() override { server_->Shutdown(); }

  std::string Open() {
    v1::OpenSessionResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->OpenSession(&ctx, v1::OpenSessionRequest(), &resp).ok());
    return resp.session();
  }

  grpc::Status Register(const std::string& session, const std::string& name, int64_t bytes,
                        uint64_t* region) {
    v1::RegisterShmRequest req;
    req.set_session(session);
    req.set_name(name);
    req.set_byte_size(bytes);
    v1::RegisterShmResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->RegisterShm(&ctx, req, &resp);
    *region = resp.region();
    return st;
  }

  grpc::Status UploadShm(const std::string& session, uint64_t region, int64_t offset,
                         std::vector<int64_t> shape, uint64_t into, uint64_t* handle) {
    v1::UploadShmRequest req;
    req.set_session(session);
    req.set_region(region);
    req.set_offset(offset);
    req.set_into(into);
    req.mutable_meta()->set_dtype(v1::FLOAT32);
    for (int64_t d : shape) req.mutable_meta()->add_shape(d);
    v1::ArrayInfo info;
    grpc::ClientContext ctx;
    grpc::Status st = stub_->UploadShm(&ctx, req, &info);
    *handle = info.handle();
    return st;
  }

  grpc::Status DownloadShm(const std::string& session, uint64_t handle, uint64_t region,
                           int64_t offset) {
    v1::DownloadShmRequest req;
    req.set_session(session);
    req.set_handle(handle);
    req.set_region(region);
    req.set_offset(offset);
    v1::DownloadShmResponse resp;
    grpc::ClientContext ctx;
    return stub_->DownloadShm(&ctx, req, &resp);
  }

  // An adopting upload of 1000 float32 at offset 0 with its release word at byte 262144.
  v1::UploadShmRequest AdoptRequest(uint64_t region) const {
    v1::UploadShmRequest req;
    req.set_session(session_);
    req.set_region(region);
    req.mutable_meta()->set_dtype(v1::FLOAT32);
    req.mutable_meta()->add_shape(1000);
    req.set_adopt(true);
    req.set_release_offset(262144);
    return req;
  }

  std::unique_ptr<WorkerService> worker_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  std::string session_;
};

TEST_F(WorkerShmTest, UploadThenDownloadRoundTripsThroughTheRegion) {
  ClientObject obj(1 << 20);
  for (int i = 0; i < 1000; ++i) obj.floats()[i] = static_cast<float>(i) * 0.5f;
  uint64_t region = 0, handle = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 1 << 20, &region).ok());
  ASSERT_TRUE(UploadShm(session_, region, 0, {10, 100}, 0, &handle).ok());
  ASSERT_TRUE(DownloadShm(session_, handle, region, 4096).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(obj.floats()[1024 + i], static_cast<float>(i) * 0.5f);
  // Into an existing array: a[:] = x.
  for (int i = 0; i < 1000; ++i) obj.floats()[i] = -1.0f;
  uint64_t same = 0;
  ASSERT_TRUE(UploadShm(session_, region, 0, {10, 100}, handle, &same).ok());
  EXPECT_EQ(same, handle);
  ASSERT_TRUE(DownloadShm(session_, handle, region, 8192).ok());
  EXPECT_EQ(obj.floats()[2048 + 999], -1.0f);
}

TEST_F(WorkerShmTest, TakeHandsAnAdoptedTemporaryOverAndCopiesNothingElse) {
  ClientObject obj(1 << 20);
  for (int i = 0; i < 1000; ++i) obj.floats()[i] = static_cast<float>(i);
  uint64_t* word = reinterpret_cast<uint64_t*>(obj.floats() + 65536);  // byte 262144
  *word = 1;
  uint64_t region = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 1 << 20, &region).ok());
  const v1::UploadShmRequest up = AdoptRequest(region);
  v1::ArrayInfo adopted;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->UploadShm(&ctx, up, &adopted).ok());
  }
  // A copied array is not the region's bytes: not taken, nothing written, still there.
  uint64_t copied = 0;
  ASSERT_TRUE(UploadShm(session_, region, 0, {1000}, 0, &copied).ok());
  obj.floats()[2048] = -7.0f;
  v1::DownloadShmRequest take;
  take.set_session(session_);
  take.set_handle(copied);
  take.set_region(region);
  take.set_offset(8192);
  take.set_take(true);
  v1::DownloadShmResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->DownloadShm(&ctx, take, &resp).ok());
  }
  EXPECT_FALSE(resp.taken());
  EXPECT_EQ(obj.floats()[2048], -7.0f);
  ASSERT_TRUE(DownloadShm(session_, copied, region, 8192).ok());
  EXPECT_EQ(obj.floats()[2048 + 999], 999.0f);
  // Taking the adopted one at another offset than its own bytes: not taken either.
  take.set_handle(adopted.handle());
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->DownloadShm(&ctx, take, &resp).ok());
  }
  EXPECT_FALSE(resp.taken());
  // At its own bytes: handed over, the handle freed, the release word 0 soon after.
  take.set_offset(0);
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->DownloadShm(&ctx, take, &resp).ok());
  }
  EXPECT_TRUE(resp.taken());
  ASSERT_EQ(resp.meta().shape_size(), 1);
  EXPECT_EQ(resp.meta().shape(0), 1000);
  EXPECT_EQ(DownloadShm(session_, adopted.handle(), region, 8192).error_code(),
            grpc::StatusCode::NOT_FOUND);
  for (int i = 0; i < 200 && __atomic_load_n(word, __ATOMIC_ACQUIRE) != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(__atomic_load_n(word, __ATOMIC_ACQUIRE), 0u);
  EXPECT_EQ(obj.floats()[999], 999.0f);
}

TEST_F(WorkerShmTest, AnAdoptedUploadUsesTheBytesInPlaceAndReleasesThemWhenFreed) {
  ClientObject obj(1 << 20);
  for (int i = 0; i < 1000; ++i) obj.floats()[i] = static_cast<float>(i);
  uint64_t* word = reinterpret_cast<uint64_t*>(obj.floats() + 65536);  // byte 262144
  *word = 1;
  uint64_t region = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 1 << 20, &region).ok());
  v1::UploadShmRequest req = AdoptRequest(region);
  v1::ArrayInfo info;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->UploadShm(&ctx, req, &info).ok());
  }
  obj.floats()[5] = 55.0f;  // the array *is* these bytes (the client broke the contract)
  ASSERT_TRUE(DownloadShm(session_, info.handle(), region, 8192).ok());
  EXPECT_EQ(obj.floats()[2048 + 5], 55.0f);
  EXPECT_EQ(obj.floats()[2048 + 999], 999.0f);
  EXPECT_EQ(__atomic_load_n(word, __ATOMIC_ACQUIRE), 1u);
  {
    v1::FreeRequest free;
    free.set_session(session_);
    free.add_handles(info.handle());
    v1::FreeResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Free(&ctx, free, &resp).ok());
  }
  for (int i = 0; i < 200 && __atomic_load_n(word, __ATOMIC_ACQUIRE) != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));  // released on an engine thread
  }
  EXPECT_EQ(__atomic_load_n(word, __ATOMIC_ACQUIRE), 0u);
  // A release word inside the value, or a misaligned one, is refused.
  req.set_release_offset(64);
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->UploadShm(&ctx, req, &info).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_release_offset(262148);
  grpc::ClientContext ctx2;
  EXPECT_EQ(stub_->UploadShm(&ctx2, req, &info).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WorkerShmTest, RangesOutsideTheRegionAreInvalidArgument) {
  ClientObject obj(4096);
  uint64_t region = 0, handle = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 4096, &region).ok());
  EXPECT_EQ(UploadShm(session_, region, 1, {1024}, 0, &handle).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(UploadShm(session_, region, -8, {2}, 0, &handle).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(UploadShm(session_, region, INT64_MAX - 2, {2}, 0, &handle).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(UploadShm(session_, region, 0, {1024}, 0, &handle).ok());
  EXPECT_EQ(DownloadShm(session_, handle, region, 4).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WorkerShmTest, BadNamesUnknownObjectsAndOtherSessionsRegionsAreRefused) {
  uint64_t region = 0, handle = 0;
  for (const char* name : {"/../etc/passwd", "/a/b", "..", "/.."}) {
    EXPECT_EQ(Register(session_, name, 10, &region).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT) << name;
  }
  grpc::Status missing = Register(session_, "/mxgrid-worker-shm-test-missing", 10, &region);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(missing.error_message(), HasSubstr("another host"));
  ClientObject obj(4096);
  ASSERT_TRUE(Register(session_, obj.name(), 4096, &region).ok());
  const std::string other = Open();
  EXPECT_EQ(UploadShm(other, region, 0, {4}, 0, &handle).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::UnregisterShmRequest req;
  req.set_session(other);
  req.set_region(region);
  v1::UnregisterShmResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->UnregisterShm(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(UploadShm(session_, region + 1000, 0, {4}, 0, &handle).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerShmTest, TruncatedRegionIsFailedPreconditionAndTheWorkerLives) {
  ClientObject obj(1 << 20);
  uint64_t region = 0, handle = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 1 << 20, &region).ok());
  ASSERT_TRUE(UploadShm(session_, region, 0, {1024}, 0, &handle).ok());
  obj.Truncate(4096);
  uint64_t unused = 0;
  EXPECT_EQ(UploadShm(session_, region, 0, {65536}, 0, &unused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DownloadShm(session_, handle, region, 8192).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(WorkerShmTest, TruncatingAnAdoptedRegionLeavesZerosNotACrash) {
  ClientObject obj(1 << 20);
  for (int i = 0; i < 65536; ++i) obj.floats()[i] = 1.0f;
  uint64_t region = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 1 << 20, &region).ok());
  v1::UploadShmRequest req;
  req.set_session(session_);
  req.set_region(region);
  req.mutable_meta()->set_dtype(v1::FLOAT32);
  req.mutable_meta()->add_shape(65536);  // 256 KiB: the first quarter
  req.set_adopt(true);
  req.set_release_offset(1 << 19);
  v1::ArrayInfo info;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->UploadShm(&ctx, req, &info).ok());
  }
  obj.Truncate(0);  // the array's storage is gone from under the worker
  v1::CopyRequest copy;
  copy.set_session(session_);
  copy.set_src(info.handle());
  v1::ArrayInfo copied;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Copy(&ctx, copy, &copied).ok());  // a kernel reads the missing pages
  }
  v1::DownloadRequest down;
  down.set_session(session_);
  down.set_handle(copied.handle());
  down.set_chunk_bytes(1 << 20);
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::TensorChunk>> reader = stub_->DownloadStream(&ctx, down);
  v1::TensorChunk chunk;
  std::string bytes;
  while (reader->Read(&chunk)) bytes += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(bytes.size(), 65536u * 4);
  EXPECT_EQ(bytes, std::string(bytes.size(), '\0'));  // zeros, and the worker is alive
}

TEST_F(WorkerShmTest, RegionsAreUnmappedOnUnregisterAndWhenTheSessionCloses) {
  ClientObject obj(4096);
  uint64_t region = 0;
  ASSERT_TRUE(Register(session_, obj.name(), 4096, &region).ok());
  EXPECT_EQ(Mappings(obj.name()), 2);
  {
    v1::UnregisterShmRequest req;
    req.set_session(session_);
    req.set_region(region);
    v1::UnregisterShmResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->UnregisterShm(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(Mappings(obj.name()), 1);
  ASSERT_TRUE(Register(session_, obj.name(), 4096, &region).ok());
  EXPECT_EQ(Mappings(obj.name()), 2);
  v1::CloseSessionRequest req;
  req.set_session(session_);
  v1::CloseSessionResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->CloseSession(&ctx, req, &resp).ok());
  EXPECT_EQ(Mappings(obj.name()), 1);
}

}  // namespace
}  // namespace mxgrid::services
