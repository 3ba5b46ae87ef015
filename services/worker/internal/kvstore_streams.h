// Internals of GrpcShardConnection (kvstore_shards.h): its shared state, tensor encoding
// without waiting on the engine, and the reactors of the chunk-stream and state-stream calls.
//
// Thread-safety: Impl is thread-safe; each reactor is driven by gRPC and deletes itself when
// done.
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_STREAMS_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_STREAMS_H_

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/client/shard_connection.h"
#include "libs/rpc/tensor_codec.h"
#include "proto/mxgrid/v1/kvstore.grpc.pb.h"
#include "services/worker/internal/kvstore_shard_shm.h"
#include "services/worker/internal/kvstore_shards.h"

namespace mxgrid::services::internal {

struct GrpcShardConnection::Impl {
  Impl(std::string address, const ShardConnectionOptions& options);

  // Sets the call's deadline and remembers it for CancelAll until Untrack.
  void Track(grpc::ClientContext* ctx, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu);
  void Untrack(grpc::ClientContext* ctx) ABSL_LOCKS_EXCLUDED(mu);
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu);

  const std::string address;
  const ShardConnectionOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::KVStore::Stub> stub;
  base::Mutex mu;
  std::set<grpc::ClientContext*> live ABSL_GUARDED_BY(mu);
  // Same-host shared memory for large values (kvstore_shard_shm.h).
  ShardShm shm;
};

void ToProto(const kvstore::client::KeyRef& ref, v1::KeyRef* out);
absl::Status FromGrpc(const grpc::Status& s);

// The array's meta and bytes. REQUIRES: the array is readable now (no pending writes: the
// caller is an engine operation reading it, or waited), on the CPU.
void EncodeTensor(const tensor::NDArray& array, v1::Tensor* out);
// Copies a received tensor into `out` (same dtype and element count, else InvalidArgument).
// REQUIRES: out writable now, on the CPU.
absl::Status DecodeTensorInto(const v1::Tensor& tensor, const tensor::NDArray& out);

using ImplPtr = std::shared_ptr<GrpcShardConnection::Impl>;

// One unary call: its context and messages live until its callback.
template <typename Req, typename Resp>
struct UnaryCall {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// Starts a unary call: `start(async, ctx, req, resp, callback)` calls the method on
// v1::KVStore::Stub::async_interface; `then` gets the status and the response. The callback
// lets go of impl before `then` runs (then must not drop the last reference to the channel).
template <typename Req, typename Resp, typename Start>
void StartUnary(const ImplPtr& impl, Start start, Req req, absl::Time deadline,
                std::function<void(absl::Status, const Resp&)> then) {
  auto call = std::make_shared<UnaryCall<Req, Resp>>();
  call->req = std::move(req);
  impl->Track(&call->ctx, deadline);
  start(impl->stub->async(), &call->ctx, &call->req, &call->resp,
        [impl, call, then = std::move(then)](grpc::Status s) mutable {
          ImplPtr self = std::move(impl);
          self->Untrack(&call->ctx);
          self.reset();
          then(FromGrpc(s), call->resp);
        });
}

// InitStream / PushStream of `value` in chunks after `first`'s key fields.
void StartInitStream(const ImplPtr& impl, v1::InitStreamRequest first,
                     const tensor::NDArray& value, absl::Time deadline,
                     kvstore::client::Done done);
void StartPushStream(const ImplPtr& impl, v1::PushStreamRequest first,
                     const tensor::NDArray& value, absl::Time deadline,
                     kvstore::client::Done done);
// PullStream into `out`.
void StartPullStream(const ImplPtr& impl, v1::PullStreamRequest request,
                     const tensor::NDArray& out, absl::Time deadline,
                     kvstore::client::Done done);
void StartGetOptimizerStates(
    const ImplPtr& impl, v1::GetOptimizerStatesRequest request, absl::Time deadline,
    std::function<void(absl::StatusOr<std::vector<kvstore::client::PartState>>)> done);
void StartSetOptimizerStates(const ImplPtr& impl,
                             std::vector<v1::SetOptimizerStatesRequest> requests,
                             absl::Time deadline, kvstore::client::Done done);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_STREAMS_H_
