// WorkerService: KVStores of a session (session_kvstore.h) — the worker's 'local' / 'device'
// store, or a 'dist_*' store whose pushes and pulls go from this worker to the mxgrid-kvstore
// shards (worker_kvstore_dist.cc creates those).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/engine/flow.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;
using tensor::SparseNDArray;

absl::Time Deadline(const grpc::ServerContext* context) {
  return absl::FromChrono(context->deadline());
}

// The arrays of `handles`, sparse ones as their dense arrays (computed on the worker).
absl::StatusOr<std::vector<NDArray>> DenseValues(const Session& s,
                                                 absl::Span<const uint64_t> handles) {
  if (!s.HasSparse(handles)) return s.Arrays(handles);
  std::vector<NDArray> out;
  for (uint64_t h : handles) {
    if (!s.HasSparse({h})) {
      MXGRID_ASSIGN_OR_RETURN(out.emplace_back(), s.Array(h));
      continue;
    }
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray sparse, s.Sparse(h));
    MXGRID_ASSIGN_OR_RETURN(out.emplace_back(), tensor::ToDense(sparse));
  }
  return out;
}

// The row_sparse arrays of `handles`; nullopt when any is dense or csr (the push is then
// summed densely).
absl::StatusOr<std::optional<std::vector<SparseNDArray>>> RowSparseValues(
    const Session& s, absl::Span<const uint64_t> handles) {
  std::vector<SparseNDArray> out;
  for (uint64_t h : handles) {
    if (!s.HasSparse({h})) return std::nullopt;
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray v, s.Sparse(h));
    if (v.stype() != tensor::StorageType::kRowSparse) return std::nullopt;
    out.push_back(std::move(v));
  }
  return out;
}

// kv.row_sparse_pull of one key: each out (row_sparse) gets the rows of its row_ids.
absl::Status PullRowsInto(Session& s, SessionKVStore& store, const v1::KVPair& pair) {
  if (pair.row_ids_size() != pair.values_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore row_sparse_pull: key ", Quoted(pair.key()), " has ", pair.values_size(),
        " outs but ", pair.row_ids_size(), " row_ids (give one per out)"));
  }
  for (int i = 0; i < pair.values_size(); ++i) {
    absl::StatusOr<SparseNDArray> out = s.Sparse(pair.values(i));
    if (!out.ok() || out->stype() != tensor::StorageType::kRowSparse) {
      if (!out.ok() && out.status().code() == absl::StatusCode::kNotFound) return out.status();
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore row_sparse_pull: out ", i, " of key ", Quoted(pair.key()),
          " must be a row_sparse array"));
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray ids, s.Array(pair.row_ids(i)));
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray rows, store.PullRows(pair.key(), ids));
    if (rows.shape() != out->shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore row_sparse_pull: out ", i, " of key ", Quoted(pair.key()), " is ",
          out->shape().ToString(), "; the stored value is ", rows.shape().ToString()));
    }
    if (rows.context() != out->context() || rows.dtype() != out->dtype()) {
      MXGRID_ASSIGN_OR_RETURN(rows, tensor::CopyTo(rows, out->context(), out->dtype()));
    }
    MXGRID_RETURN_IF_ERROR(s.ReplaceSparse(pair.values(i), std::move(rows)));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status WorkerService::KVCreate(grpc::ServerContext* context,
                                     const v1::KVCreateRequest* request,
                                     v1::KVCreateResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    std::shared_ptr<SessionKVStore> store;
    // MXNet lower-cases the type, then matches substrings (mxnet-1x.md §6.1).
    if (absl::StrContains(absl::AsciiStrToLower(request->type()), "dist")) {
      MXGRID_ASSIGN_OR_RETURN(store, CreateDistStore(context, *request, response));
    } else if (request->type() == "local" || request->type() == "device") {
      store = SessionKVStore::Local(request->type());
      response->set_rank(0);
      response->set_num_workers(1);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore type ", Quoted(request->type()),
          " is unknown: use 'local', 'device' or a dist type ('dist_sync', 'dist_async', "
          "'dist_device_sync')"));
    }
    response->set_store(s->AddStore(std::move(store)));
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::KVInit(grpc::ServerContext* context, const v1::KVInitRequest* request,
                                   v1::KVInitResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    std::vector<std::pair<std::string, NDArray>> pairs;
    for (const v1::KVPair& pair : request->pairs()) {
      if (pair.values_size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("kvstore init: key ", Quoted(pair.key()), " needs exactly one value"));
      }
      MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> value, DenseValues(*s, {pair.values(0)}));
      pairs.emplace_back(pair.key(), std::move(value[0]));
    }
    return store->Init(pairs, Deadline(context));
  }());
}

grpc::Status WorkerService::KVPush(grpc::ServerContext* context, const v1::KVPushRequest* request,
                                   v1::KVPushResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    if (store->dist() != nullptr && !request->return_merged()) {
      // One engine operation for the whole list (DistStore::PushList).
      std::vector<std::string> keys;
      std::vector<std::vector<NDArray>> lists;
      for (const v1::KVPair& pair : request->pairs()) {
        if (pair.values().empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("kvstore push: key ", Quoted(pair.key()), " has no values"));
        }
        MXGRID_ASSIGN_OR_RETURN(auto row_sparse, RowSparseValues(*s, pair.values()));
        if (row_sparse.has_value()) {
          MXGRID_RETURN_IF_ERROR(store->PushRowSparse(pair.key(), *row_sparse));
          continue;
        }
        keys.push_back(pair.key());
        MXGRID_ASSIGN_OR_RETURN(lists.emplace_back(), DenseValues(*s, pair.values()));
      }
      return store->dist()->PushList(keys, lists);
    }
    for (const v1::KVPair& pair : request->pairs()) {
      if (pair.values().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kvstore push: key ", Quoted(pair.key()), " has no values"));
      }
      if (!request->return_merged()) {
        MXGRID_ASSIGN_OR_RETURN(auto row_sparse, RowSparseValues(*s, pair.values()));
        if (row_sparse.has_value()) {
          MXGRID_RETURN_IF_ERROR(store->PushRowSparse(pair.key(), *row_sparse));
          continue;
        }
      }
      MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> values, DenseValues(*s, pair.values()));
      if (!request->return_merged()) {
        MXGRID_RETURN_IF_ERROR(store->Push(pair.key(), values));
        continue;
      }
      if (store->dist() != nullptr) {
        return absl::FailedPreconditionError(
            "kvstore push: return_merged (a client-side updater) needs a local store; a dist "
            "store's updates run on the shards (set_optimizer)");
      }
      // The client's updater gets the sum and the stored value.
      MXGRID_ASSIGN_OR_RETURN(auto meta, store->Meta(pair.key()));
      for (const NDArray& v : values) {
        if (v.shape() != meta.first || v.dtype() != meta.second) {
          return absl::InvalidArgumentError(absl::StrCat(
              "kvstore push: key ", Quoted(pair.key()), " holds ", meta.first.ToString(), " ",
              DTypeName(meta.second), ", got ", v.shape().ToString(), " ",
              DTypeName(v.dtype())));
        }
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray merged, SumOnCpu(values));
      MXGRID_ASSIGN_OR_RETURN(NDArray stored, store->LocalValue(pair.key()));
      v1::KVPushResponse::Merged* out = response->add_merged();
      MXGRID_ASSIGN_OR_RETURN(uint64_t mh, s->AddArray(0, merged));
      internal::ToProto(mh, merged, out->mutable_merged());
      MXGRID_ASSIGN_OR_RETURN(uint64_t sh, s->AddArray(0, stored));
      internal::ToProto(sh, stored, out->mutable_stored());
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::KVPull(grpc::ServerContext* context, const v1::KVPullRequest* request,
                                   v1::KVPullResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    for (const v1::KVPair& pair : request->pairs()) {
      if (!pair.row_ids().empty()) MXGRID_RETURN_IF_ERROR(PullRowsInto(*s, *store, pair));
    }
    if (store->dist() != nullptr) {
      // One engine operation for the whole list (DistStore::PullList).
      std::vector<std::string> keys;
      std::vector<std::vector<NDArray>> lists;
      for (const v1::KVPair& pair : request->pairs()) {
        if (!pair.row_ids().empty()) continue;
        keys.push_back(pair.key());
        MXGRID_ASSIGN_OR_RETURN(lists.emplace_back(), s->Arrays(pair.values()));
      }
      return store->dist()->PullList(keys, lists);
    }
    for (const v1::KVPair& pair : request->pairs()) {
      if (!pair.row_ids().empty()) continue;
      MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> outs, s->Arrays(pair.values()));
      MXGRID_RETURN_IF_ERROR(store->Pull(pair.key(), outs, Deadline(context)));
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::KVSetOptimizer(grpc::ServerContext* context,
                                           const v1::KVSetOptimizerRequest* request,
                                           v1::KVSetOptimizerResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    const std::map<std::string, std::string> params(request->params().begin(),
                                                    request->params().end());
    kvstore::KeyMultipliers mults;
    mults.lr.insert(request->lr_mult().begin(), request->lr_mult().end());
    mults.wd.insert(request->wd_mult().begin(), request->wd_mult().end());
    return store->SetOptimizer(request->name(), params, mults, Deadline(context));
  }());
}

grpc::Status WorkerService::KVBarrier(grpc::ServerContext* context,
                                      const v1::KVBarrierRequest* request,
                                      v1::KVBarrierResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    return store->Barrier(Deadline(context));
  }());
}

grpc::Status WorkerService::KVGetOptimizerStates(grpc::ServerContext* context,
                                                 const v1::KVGetOptimizerStatesRequest* request,
                                                 v1::KVGetOptimizerStatesResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    MXGRID_ASSIGN_OR_RETURN(auto named, store->GetOptimizerStates(Deadline(context)));
    std::vector<NDArray> arrays;
    for (const auto& [name, array] : named) arrays.push_back(array);
    MXGRID_ASSIGN_OR_RETURN(std::vector<uint64_t> handles,
                            s->AddArrays(std::vector<uint64_t>(arrays.size(), 0), arrays));
    for (size_t i = 0; i < named.size(); ++i) {
      response->add_names(named[i].first);
      internal::ToProto(handles[i], arrays[i], response->add_arrays());
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::KVSetOptimizerStates(grpc::ServerContext* context,
                                                 const v1::KVSetOptimizerStatesRequest* request,
                                                 v1::KVSetOptimizerStatesResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    if (request->names_size() != request->arrays_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore optimizer states: ", request->names_size(), " names but ",
          request->arrays_size(), " arrays (give one handle per name)"));
    }
    std::vector<std::pair<std::string, NDArray>> named;
    for (int i = 0; i < request->names_size(); ++i) {
      MXGRID_ASSIGN_OR_RETURN(NDArray a, s->Array(request->arrays(i)));
      named.emplace_back(request->names(i), std::move(a));
    }
    return store->SetOptimizerStates(named, Deadline(context));
  }());
}

}  // namespace mxgrid::services
