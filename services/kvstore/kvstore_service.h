// mxgrid.v1.KVStore (proto/mxgrid/v1/kvstore.proto) over libs/kvstore's Store: thin handlers
// that decode, call the store once and encode. One service is one shard.
//
// Pulls honour the call's deadline and give up when the client cancels. Besides the store the
// service keeps each key's shape and dtype from its Init, so that a pull knows what to return.
//
// Thread-safety: thread-safe (gRPC calls handlers concurrently).
#ifndef MXGRID_SERVICES_KVSTORE_KVSTORE_SERVICE_H_
#define MXGRID_SERVICES_KVSTORE_KVSTORE_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/kvstore/store.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"

namespace mxgrid::services {

class KVStoreService final : public v1::KVStore::Service {
 public:
  // REQUIRES: options.num_workers >= 1.
  explicit KVStoreService(kvstore::StoreOptions options);

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
  grpc::Status SetOptimizer(grpc::ServerContext* context, const v1::SetOptimizerRequest* request,
                            v1::SetOptimizerResponse* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context, const v1::ListKeysRequest* request,
                        v1::ListKeysResponse* response) override;

  // The store, for metrics (BytesInUse) and tests.
  const kvstore::Store& store() const { return store_; }

 private:
  absl::Status DoInit(const std::string& key, const tensor::NDArray& value);
  // Pulls `key` for `rank` into a new CPU array of the key's shape and `dtype` (the key's own
  // for DTYPE_UNSPECIFIED), waiting until the call's deadline or its cancellation.
  absl::StatusOr<tensor::NDArray> DoPull(grpc::ServerContext* context, const std::string& key,
                                         int rank, v1::DType dtype);

  kvstore::Store store_;  // thread-safe
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_KVSTORE_KVSTORE_SERVICE_H_
