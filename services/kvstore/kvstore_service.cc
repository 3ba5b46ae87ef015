#include "services/kvstore/kvstore_service.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/tensor_codec.h"
#include "services/common/grpc_status.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

// How often a waiting pull checks whether its client has cancelled.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(100);

// The call's deadline; InfiniteFuture when the client set none.
absl::Time Deadline(const grpc::ServerContext& context) {
  const std::chrono::system_clock::time_point d = context.deadline();
  if (d == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(d);
}

absl::StatusOr<std::vector<NDArray>> Values(
    const google::protobuf::RepeatedPtrField<v1::Tensor>& values) {
  std::vector<NDArray> out;
  for (int i = 0; i < values.size(); ++i) {
    absl::StatusOr<NDArray> a = rpc::FromProto(values[i], Context::Cpu());
    if (!a.ok()) return Annotate(a.status(), absl::StrCat("values[", i, "]"));
    out.push_back(*std::move(a));
  }
  return out;
}

}  // namespace

KVStoreService::KVStoreService(kvstore::StoreOptions options) : store_(options) {}

absl::Status KVStoreService::DoInit(const std::string& key, const NDArray& value) {
  return store_.Init(key, value);
}

absl::StatusOr<NDArray> KVStoreService::DoPull(grpc::ServerContext* context,
                                               const std::string& key, int rank,
                                               v1::DType dtype) {
  MXGRID_ASSIGN_OR_RETURN(kvstore::Store::KeyMeta meta, store_.Meta(key));
  if (dtype != v1::DTYPE_UNSPECIFIED) {
    MXGRID_ASSIGN_OR_RETURN(meta.dtype, rpc::FromProtoDType(dtype));
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray out, NDArray::Empty(meta.shape, Context::Cpu(), meta.dtype));
  // Waits in slices so that a cancelled call frees its thread instead of waiting for a round
  // that may never complete.
  const absl::Time deadline = Deadline(*context);
  while (true) {
    const absl::Time slice = std::min(deadline, absl::Now() + kCancelPoll);
    absl::Status s = store_.Pull(key, rank, out, slice);
    if (s.code() != absl::StatusCode::kDeadlineExceeded) {
      MXGRID_RETURN_IF_ERROR(s);
      return out;
    }
    if (context->IsCancelled()) return absl::CancelledError("the client cancelled the pull");
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pull of key ", Quoted(key), " by rank ", rank,
                       " timed out waiting for the other workers' pushes"));
    }
  }
}

grpc::Status KVStoreService::Init(grpc::ServerContext*, const v1::InitRequest* request,
                                  v1::InitResponse*) {
  return ToGrpc([&]() -> absl::Status {
    absl::StatusOr<NDArray> value = rpc::FromProto(request->value(), Context::Cpu());
    if (!value.ok()) return Annotate(value.status(), "value");
    return DoInit(request->key(), *value);
  }());
}

grpc::Status KVStoreService::InitStream(grpc::ServerContext*,
                                        grpc::ServerReader<v1::InitStreamRequest>* reader,
                                        v1::InitResponse*) {
  return ToGrpc([&]() -> absl::Status {
    std::string key;
    bool first = true;
    rpc::ChunkAssembler value(Context::Cpu());
    v1::InitStreamRequest request;
    while (reader->Read(&request)) {
      if (first) key = request.key();
      first = false;
      MXGRID_RETURN_IF_ERROR(value.Add(request.chunk()));
    }
    if (first) return absl::InvalidArgumentError("InitStream received no messages");
    MXGRID_ASSIGN_OR_RETURN(NDArray array, value.Finish());
    return DoInit(key, array);
  }());
}

grpc::Status KVStoreService::Push(grpc::ServerContext*, const v1::PushRequest* request,
                                  v1::PushResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> values, Values(request->values()));
    return store_.Push(request->key(), request->rank(), values);
  }());
}

grpc::Status KVStoreService::PushStream(grpc::ServerContext*,
                                        grpc::ServerReader<v1::PushStreamRequest>* reader,
                                        v1::PushResponse*) {
  return ToGrpc([&]() -> absl::Status {
    std::string key;
    int rank = 0;
    bool first = true;
    std::vector<NDArray> values;
    std::optional<rpc::ChunkAssembler> current;
    v1::PushStreamRequest request;
    while (reader->Read(&request)) {
      if (first) {
        key = request.key();
        rank = request.rank();
      }
      first = false;
      if (request.chunk().has_meta() && current) {  // the next value of the list begins
        MXGRID_ASSIGN_OR_RETURN(NDArray done, current->Finish());
        values.push_back(std::move(done));
        current.reset();
      }
      if (!current) current.emplace(Context::Cpu());
      MXGRID_RETURN_IF_ERROR(current->Add(request.chunk()));
    }
    if (first) return absl::InvalidArgumentError("PushStream received no messages");
    MXGRID_ASSIGN_OR_RETURN(NDArray last, current->Finish());
    values.push_back(std::move(last));
    return store_.Push(key, rank, values);
  }());
}

grpc::Status KVStoreService::Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                                  v1::PullResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(NDArray out,
                            DoPull(context, request->key(), request->rank(), request->dtype()));
    return rpc::ToProto(out, response->mutable_value());
  }());
}

grpc::Status KVStoreService::PullStream(grpc::ServerContext* context,
                                        const v1::PullStreamRequest* request,
                                        grpc::ServerWriter<v1::PullStreamResponse>* writer) {
  return ToGrpc([&]() -> absl::Status {
    if (request->chunk_bytes() < 0) {
      return absl::InvalidArgumentError("chunk_bytes must be >= 0 (0: the default)");
    }
    const size_t chunk_bytes = request->chunk_bytes() == 0
                                   ? rpc::kDefaultChunkBytes
                                   : static_cast<size_t>(request->chunk_bytes());
    MXGRID_ASSIGN_OR_RETURN(NDArray out,
                            DoPull(context, request->key(), request->rank(), request->dtype()));
    v1::PullStreamResponse response;
    return rpc::ForEachChunk(out, chunk_bytes, [&](const v1::TensorChunk& chunk) {
      *response.mutable_chunk() = chunk;
      return writer->Write(response) ? absl::OkStatus()
                                     : absl::UnavailableError("the client went away");
    });
  }());
}

grpc::Status KVStoreService::PushPull(grpc::ServerContext* context,
                                      const v1::PushPullRequest* request,
                                      v1::PullResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> values, Values(request->values()));
    MXGRID_RETURN_IF_ERROR(store_.Push(request->key(), request->rank(), values));
    MXGRID_ASSIGN_OR_RETURN(NDArray out,
                            DoPull(context, request->key(), request->rank(), request->dtype()));
    return rpc::ToProto(out, response->mutable_value());
  }());
}

grpc::Status KVStoreService::SetOptimizer(grpc::ServerContext*,
                                          const v1::SetOptimizerRequest* request,
                                          v1::SetOptimizerResponse*) {
  const std::map<std::string, std::string> params(request->params().begin(),
                                                  request->params().end());
  return ToGrpc(store_.SetOptimizer(request->name(), params));
}

grpc::Status KVStoreService::ListKeys(grpc::ServerContext*, const v1::ListKeysRequest*,
                                      v1::ListKeysResponse* response) {
  for (const std::string& key : store_.Keys()) response->add_keys(key);
  response->set_num_workers(store_.options().num_workers);
  response->set_sync(store_.options().sync);
  response->set_bytes_in_use(store_.BytesInUse());
  return grpc::Status::OK;
}

}  // namespace mxgrid::services
