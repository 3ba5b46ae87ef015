// DistWorkerClient: a WorkerClient session with one KVStore, the KV* and executor calls the
// dist kvstore integration tests make (each returns the call's grpc::Status).
//
//   DistWorkerClient w(worker.NewChannel());
//   ASSERT_TRUE(w.Open().ok());
//   ASSERT_TRUE(w.CreateStore({.type = "dist_sync", .rank = 0, .num_workers = 2}).ok());
//   ASSERT_TRUE(w.Push("3", {grad}).ok());
//
// Thread-safety: thread-compatible (one client per thread).
#ifndef MXGRID_TESTS_INTEGRATION_DIST_WORKER_CLIENT_H_
#define MXGRID_TESTS_INTEGRATION_DIST_WORKER_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"

namespace mxgrid::integration {

struct StoreSpec {
  std::string type = "dist_sync";
  std::string job;
  int rank = 0;
  int num_workers = 0;
  std::vector<std::string> shards;  // empty: the worker's --kvstore
  int64_t bigarray_bound = 0;
  int64_t heartbeat_timeout_ms = 0;
};

class DistWorkerClient : public WorkerClient {
 public:
  using WorkerClient::WorkerClient;

  uint64_t store() const { return store_; }

  grpc::Status CreateStore(const StoreSpec& spec, v1::KVCreateResponse* out = nullptr) {
    v1::KVCreateRequest request;
    request.set_session(session());
    request.set_type(spec.type);
    request.set_job(spec.job);
    request.set_rank(spec.rank);
    request.set_num_workers(spec.num_workers);
    for (const std::string& s : spec.shards) request.add_shards(s);
    request.set_bigarray_bound(spec.bigarray_bound);
    request.set_heartbeat_timeout_ms(spec.heartbeat_timeout_ms);
    v1::KVCreateResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    const grpc::Status s = stub()->KVCreate(&context, request, &response);
    if (s.ok()) store_ = response.store();
    if (out != nullptr) *out = response;
    return s;
  }
  grpc::Status Init(const std::map<std::string, uint64_t>& values) {
    v1::KVInitRequest request;
    request.set_session(session());
    request.set_store(store_);
    for (const auto& [key, h] : values) {
      v1::KVPair* p = request.add_pairs();
      p->set_key(key);
      p->add_values(h);
    }
    v1::KVInitResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->KVInit(&context, request, &response);
  }
  grpc::Status Push(const std::string& key, const std::vector<uint64_t>& values) {
    return PushOrPull(key, values, /*push=*/true);
  }
  grpc::Status Pull(const std::string& key, const std::vector<uint64_t>& outs) {
    return PushOrPull(key, outs, /*push=*/false);
  }
  grpc::Status SetOptimizer(const std::string& name,
                            const std::map<std::string, std::string>& params) {
    v1::KVSetOptimizerRequest request;
    request.set_session(session());
    request.set_store(store_);
    request.set_name(name);
    request.mutable_params()->insert(params.begin(), params.end());
    v1::KVSetOptimizerResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->KVSetOptimizer(&context, request, &response);
  }
  grpc::Status Barrier() {
    v1::KVBarrierRequest request;
    request.set_session(session());
    request.set_store(store_);
    v1::KVBarrierResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->KVBarrier(&context, request, &response);
  }
  grpc::Status SetExecutorKVStore(uint64_t executor,
                                  const std::map<std::string, std::string>& keys) {
    v1::SetExecutorKVStoreRequest request;
    request.set_session(session());
    request.set_executor(executor);
    request.set_store(store_);
    request.mutable_keys()->insert(keys.begin(), keys.end());
    v1::SetExecutorKVStoreResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->SetExecutorKVStore(&context, request, &response);
  }
  grpc::Status Update(uint64_t executor) {
    v1::UpdateRequest request;
    request.set_session(session());
    request.set_executor(executor);
    v1::UpdateResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->Update(&context, request, &response);
  }
  grpc::Status GetOptimizerStates(v1::KVGetOptimizerStatesResponse* out) {
    v1::KVGetOptimizerStatesRequest request;
    request.set_session(session());
    request.set_store(store_);
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->KVGetOptimizerStates(&context, request, out);
  }
  grpc::Status SetOptimizerStates(const std::vector<std::string>& names,
                                  const std::vector<uint64_t>& arrays) {
    v1::KVSetOptimizerStatesRequest request;
    request.set_session(session());
    request.set_store(store_);
    for (const std::string& n : names) request.add_names(n);
    for (uint64_t h : arrays) request.add_arrays(h);
    v1::KVSetOptimizerStatesResponse response;
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    return stub()->KVSetOptimizerStates(&context, request, &response);
  }
  // Values of a float array (waits up to `timeout`).
  grpc::Status Floats(uint64_t handle, std::vector<float>* out,
                      absl::Duration timeout = kTimeout) {
    v1::Tensor t;
    const grpc::Status s = Download(handle, &t, timeout);
    if (s.ok()) *out = TensorFloats(t);
    return s;
  }

 private:
  grpc::Status PushOrPull(const std::string& key, const std::vector<uint64_t>& handles,
                          bool push) {
    v1::KVPair pair;
    pair.set_key(key);
    for (uint64_t h : handles) pair.add_values(h);
    grpc::ClientContext context;
    SetTimeout(&context, kTimeout);
    if (push) {
      v1::KVPushRequest request;
      request.set_session(session());
      request.set_store(store_);
      *request.add_pairs() = pair;
      v1::KVPushResponse response;
      return stub()->KVPush(&context, request, &response);
    }
    v1::KVPullRequest request;
    request.set_session(session());
    request.set_store(store_);
    *request.add_pairs() = pair;
    v1::KVPullResponse response;
    return stub()->KVPull(&context, request, &response);
  }

  static constexpr absl::Duration kTimeout = absl::Seconds(60);
  uint64_t store_ = 0;
};

}  // namespace mxgrid::integration

#endif  // MXGRID_TESTS_INTEGRATION_DIST_WORKER_CLIENT_H_
