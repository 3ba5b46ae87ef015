// KVClient: one rank of one job talking to an mxgrid-kvstore shard over its own connection,
// for the integration tests (wire types only). Every call has a deadline (30 s unless given).
//
//   KVClient rank0(server.NewChannel(), "job", 0);
//   ASSERT_TRUE(rank0.Join(2).ok());
//   ASSERT_TRUE(rank0.Init("3", FloatTensor({2}, {0, 0})).ok());
//
// Thread-safety: thread-compatible (one KVClient per thread).
#ifndef MXGRID_TESTS_INTEGRATION_KVSTORE_CLIENT_H_
#define MXGRID_TESTS_INTEGRATION_KVSTORE_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "tests/integration/wire.h"

namespace mxgrid::integration {

class KVClient {
 public:
  KVClient(std::shared_ptr<grpc::Channel> channel, std::string job, int rank)
      : stub_(v1::KVStore::NewStub(std::move(channel))), job_(std::move(job)), rank_(rank) {}

  grpc::Status Join(int num_workers, v1::KVMode mode = v1::KV_MODE_SYNC,
                    int64_t heartbeat_timeout_ms = 0, v1::JoinJobResponse* out = nullptr) {
    v1::JoinJobRequest request;
    request.set_job(job_);
    request.set_rank(rank_);
    request.set_num_workers(num_workers);
    request.set_mode(mode);
    request.set_heartbeat_timeout_ms(heartbeat_timeout_ms);
    v1::JoinJobResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    grpc::Status s = stub_->JoinJob(&context, request, &response);
    if (out != nullptr) *out = response;
    return s;
  }
  grpc::Status Heartbeat() {
    v1::HeartbeatRequest request;
    request.set_job(job_);
    request.set_rank(rank_);
    v1::HeartbeatResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    return stub_->Heartbeat(&context, request, &response);
  }
  grpc::Status Leave() {
    v1::LeaveJobRequest request;
    request.set_job(job_);
    request.set_rank(rank_);
    v1::LeaveJobResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    return stub_->LeaveJob(&context, request, &response);
  }
  grpc::Status Barrier(absl::Duration timeout = absl::Seconds(30)) {
    v1::BarrierRequest request;
    request.set_job(job_);
    request.set_rank(rank_);
    v1::BarrierResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, timeout);
    return stub_->Barrier(&context, request, &response);
  }
  grpc::Status Init(const std::string& key, const v1::Tensor& value, int index = 0,
                    int part = 0, bool* restored = nullptr) {
    v1::InitRequest request;
    SetRef(key, part, request.mutable_ref());
    request.set_index(index);
    *request.mutable_value() = value;
    v1::InitResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    grpc::Status s = stub_->Init(&context, request, &response);
    if (restored != nullptr) *restored = response.restored();
    return s;
  }
  grpc::Status Push(const std::string& key, const std::vector<v1::Tensor>& values,
                    absl::Duration timeout = absl::Seconds(30), int part = 0) {
    v1::PushRequest request;
    SetRef(key, part, request.mutable_ref());
    for (const v1::Tensor& v : values) *request.add_values() = v;
    v1::PushResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, timeout);
    return stub_->Push(&context, request, &response);
  }
  grpc::Status Pull(const std::string& key, std::vector<float>* out,
                    absl::Duration timeout = absl::Seconds(30),
                    grpc::ClientContext* context = nullptr, int part = 0) {
    v1::PullRequest request;
    SetRef(key, part, request.mutable_ref());
    v1::PullResponse response;
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    SetTimeout(context, timeout);
    const grpc::Status s = stub_->Pull(context, request, &response);
    if (s.ok()) *out = TensorFloats(response.value());
    return s;
  }
  grpc::Status SetOptimizer(const std::string& name,
                            const std::map<std::string, std::string>& params) {
    v1::SetOptimizerRequest request;
    request.set_job(job_);
    request.set_rank(rank_);
    request.set_name(name);
    for (const auto& [k, v] : params) (*request.mutable_params())[k] = v;
    v1::SetOptimizerResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    return stub_->SetOptimizer(&context, request, &response);
  }
  grpc::Status ListKeys(v1::ListKeysResponse* out, const std::string& job) {
    v1::ListKeysRequest request;
    request.set_job(job);
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(30));
    return stub_->ListKeys(&context, request, out);
  }
  grpc::Status ListKeys(v1::ListKeysResponse* out) { return ListKeys(out, job_); }

  void SetRef(const std::string& key, int part, v1::KeyRef* ref) const {
    ref->set_job(job_);
    ref->set_key(key);
    ref->set_part(part);
    ref->set_rank(rank_);
  }
  v1::KVStore::Stub* stub() { return stub_.get(); }
  const std::string& job() const { return job_; }
  int rank() const { return rank_; }

 private:
  std::unique_ptr<v1::KVStore::Stub> stub_;
  std::string job_;
  int rank_;
};

}  // namespace mxgrid::integration

#endif  // MXGRID_TESTS_INTEGRATION_KVSTORE_CLIENT_H_
