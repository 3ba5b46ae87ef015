// WorkerService: creation of 'dist_*' stores — the worker becomes the parameter-server
// client of the job on the mxgrid-kvstore shards (libs/kvstore/client/dist_store.h over
// internal/kvstore_shards.h).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/status_macros.h"
#include "libs/kvstore/client/dist_store.h"
#include "services/worker/internal/kvstore_shards.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {

absl::StatusOr<std::shared_ptr<SessionKVStore>> WorkerService::CreateDistStore(
    grpc::ServerContext* context, const v1::KVCreateRequest& request,
    v1::KVCreateResponse* response) {
  if (request.rank() < 0 || request.num_workers() < 0 ||
      (request.num_workers() > 0 && request.rank() >= request.num_workers())) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: rank ", request.rank(),
                                                   " is outside [0, num_workers = ",
                                                   request.num_workers(), ")"));
  }
  if (request.bigarray_bound() < 0 || request.heartbeat_timeout_ms() < 0) {
    return absl::InvalidArgumentError(
        "kvstore: bigarray_bound and heartbeat_timeout_ms must be >= 0 (0: the default)");
  }
  std::vector<std::string> specs(request.shards().begin(), request.shards().end());
  if (specs.empty()) specs = options_.kvstore_shards;
  if (specs.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kvstore type '", request.type(), "' needs mxgrid-kvstore shards: pass "
        "KVCreateRequest.shards (the client's MXGRID_KVSTORE) or start the worker with "
        "--kvstore=host:port,..."));
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<std::string> addresses,
                          internal::ResolveShardAddresses(specs));
  std::vector<std::unique_ptr<kvstore::client::ShardConnection>> connections;
  for (const std::string& a : addresses) {
    connections.push_back(internal::GrpcShardConnection::Create(a, options_.shard_connection));
  }
  kvstore::client::DistStoreOptions options;
  options.membership.job = request.job().empty() ? "default" : request.job();
  options.membership.rank = request.rank();
  options.membership.num_workers = request.num_workers();
  options.membership.mode = absl::StrContains(absl::AsciiStrToLower(request.type()), "_async")
                                ? kvstore::client::Mode::kAsync
                                : kvstore::client::Mode::kSync;
  options.membership.heartbeat_timeout = absl::Milliseconds(request.heartbeat_timeout_ms());
  options.bigarray_bound = request.bigarray_bound() > 0 ? request.bigarray_bound()
                                                        : kvstore::client::kDefaultBigArrayBound;
  const absl::Time deadline = std::min(absl::FromChrono(context->deadline()),
                                       absl::Now() + options_.kvstore_join_timeout);
  MXGRID_ASSIGN_OR_RETURN(
      std::unique_ptr<kvstore::client::DistStore> dist,
      kvstore::client::DistStore::Create(std::move(connections), options, deadline));
  response->set_rank(dist->rank());
  response->set_num_workers(dist->num_workers());
  for (const std::string& a : dist->ShardAddresses()) response->add_shards(a);
  response->set_restored_round(dist->restored_round());
  return SessionKVStore::Dist(request.type(), std::move(dist));
}

}  // namespace mxgrid::services
