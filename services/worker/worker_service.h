// mxgrid.v1.Worker (proto/mxgrid/v1/worker.proto) over the libraries: sessions and handles
// (session.h), NDArrays (libs/tensor), imperative operators (libs/executor/imperative.h),
// executors bound from the compiler's plans (libs/executor) and the local KVStore
// (libs/kvstore/store.h). Handlers decode, call the libraries and encode; the work itself
// runs on the dependency engine.
//
// Thread-safety: thread-safe (gRPC calls handlers concurrently).
#ifndef MXGRID_SERVICES_WORKER_WORKER_SERVICE_H_
#define MXGRID_SERVICES_WORKER_WORKER_SERVICE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/channel.h"
#include "libs/base/lru_cache.h"
#include "libs/base/mutex.h"
#include "libs/ops/registry.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "services/common/gauges.h"
#include "services/worker/internal/kvstore_shards.h"
#include "services/worker/session.h"

namespace mxgrid::services {

struct WorkerOptions {
  SessionOptions sessions;
  // How long a Bind waits for the compiler at most (within the caller's own deadline).
  absl::Duration compiler_timeout = absl::Seconds(30);
  // Parsed operators (name + attributes) kept for repeated imperative calls.
  size_t op_cache_entries = 4096;
  // The server's message limit: DownloadStream chunks stay below it.
  int max_message_bytes = 64 << 20;
  // mxgrid-kvstore shards of dist_* stores whose KVCreate names none (--kvstore): host:port
  // entries, each possibly a comma-separated list (internal::ResolveShardAddresses).
  std::vector<std::string> kvstore_shards;
  // The channels to the shards.
  internal::ShardConnectionOptions shard_connection;
  // How long KVCreate may take to join a dist store's job on every shard (within the
  // caller's own deadline).
  absl::Duration kvstore_join_timeout = absl::Seconds(60);
};

class WorkerService final : public v1::Worker::Service {
 public:
  // `registry` must outlive the service.
  WorkerService(const ops::Registry* registry, WorkerOptions options);

  // Adds the worker's gauges (sessions, bytes held by sessions).
  void AddGauges(SampledGauges* gauges);

  grpc::Status OpenSession(grpc::ServerContext* context, const v1::OpenSessionRequest* request,
                           v1::OpenSessionResponse* response) override;
  grpc::Status KeepAlive(grpc::ServerContext* context, const v1::KeepAliveRequest* request,
                         v1::KeepAliveResponse* response) override;
  grpc::Status CloseSession(grpc::ServerContext* context, const v1::CloseSessionRequest* request,
                            v1::CloseSessionResponse* response) override;
  grpc::Status ListDevices(grpc::ServerContext* context, const v1::ListDevicesRequest* request,
                           v1::ListDevicesResponse* response) override;

  grpc::Status CreateArray(grpc::ServerContext* context, const v1::CreateArrayRequest* request,
                           v1::ArrayInfo* response) override;
  grpc::Status Upload(grpc::ServerContext* context, const v1::UploadRequest* request,
                      v1::ArrayInfo* response) override;
  grpc::Status UploadStream(grpc::ServerContext* context,
                            grpc::ServerReader<v1::UploadRequest>* reader,
                            v1::ArrayInfo* response) override;
  grpc::Status Download(grpc::ServerContext* context, const v1::DownloadRequest* request,
                        v1::Tensor* response) override;
  grpc::Status DownloadStream(grpc::ServerContext* context, const v1::DownloadRequest* request,
                              grpc::ServerWriter<v1::TensorChunk>* writer) override;
  grpc::Status Copy(grpc::ServerContext* context, const v1::CopyRequest* request,
                    v1::ArrayInfo* response) override;
  grpc::Status Fill(grpc::ServerContext* context, const v1::FillRequest* request,
                    v1::FillResponse* response) override;
  grpc::Status View(grpc::ServerContext* context, const v1::ViewRequest* request,
                    v1::ArrayInfo* response) override;
  grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeArraysRequest* request,
                        v1::DescribeArraysResponse* response) override;
  // Sparse arrays (worker_sparse.cc).
  grpc::Status MakeSparse(grpc::ServerContext* context, const v1::MakeSparseRequest* request,
                          v1::ArrayInfo* response) override;
  grpc::Status SparseParts(grpc::ServerContext* context, const v1::SparsePartsRequest* request,
                           v1::SparsePartsResponse* response) override;
  grpc::Status Free(grpc::ServerContext* context, const v1::FreeRequest* request,
                    v1::FreeResponse* response) override;
  grpc::Status Wait(grpc::ServerContext* context, const v1::WaitRequest* request,
                    v1::WaitResponse* response) override;
  // worker_random.cc.
  grpc::Status SeedRandom(grpc::ServerContext* context, const v1::SeedRandomRequest* request,
                          v1::SeedRandomResponse* response) override;

  // Shared memory (worker_shm.cc).
  grpc::Status RegisterShm(grpc::ServerContext* context, const v1::RegisterShmRequest* request,
                           v1::RegisterShmResponse* response) override;
  grpc::Status UnregisterShm(grpc::ServerContext* context,
                             const v1::UnregisterShmRequest* request,
                             v1::UnregisterShmResponse* response) override;
  grpc::Status UploadShm(grpc::ServerContext* context, const v1::UploadShmRequest* request,
                         v1::ArrayInfo* response) override;
  grpc::Status DownloadShm(grpc::ServerContext* context, const v1::DownloadShmRequest* request,
                           v1::DownloadShmResponse* response) override;

  grpc::Status Invoke(grpc::ServerContext* context, const v1::InvokeRequest* request,
                      v1::InvokeResponse* response) override;
  grpc::Status InvokeBatch(grpc::ServerContext* context, const v1::InvokeBatchRequest* request,
                           v1::InvokeBatchResponse* response) override;
  grpc::Status InvokeStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::InvokeBatchResponse, v1::InvokeBatchRequest>* stream) override;

  grpc::Status MarkVariables(grpc::ServerContext* context,
                             const v1::MarkVariablesRequest* request,
                             v1::MarkVariablesResponse* response) override;
  grpc::Status AutogradBackward(grpc::ServerContext* context,
                                const v1::AutogradBackwardRequest* request,
                                v1::AutogradBackwardResponse* response) override;

  grpc::Status Bind(grpc::ServerContext* context, const v1::BindRequest* request,
                    v1::BindResponse* response) override;
  grpc::Status SimpleBind(grpc::ServerContext* context, const v1::SimpleBindRequest* request,
                          v1::BindResponse* response) override;
  grpc::Status Forward(grpc::ServerContext* context, const v1::ForwardRequest* request,
                       v1::ForwardResponse* response) override;
  grpc::Status Backward(grpc::ServerContext* context, const v1::BackwardRequest* request,
                        v1::BackwardResponse* response) override;
  grpc::Status SetExecutorOptimizer(grpc::ServerContext* context,
                                    const v1::SetExecutorOptimizerRequest* request,
                                    v1::SetExecutorOptimizerResponse* response) override;
  grpc::Status Update(grpc::ServerContext* context, const v1::UpdateRequest* request,
                      v1::UpdateResponse* response) override;
  grpc::Status FreeExecutor(grpc::ServerContext* context,
                            const v1::FreeExecutorRequest* request,
                            v1::FreeExecutorResponse* response) override;
  grpc::Status ReshapeExecutor(grpc::ServerContext* context,
                               const v1::ReshapeExecutorRequest* request,
                               v1::BindResponse* response) override;
  // worker_executor_state.cc
  grpc::Status GetExecutorSymbol(grpc::ServerContext* context,
                                 const v1::GetExecutorSymbolRequest* request,
                                 v1::GetExecutorSymbolResponse* response) override;
  grpc::Status GetExecutorOptimizerStates(grpc::ServerContext* context,
                                          const v1::GetExecutorOptimizerStatesRequest* request,
                                          v1::GetExecutorOptimizerStatesResponse* response) override;
  grpc::Status SetExecutorOptimizerStates(grpc::ServerContext* context,
                                          const v1::SetExecutorOptimizerStatesRequest* request,
                                          v1::SetExecutorOptimizerStatesResponse* response) override;

  grpc::Status KVCreate(grpc::ServerContext* context, const v1::KVCreateRequest* request,
                        v1::KVCreateResponse* response) override;
  grpc::Status KVInit(grpc::ServerContext* context, const v1::KVInitRequest* request,
                      v1::KVInitResponse* response) override;
  grpc::Status KVPush(grpc::ServerContext* context, const v1::KVPushRequest* request,
                      v1::KVPushResponse* response) override;
  grpc::Status KVPull(grpc::ServerContext* context, const v1::KVPullRequest* request,
                      v1::KVPullResponse* response) override;
  grpc::Status KVSetOptimizer(grpc::ServerContext* context,
                              const v1::KVSetOptimizerRequest* request,
                              v1::KVSetOptimizerResponse* response) override;
  grpc::Status KVBarrier(grpc::ServerContext* context, const v1::KVBarrierRequest* request,
                         v1::KVBarrierResponse* response) override;
  grpc::Status KVGetOptimizerStates(grpc::ServerContext* context,
                                    const v1::KVGetOptimizerStatesRequest* request,
                                    v1::KVGetOptimizerStatesResponse* response) override;
  grpc::Status KVSetOptimizerStates(grpc::ServerContext* context,
                                    const v1::KVSetOptimizerStatesRequest* request,
                                    v1::KVSetOptimizerStatesResponse* response) override;
  grpc::Status SetExecutorKVStore(grpc::ServerContext* context,
                                  const v1::SetExecutorKVStoreRequest* request,
                                  v1::SetExecutorKVStoreResponse* response) override;

 private:
  // One imperative call on `session` (Invoke, and each call of a batch).
  // Each call first waits for room in the session's queue (internal::WaitForRoom).
  absl::Status DoInvoke(grpc::ServerContext* context, Session& session,
                        const v1::InvokeRequest& request, v1::InvokeResponse* response);
  // DoInvoke for calls with sparse arrays (worker_sparse.cc).
  absl::Status DoInvokeAny(Session& session, std::shared_ptr<const ops::ParsedOp> op,
                           const v1::InvokeRequest& request, v1::InvokeResponse* response);
  // Copy when the source or the target is sparse (worker_sparse.cc).
  absl::Status CopySparse(Session& session, const v1::CopyRequest& request,
                          v1::ArrayInfo* response);
  absl::Status DoInvokeBatch(grpc::ServerContext* context, const v1::InvokeBatchRequest& request,
                             v1::InvokeBatchResponse* response);
  // The parsed operator for (name, attrs), from the cache when seen before.
  absl::StatusOr<std::shared_ptr<const ops::ParsedOp>> ParseOp(
      const std::string& name, const google::protobuf::Map<std::string, std::string>& attrs);
  // A plan for `request` from the compiler (or in-process without one).
  absl::StatusOr<graph::Plan> GetPlan(grpc::ServerContext* context,
                                      const v1::MakePlanRequest& request, bool* cached);
  // A dist_* store for `request` (worker_kvstore_dist.cc): joins the job on every shard.
  absl::StatusOr<std::shared_ptr<SessionKVStore>> CreateDistStore(
      grpc::ServerContext* context, const v1::KVCreateRequest& request,
      v1::KVCreateResponse* response);
  // Registers a new executor (and its outputs, and with `register_bound` its arguments,
  // gradients and auxiliary states) in the session and describes it.
  absl::Status AddExecutor(Session& session, std::unique_ptr<executor::Executor> exec,
                           bool register_bound, const v1::BindRequest* bind, bool cached,
                           v1::BindResponse* response);

 public:
  // Where Bind gets plans; the worker binary points it at --compiler, or at a compiler
  // service in its own process.
  void SetCompiler(std::shared_ptr<grpc::Channel> channel) ABSL_LOCKS_EXCLUDED(compiler_mu_);

 private:

  const ops::Registry* const registry_;
  const WorkerOptions options_;
  SessionTable sessions_;
  base::Mutex compiler_mu_;
  std::shared_ptr<v1::Compiler::Stub> compiler_ ABSL_GUARDED_BY(compiler_mu_);

  // Parsed operators by name and attributes.
  base::LruCache<std::shared_ptr<const ops::ParsedOp>> ops_;
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_WORKER_WORKER_SERVICE_H_
