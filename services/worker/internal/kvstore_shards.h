// The worker's gRPC transport to mxgrid-kvstore shards (kvstore.proto): GrpcShardConnection
// implements kvstore::client::ShardConnection with gRPC's callback API, and
// ResolveShardAddresses turns the --kvstore flag / KVCreateRequest.shards into one address
// per shard.
//
//   MXGRID_ASSIGN_OR_RETURN(std::vector<std::string> addrs, ResolveShardAddresses({"a:1,b:2"}));
//   std::vector<std::unique_ptr<kvstore::client::ShardConnection>> conns;
//   for (const std::string& a : addrs) conns.push_back(GrpcShardConnection::Create(a, {}));
//
// Small Push / Pull / PushPull calls (up to batching.max_item_bytes) are coalesced into Batch
// RPCs by a per-connection sender (kvstore_batcher.h); other values of up to `max_unary_bytes` travel in unary Init / Push / Pull / PushPull; larger ones as
// InitStream / PushStream / PullStream chunk streams (rpc::kDefaultChunkBytes per chunk),
// driven by reactors: no thread waits for a stream. Values of at least 256 KiB go through
// shared memory instead when the shard is on this host (kvstore_shard_shm.h; MXGRID_KV_SHM=0
// turns that off). Channels keep alive (60 s ping, 20 s
// timeout, as the servers), every call has the caller's deadline, and CancelAll ends the
// calls in flight. Calls hold the connection's internals, so callbacks may arrive after the
// connection object is gone.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHARDS_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHARDS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "grpcpp/security/credentials.h"
#include "libs/kvstore/client/shard_connection.h"
#include "services/worker/internal/kvstore_batcher_options.h"

namespace mxgrid::services::internal {

class ShardBatcher;

struct ShardConnectionOptions {
  // Largest gRPC message sent or received (the shards' --max_message_bytes).
  int max_message_bytes = 64 << 20;
  // Values above this many bytes go as chunk streams.
  size_t max_unary_bytes = size_t{4} << 20;
  // Small Push / Pull / PushPull calls are coalesced into Batch RPCs (kvstore_batcher.h).
  ShardBatcherOptions batching;
  // How channels to the shards authenticate (services/common/security.h); null means
  // plaintext. One value per process: channels are shared by address.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class GrpcShardConnection final : public kvstore::client::ShardConnection {
 public:
  // A connection to `address` (host:port); connects lazily, so an unreachable shard shows
  // as UNAVAILABLE on the first call.
  static std::unique_ptr<GrpcShardConnection> Create(const std::string& address,
                                                     const ShardConnectionOptions& options);
  // Cancels the calls in flight (their callbacks still run).
  ~GrpcShardConnection() override;

  const std::string& address() const override;
  void JoinJob(const kvstore::client::Membership& membership, absl::Time deadline,
               std::function<void(absl::StatusOr<kvstore::client::JobInfo>)> done) override;
  void Heartbeat(const std::string& job, int rank, absl::Time deadline,
                 kvstore::client::Done done) override;
  void LeaveJob(const std::string& job, int rank, absl::Time deadline,
                kvstore::client::Done done) override;
  void Barrier(const std::string& job, int rank, absl::Time deadline,
               kvstore::client::Done done) override;
  void Init(const kvstore::client::KeyRef& ref, int index, const tensor::NDArray& value,
            absl::Time deadline, kvstore::client::Done done) override;
  void Push(const kvstore::client::KeyRef& ref, const tensor::NDArray& value,
            absl::Time deadline, kvstore::client::Done done) override;
  void Pull(const kvstore::client::KeyRef& ref, const tensor::NDArray& out, absl::Time deadline,
            kvstore::client::Done done) override;
  // Unary PushPull when value and out fit max_unary_bytes; else the Push then the Pull
  // (streams), the pull started from the push's callback.
  void PushPull(const kvstore::client::KeyRef& ref, const tensor::NDArray& value,
                const tensor::NDArray& out, absl::Time deadline,
                kvstore::client::Done done) override;
  // Unary calls (not batched, not through shared memory); RESOURCE_EXHAUSTED for a value
  // over max_message_bytes.
  void PushRows(const kvstore::client::KeyRef& ref, const kvstore::PartRows& rows,
                const tensor::NDArray& value, absl::Time deadline,
                kvstore::client::Done done) override;
  void PullRows(const kvstore::client::KeyRef& ref, const kvstore::PartRows& rows,
                const tensor::NDArray& out, absl::Time deadline,
                kvstore::client::Done done) override;
  void SetOptimizer(const std::string& job, int rank, const std::string& name,
                    const std::map<std::string, std::string>& params,
                    const kvstore::KeyMultipliers& mults, absl::Time deadline,
                    kvstore::client::Done done) override;
  void GetOptimizerStates(
      const std::string& job, absl::Time deadline,
      std::function<void(absl::StatusOr<std::vector<kvstore::client::PartState>>)> done)
      override;
  void SetOptimizerStates(const std::string& job,
                          std::vector<kvstore::client::PartState> states, absl::Time deadline,
                          kvstore::client::Done done) override;
  void Hold() override;
  void Release() override;
  void CancelAll() override;

  // Batch RPCs started so far (tests and metrics).
  int64_t batches_sent() const;

  // The channel, stub and calls in flight; shared with the calls.
  struct Impl;

 private:
  explicit GrpcShardConnection(std::shared_ptr<Impl> impl);
  const std::shared_ptr<Impl> impl_;
  // Destroyed first (in the destructor): its sender thread uses impl_.
  std::unique_ptr<ShardBatcher> batcher_;
};

// The shard addresses, in shard order, from `specs`: each entry may hold several
// comma-separated host:port addresses. Several addresses in all are the shards as listed
// (e.g. a StatefulSet's stable names "mxgrid-kvstore-0.mxgrid-kvstore:50053,..."). One
// host:port whose name resolves (getaddrinfo) to several addresses is a headless service:
// one shard per address, IPv4 addresses if any (else IPv6), deduplicated and sorted so that
// every worker computes the same order (which changes when a shard's address changes: prefer
// listing stable names); a name with a single address stays as given.
// Errors: InvalidArgument for an empty list or a malformed host:port; Unavailable for a
// single name that does not resolve.
absl::StatusOr<std::vector<std::string>> ResolveShardAddresses(
    absl::Span<const std::string> specs);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHARDS_H_
