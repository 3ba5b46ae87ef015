// mxgrid.v1.KVStore (proto/mxgrid/v1/kvstore.proto, whose header is the contract) over
// libs/kvstore's JobTable: thin handlers that decode, call one job method and encode. One
// service is one shard.
//
// Every waiting call (Barrier, Pull, a Push over the run-ahead bound) honours the call's
// deadline and gives up when the client cancels (polled every 100 ms).
//
//   kvstore::JobTable table({.num_workers = 2});
//   KVStoreService service(&table, /*snapshotter=*/nullptr);
//
// Thread-safety: thread-safe (gRPC calls handlers concurrently).
#ifndef MXGRID_SERVICES_KVSTORE_KVSTORE_SERVICE_H_
#define MXGRID_SERVICES_KVSTORE_KVSTORE_SERVICE_H_

#include <optional>

#include "absl/status/statusor.h"
#include "libs/kvstore/job_table.h"
#include "libs/kvstore/shm_regions.h"
#include "libs/kvstore/snapshot_dir.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"

namespace mxgrid::services {

class KVStoreService final : public v1::KVStore::Service {
 public:
  // `table` must outlive the service; `snapshotter` may be null (no --state_dir: Snapshot is
  // FAILED_PRECONDITION), else it must outlive the service.
  KVStoreService(kvstore::JobTable* table, kvstore::Snapshotter* snapshotter);

  // Unmaps the shared-memory regions of every rank of `job` (removed from the table).
  void DropJobRegions(const std::string& job) { regions_.DropJob(job); }

  grpc::Status JoinJob(grpc::ServerContext* context, const v1::JoinJobRequest* request,
                       v1::JoinJobResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status LeaveJob(grpc::ServerContext* context, const v1::LeaveJobRequest* request,
                        v1::LeaveJobResponse* response) override;
  grpc::Status Barrier(grpc::ServerContext* context, const v1::BarrierRequest* request,
                       v1::BarrierResponse* response) override;
  grpc::Status Init(grpc::ServerContext* context, const v1::InitRequest* request,
                    v1::InitResponse* response) override;
  grpc::Status InitStream(grpc::ServerContext* context,
                          grpc::ServerReader<v1::InitStreamRequest>* reader,
                          v1::InitResponse* response) override;
  grpc::Status Push(grpc::ServerContext* context, const v1::PushRequest* request,
                    v1::PushResponse* response) override;
  grpc::Status PushStream(grpc::ServerContext* context,
                          grpc::ServerReader<v1::PushStreamRequest>* reader,
                          v1::PushResponse* response) override;
  grpc::Status Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                    v1::PullResponse* response) override;
  grpc::Status PullStream(grpc::ServerContext* context, const v1::PullStreamRequest* request,
                          grpc::ServerWriter<v1::PullStreamResponse>* writer) override;
  grpc::Status PushPull(grpc::ServerContext* context, const v1::PushPullRequest* request,
                        v1::PullResponse* response) override;
  // Many small calls of one job and rank in one round trip (kvstore_batch.cc).
  grpc::Status Batch(grpc::ServerContext* context, const v1::BatchRequest* request,
                     v1::BatchResponse* response) override;
  // Same-host shared memory (kvstore_shm.cc).
  grpc::Status RegisterShardShm(grpc::ServerContext* context,
                                const v1::RegisterShardShmRequest* request,
                                v1::RegisterShardShmResponse* response) override;
  grpc::Status UnregisterShardShm(grpc::ServerContext* context,
                                  const v1::UnregisterShardShmRequest* request,
                                  v1::UnregisterShardShmResponse* response) override;
  grpc::Status SetOptimizer(grpc::ServerContext* context, const v1::SetOptimizerRequest* request,
                            v1::SetOptimizerResponse* response) override;
  grpc::Status GetOptimizerStates(grpc::ServerContext* context,
                                  const v1::GetOptimizerStatesRequest* request,
                                  grpc::ServerWriter<v1::OptimizerState>* writer) override;
  grpc::Status SetOptimizerStates(grpc::ServerContext* context,
                                  grpc::ServerReader<v1::SetOptimizerStatesRequest>* reader,
                                  v1::SetOptimizerStatesResponse* response) override;
  grpc::Status Snapshot(grpc::ServerContext* context, const v1::SnapshotRequest* request,
                        v1::SnapshotResponse* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context, const v1::ListKeysRequest* request,
                        v1::ListKeysResponse* response) override;

 private:
  kvstore::JobTable* const table_;
  kvstore::Snapshotter* const snapshotter_;
  // The ranks' registered regions; a rank's go when it leaves.
  kvstore::ShmRegions regions_;
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_KVSTORE_KVSTORE_SERVICE_H_
