#include "services/kvstore/kvstore_service.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/tensor_codec.h"
#include "services/common/grpc_status.h"
#include "services/kvstore/kvstore_calls.h"
#include "services/kvstore/kvstore_shm.h"

namespace mxgrid::services {
namespace {

using kvstore::Job;
using kvstore::KeyId;
using tensor::NDArray;

using kvstore_calls::FindRef;
using kvstore_calls::PullDType;
using kvstore_calls::Values;
using kvstore_calls::Wait;

absl::StatusOr<NDArray> DoPull(grpc::ServerContext* context, const kvstore::JobTable& table,
                               const v1::KeyRef& ref, v1::DType dtype) {
  KeyId id;
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(table, ref, &id));
  MXGRID_ASSIGN_OR_RETURN(std::optional<DType> want, PullDType(dtype));
  return job->Pull(id, ref.rank(), want, Wait(context));
}

v1::KVMode Mode(bool sync) { return sync ? v1::KV_MODE_SYNC : v1::KV_MODE_ASYNC; }

kvstore::RowsSpec RowsOf(const v1::PartRows& rows) {
  return {{rows.ids().begin(), rows.ids().end()}, rows.row_length(), rows.first()};
}

// A row_sparse push (PushRequest.rows): exactly one value, by message.
absl::Status PushRows(Job* job, const KeyId& id, const v1::PushRequest& request,
                      const kvstore::WaitOptions& wait) {
  if (request.has_shm_value() || request.values_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: a row push carries exactly one value in `values` (the rows' pieces), got ",
        request.values_size(), request.has_shm_value() ? " and shm_value" : ""));
  }
  absl::StatusOr<NDArray> value = rpc::FromProto(request.values(0), Context::Cpu());
  if (!value.ok()) {
    return absl::Status(value.status().code(),
                        absl::StrCat("values[0]: ", value.status().message()));
  }
  return job->PushRows(id, request.ref().rank(), RowsOf(request.rows()), *value, wait);
}

// kv.row_sparse_pull of a part (PullRequest.rows), into the response's value.
absl::Status PullRows(Job* job, const KeyId& id, const v1::PullRequest& request,
                      const kvstore::WaitOptions& wait, v1::Tensor* out) {
  if (request.has_shm_out()) {
    return absl::InvalidArgumentError("kvstore: a row pull answers by message, not shm_out");
  }
  MXGRID_ASSIGN_OR_RETURN(std::optional<DType> want, PullDType(request.dtype()));
  MXGRID_ASSIGN_OR_RETURN(NDArray value, job->PullRows(id, request.ref().rank(),
                                                       RowsOf(request.rows()), want, wait));
  return rpc::ToProto(value, out);
}

}  // namespace

KVStoreService::KVStoreService(kvstore::JobTable* table, kvstore::Snapshotter* snapshotter)
    : table_(table), snapshotter_(snapshotter) {}

grpc::Status KVStoreService::JoinJob(grpc::ServerContext*, const v1::JoinJobRequest* request,
                                     v1::JoinJobResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    kvstore::JoinRequest join;
    join.job = request->job();
    join.rank = request->rank();
    join.num_workers = request->num_workers();
    if (request->mode() == v1::KV_MODE_SYNC) join.sync = true;
    if (request->mode() == v1::KV_MODE_ASYNC) join.sync = false;
    if (request->mode() != v1::KV_MODE_UNSPECIFIED && !join.sync.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("kvstore: unknown mode ", request->mode()));
    }
    join.heartbeat_timeout = absl::Milliseconds(request->heartbeat_timeout_ms());
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Join(join));
    const kvstore::JobInfo info = job->Info();
    response->set_num_workers(info.options.num_workers);
    response->set_mode(Mode(info.options.sync));
    response->set_heartbeat_timeout_ms(
        info.options.heartbeat_timeout == absl::InfiniteDuration()
            ? 0
            : absl::ToInt64Milliseconds(info.options.heartbeat_timeout));
    response->set_restored_round(info.restored_round);
    response->set_restored_keys(info.restored_keys);
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                                       v1::HeartbeatResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request->job()));
    MXGRID_ASSIGN_OR_RETURN(int active, job->Heartbeat(request->rank()));
    response->set_active_workers(active);
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::LeaveJob(grpc::ServerContext*, const v1::LeaveJobRequest* request,
                                      v1::LeaveJobResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request->job()));
    MXGRID_RETURN_IF_ERROR(job->Leave(request->rank()));
    regions_.DropRank(request->job(), request->rank());
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::Barrier(grpc::ServerContext* context,
                                     const v1::BarrierRequest* request, v1::BarrierResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request->job()));
    return job->Barrier(request->rank(), Wait(context));
  }());
}

grpc::Status KVStoreService::Init(grpc::ServerContext*, const v1::InitRequest* request,
                                  v1::InitResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, request->ref(), &id));
    absl::StatusOr<NDArray> value = rpc::FromProto(request->value(), Context::Cpu());
    if (!value.ok()) return Annotate(value.status(), "value");
    MXGRID_ASSIGN_OR_RETURN(bool restored,
                            job->Init(id, request->ref().rank(), request->index(), *value));
    response->set_restored(restored);
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::InitStream(grpc::ServerContext*,
                                        grpc::ServerReader<v1::InitStreamRequest>* reader,
                                        v1::InitResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    v1::InitStreamRequest first;
    if (!reader->Read(&first)) {
      return absl::InvalidArgumentError("InitStream received no messages");
    }
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, first.ref(), &id));
    Job::BusyScope busy(job.get(), first.ref().rank());  // a long upload is not silence
    rpc::ChunkAssembler value(Context::Cpu());
    MXGRID_RETURN_IF_ERROR(value.Add(first.chunk()));
    v1::InitStreamRequest request;
    while (reader->Read(&request)) MXGRID_RETURN_IF_ERROR(value.Add(request.chunk()));
    MXGRID_ASSIGN_OR_RETURN(NDArray array, value.Finish());
    MXGRID_ASSIGN_OR_RETURN(bool restored,
                            job->Init(id, first.ref().rank(), first.index(), array));
    response->set_restored(restored);
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::Push(grpc::ServerContext* context, const v1::PushRequest* request,
                                  v1::PushResponse*) {
  return ToGrpc([&]() -> absl::Status {
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, request->ref(), &id));
    if (request->has_rows()) return PushRows(job.get(), id, *request, Wait(context));
    return PushValues(job.get(), id, request->ref(), request->values(),
                      request->has_shm_value() ? &request->shm_value() : nullptr, regions_,
                      Wait(context));
  }());
}

grpc::Status KVStoreService::PushStream(grpc::ServerContext* context,
                                        grpc::ServerReader<v1::PushStreamRequest>* reader,
                                        v1::PushResponse*) {
  return ToGrpc([&]() -> absl::Status {
    v1::PushStreamRequest request;
    if (!reader->Read(&request)) {
      return absl::InvalidArgumentError("PushStream received no messages");
    }
    const v1::KeyRef ref = request.ref();
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, ref, &id));
    Job::BusyScope busy(job.get(), ref.rank());  // a long upload is not silence
    std::vector<NDArray> values;
    std::optional<rpc::ChunkAssembler> current;
    do {
      if (request.chunk().has_meta() && current) {  // the next value of the list begins
        MXGRID_ASSIGN_OR_RETURN(NDArray done, current->Finish());
        values.push_back(std::move(done));
        current.reset();
      }
      if (!current) current.emplace(Context::Cpu());
      MXGRID_RETURN_IF_ERROR(current->Add(request.chunk()));
    } while (reader->Read(&request));
    MXGRID_ASSIGN_OR_RETURN(NDArray last, current->Finish());
    values.push_back(std::move(last));
    return job->Push(id, ref.rank(), values, Wait(context));
  }());
}

grpc::Status KVStoreService::Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                                  v1::PullResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, request->ref(), &id));
    if (request->has_rows()) {
      return PullRows(job.get(), id, *request, Wait(context), response->mutable_value());
    }
    return PullValue(job.get(), id, request->ref(), request->dtype(),
                     request->has_shm_out() ? &request->shm_out() : nullptr, regions_,
                     Wait(context), response->mutable_value());
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
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, request->ref(), &id));
    Job::BusyScope busy(job.get(), request->ref().rank());  // a long download is not silence
    MXGRID_ASSIGN_OR_RETURN(NDArray out,
                            DoPull(context, *table_, request->ref(), request->dtype()));
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
    KeyId id;
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, FindRef(*table_, request->ref(), &id));
    if (request->has_shm_out()) {
      // An unknown output region fails before the push counts (a client redoes the call).
      MXGRID_RETURN_IF_ERROR(regions_
                                 .Find(request->ref().job(), request->ref().rank(),
                                       request->shm_out().region())
                                 .status());
    }
    MXGRID_RETURN_IF_ERROR(PushValues(job.get(), id, request->ref(), request->values(),
                                      request->has_shm_value() ? &request->shm_value()
                                                               : nullptr,
                                      regions_, Wait(context)));
    return PullValue(job.get(), id, request->ref(), request->dtype(),
                     request->has_shm_out() ? &request->shm_out() : nullptr, regions_,
                     Wait(context), response->mutable_value());
  }());
}

grpc::Status KVStoreService::SetOptimizer(grpc::ServerContext*,
                                          const v1::SetOptimizerRequest* request,
                                          v1::SetOptimizerResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request->job()));
    const std::map<std::string, std::string> params(request->params().begin(),
                                                    request->params().end());
    kvstore::KeyMultipliers mults;
    mults.lr.insert(request->lr_mult().begin(), request->lr_mult().end());
    mults.wd.insert(request->wd_mult().begin(), request->wd_mult().end());
    return job->SetOptimizer(request->rank(), request->name(), params, mults);
  }());
}

grpc::Status KVStoreService::GetOptimizerStates(grpc::ServerContext*,
                                                const v1::GetOptimizerStatesRequest* request,
                                                grpc::ServerWriter<v1::OptimizerState>* writer) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request->job()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<Job::KeyOptimizerState> states,
                            job->GetOptimizerStates());
    for (const Job::KeyOptimizerState& s : states) {
      v1::OptimizerState out;
      out.set_key(s.id.key);
      out.set_part(s.id.part);
      out.set_index(s.index);
      out.set_update_count(s.state.update_count);
      for (const NDArray& a : s.state.arrays) {
        MXGRID_RETURN_IF_ERROR(rpc::ToProto(a, out.add_arrays()));
      }
      if (!writer->Write(out)) return absl::UnavailableError("the client went away");
    }
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::SetOptimizerStates(
    grpc::ServerContext*, grpc::ServerReader<v1::SetOptimizerStatesRequest>* reader,
    v1::SetOptimizerStatesResponse*) {
  return ToGrpc([&]() -> absl::Status {
    v1::SetOptimizerStatesRequest request;
    if (!reader->Read(&request)) {
      return absl::InvalidArgumentError("SetOptimizerStates received no messages");
    }
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request.job()));
    int n = 0;
    do {
      if (!request.has_state()) continue;
      const v1::OptimizerState& in = request.state();
      Job::KeyOptimizerState s;
      s.id = KeyId{in.key(), in.part()};
      s.index = in.index();
      s.state.update_count = in.update_count();
      for (int i = 0; i < in.arrays_size(); ++i) {
        absl::StatusOr<NDArray> a = rpc::FromProto(in.arrays(i), Context::Cpu());
        if (!a.ok()) {
          return Annotate(a.status(), absl::StrCat("state ", n, " arrays[", i, "]"));
        }
        s.state.arrays.push_back(*std::move(a));
      }
      absl::Status st = job->SetOptimizerState(s);
      if (!st.ok()) return Annotate(st, absl::StrCat("state ", n));
      ++n;
    } while (reader->Read(&request));
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::Snapshot(grpc::ServerContext*, const v1::SnapshotRequest*,
                                      v1::SnapshotResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    if (snapshotter_ == nullptr) {
      return absl::FailedPreconditionError(
          "kvstore: this shard runs without --state_dir; start it with one to snapshot");
    }
    MXGRID_ASSIGN_OR_RETURN(kvstore::SnapshotFile file, snapshotter_->SnapshotNow());
    response->set_path(file.path);
    response->set_bytes(file.bytes);
    response->set_jobs(file.jobs);
    return absl::OkStatus();
  }());
}

grpc::Status KVStoreService::ListKeys(grpc::ServerContext*, const v1::ListKeysRequest* request,
                                      v1::ListKeysResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    response->set_bytes_in_use(table_->BytesInUse());
    response->set_num_workers(table_->options().num_workers);
    response->set_mode(Mode(table_->options().sync));
    response->set_dead_rank(-1);
    if (request->job().empty()) {
      for (const std::string& name : table_->Names()) response->add_jobs(name);
      return absl::OkStatus();
    }
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, table_->Find(request->job()));
    const kvstore::JobInfo info = job->Info();
    for (const std::string& key : info.keys) response->add_keys(key);
    response->set_num_workers(info.options.num_workers);
    response->set_mode(Mode(info.options.sync));
    for (int r : info.active_ranks) response->add_active_ranks(r);
    for (int r : info.left_ranks) response->add_left_ranks(r);
    response->set_dead_rank(info.dead_rank);
    response->set_round(info.round);
    response->set_restored_round(info.restored_round);
    return absl::OkStatus();
  }());
}

}  // namespace mxgrid::services
