// WorkerClient: one session on an mxgrid-worker over its own connection, with the calls the
// integration tests and benchmarks make most written once. Every method returns the call's
// grpc::Status; results go to out-parameters.
//
//   WorkerClient w(server.NewChannel());
//   ASSERT_TRUE(w.Open().ok());
//   uint64_t a;
//   ASSERT_TRUE(w.UploadFloats({2}, {1, 2}, &a).ok());
//
// Thread-safety: thread-compatible (one client per thread).
#ifndef MXGRID_TESTS_INTEGRATION_WORKER_CLIENT_H_
#define MXGRID_TESTS_INTEGRATION_WORKER_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/wire.h"

namespace mxgrid::integration {

class WorkerClient {
 public:
  explicit WorkerClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::Worker::NewStub(std::move(channel))) {}

  v1::Worker::Stub* stub() { return stub_.get(); }
  const std::string& session() const { return session_; }
  void set_session(std::string session) { session_ = std::move(session); }

  grpc::Status Open(double lease_seconds = 0) {
    v1::OpenSessionRequest request;
    request.set_lease_seconds(lease_seconds);
    request.set_client("mxgrid integration test");
    v1::OpenSessionResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    const grpc::Status s = stub_->OpenSession(&context, request, &response);
    if (s.ok()) session_ = response.session();
    return s;
  }
  grpc::Status Close() {
    v1::CloseSessionRequest request;
    request.set_session(session_);
    v1::CloseSessionResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub_->CloseSession(&context, request, &response);
  }

  grpc::Status Create(const v1::TensorMeta& meta, double fill, uint64_t* handle,
                      uint64_t new_handle = 0) {
    v1::CreateArrayRequest request;
    request.set_session(session_);
    request.set_new_handle(new_handle);
    *request.mutable_meta() = meta;
    request.set_fill(fill);
    v1::ArrayInfo info;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    const grpc::Status s = stub_->CreateArray(&context, request, &info);
    if (s.ok() && handle != nullptr) *handle = info.handle();
    return s;
  }
  grpc::Status Upload(const v1::Tensor& value, uint64_t* handle, uint64_t into = 0) {
    v1::UploadRequest request;
    request.set_session(session_);
    request.set_into(into);
    *request.mutable_value() = value;
    v1::ArrayInfo info;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    const grpc::Status s = stub_->Upload(&context, request, &info);
    if (s.ok() && handle != nullptr) *handle = info.handle();
    return s;
  }
  grpc::Status UploadFloats(const std::vector<int64_t>& shape, const std::vector<float>& values,
                            uint64_t* handle) {
    return Upload(FloatTensor(shape, values), handle);
  }
  grpc::Status Download(uint64_t handle, v1::Tensor* out, absl::Duration timeout = kTimeout) {
    v1::DownloadRequest request;
    request.set_session(session_);
    request.set_handle(handle);
    grpc::ClientContext context;
    SetTimeout(&context, timeout);
    return stub_->Download(&context, request, out);
  }
  grpc::Status DownloadFloats(uint64_t handle, std::vector<float>* out) {
    v1::Tensor t;
    const grpc::Status s = Download(handle, &t);
    if (s.ok()) *out = TensorFloats(t);
    return s;
  }
  grpc::Status Invoke(const std::string& op, const std::map<std::string, std::string>& attrs,
                      const std::vector<uint64_t>& inputs, std::vector<uint64_t>* outputs) {
    v1::InvokeRequest request;
    request.set_session(session_);
    request.set_op(op);
    request.mutable_attrs()->insert(attrs.begin(), attrs.end());
    for (uint64_t h : inputs) request.add_inputs(h);
    v1::InvokeResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    const grpc::Status s = stub_->Invoke(&context, request, &response);
    if (s.ok() && outputs != nullptr) {
      outputs->clear();
      for (const v1::ArrayInfo& o : response.outputs()) outputs->push_back(o.handle());
    }
    return s;
  }
  grpc::Status Describe(const std::vector<uint64_t>& handles, v1::DescribeArraysResponse* out) {
    v1::DescribeArraysRequest request;
    request.set_session(session_);
    for (uint64_t h : handles) request.add_handles(h);
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub_->Describe(&context, request, out);
  }
  grpc::Status Free(const std::vector<uint64_t>& handles) {
    v1::FreeRequest request;
    request.set_session(session_);
    for (uint64_t h : handles) request.add_handles(h);
    v1::FreeResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub_->Free(&context, request, &response);
  }
  grpc::Status Wait(const std::vector<uint64_t>& handles, absl::Duration timeout = kTimeout) {
    v1::WaitRequest request;
    request.set_session(session_);
    for (uint64_t h : handles) request.add_handles(h);
    v1::WaitResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, timeout);
    return stub_->Wait(&context, request, &response);
  }

 private:
  static constexpr absl::Duration kTimeout = absl::Seconds(60);
  std::unique_ptr<v1::Worker::Stub> stub_;
  std::string session_;
};

}  // namespace mxgrid::integration

#endif  // MXGRID_TESTS_INTEGRATION_WORKER_CLIENT_H_
