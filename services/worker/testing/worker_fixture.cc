#include "services/worker/testing/worker_fixture.h"

#include <cstring>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "libs/ops/builtin.h"

namespace mxgrid::services {

v1::Tensor FloatTensor(std::vector<int64_t> shape, const std::vector<float>& values) {
  v1::Tensor t;
  t.mutable_meta()->set_dtype(v1::FLOAT32);
  for (int64_t d : shape) t.mutable_meta()->add_shape(d);
  t.set_data(values.data(), values.size() * sizeof(float));
  return t;
}

std::vector<float> Floats(const v1::Tensor& t) {
  std::vector<float> v(t.data().size() / sizeof(float));
  std::memcpy(v.data(), t.data().data(), t.data().size());
  return v;
}

void WorkerFixture::SetUp() {
  WorkerOptions options;
  options.sessions.default_lease = absl::Seconds(30);
  Configure(&options);
  worker_ = std::make_unique<WorkerService>(&ops::GlobalRegistry(), options);
  compiler_ = std::make_unique<CompilerService>(&ops::GlobalRegistry(), 16, 1024);
  ServerOptions server_options;
  server_options.name = "worker-test";
  server_options.address = "127.0.0.1:0";
  server_options.metrics_address = "";
  server_options.shutdown_grace = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(server_options, {worker_.get(), compiler_.get()});
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  worker_->SetCompiler(server_->InProcessChannel());
  stub_ = v1::Worker::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  v1::OpenSessionResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->OpenSession(&ctx, v1::OpenSessionRequest(), &resp).ok());
  session_ = resp.session();
}

void WorkerFixture::TearDown() {
  if (server_ != nullptr) server_->Shutdown();
}

uint64_t WorkerFixture::Upload(std::vector<int64_t> shape, const std::vector<float>& values,
                               uint64_t handle) {
  v1::UploadRequest req;
  req.set_session(session_);
  req.set_new_handle(handle);
  *req.mutable_value() = FloatTensor(shape, values);
  v1::ArrayInfo info;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->Upload(&ctx, req, &info);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return info.handle();
}

std::vector<float> WorkerFixture::Download(uint64_t handle) {
  v1::DownloadRequest req;
  req.set_session(session_);
  req.set_handle(handle);
  v1::Tensor t;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->Download(&ctx, req, &t);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return Floats(t);
}

}  // namespace mxgrid::services
