// WorkerService: the 'local' / 'device' KVStore of a session (libs/kvstore/store.h with one
// rank, each push applied at once), aggregating arrays from any of the worker's devices.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/kvstore/store.h"
#include "libs/engine/flow.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

// The sum of `values` in a new array on the CPU (values may live on any device).
absl::StatusOr<NDArray> Sum(const std::vector<NDArray>& values) {
  MXGRID_ASSIGN_OR_RETURN(NDArray total, values[0].CopyTo(Context::Cpu()));
  for (size_t i = 1; i < values.size(); ++i) {
    NDArray v = values[i];
    if (v.context() != total.context()) {
      MXGRID_ASSIGN_OR_RETURN(v, v.CopyTo(Context::Cpu()));
    }
    MXGRID_RETURN_IF_ERROR(tensor::AddInPlace(total, v));
  }
  return total;
}

bool OnOneDevice(const std::vector<NDArray>& values) {
  for (const NDArray& v : values) {
    if (v.context() != values[0].context()) return false;
  }
  return true;
}

}  // namespace

grpc::Status WorkerService::KVCreate(grpc::ServerContext*, const v1::KVCreateRequest* request,
                                     v1::KVCreateResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    if (request->type() != "local" && request->type() != "device") {
      return absl::InvalidArgumentError(absl::StrCat(
          "a worker hosts kvstores of type 'local' or 'device', not ", Quoted(request->type()),
          " (dist_* stores are the mxgrid-kvstore service)"));
    }
    auto store = std::make_shared<kvstore::Store>(kvstore::StoreOptions{1, /*sync=*/false});
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
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<kvstore::Store> store, s->Store(request->store()));
    for (const v1::KVPair& pair : request->pairs()) {
      if (pair.values_size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("kvstore init: key ", Quoted(pair.key()), " needs exactly one value"));
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray value, s->Array(pair.values(0)));
      MXGRID_RETURN_IF_ERROR(store->Init(pair.key(), value));
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::KVPush(grpc::ServerContext* context, const v1::KVPushRequest* request,
                                   v1::KVPushResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<kvstore::Store> store, s->Store(request->store()));
    for (const v1::KVPair& pair : request->pairs()) {
      if (pair.values().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kvstore push: key ", Quoted(pair.key()), " has no values"));
      }
      MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> values, s->Arrays(pair.values()));
      if (!request->return_merged()) {
        // The store sums values of one device itself; values from several devices are
        // gathered on the CPU first (MXNet's local store reduces on one device too).
        if (OnOneDevice(values)) {
          MXGRID_RETURN_IF_ERROR(store->Push(pair.key(), /*rank=*/0, values));
        } else {
          MXGRID_ASSIGN_OR_RETURN(NDArray merged, Sum(values));
          MXGRID_RETURN_IF_ERROR(store->Push(pair.key(), /*rank=*/0, {merged}));
        }
        continue;
      }
      // Push checks values against the key; here the client's updater gets them.
      MXGRID_ASSIGN_OR_RETURN(kvstore::Store::KeyMeta meta, store->Meta(pair.key()));
      for (const NDArray& v : values) {
        if (v.shape() != meta.shape || v.dtype() != meta.dtype) {
          return absl::InvalidArgumentError(absl::StrCat(
              "kvstore push: key ", Quoted(pair.key()), " holds ", meta.shape.ToString(), " ",
              DTypeName(meta.dtype), ", got ", v.shape().ToString(), " ", DTypeName(v.dtype())));
        }
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray merged, Sum(values));
      MXGRID_ASSIGN_OR_RETURN(NDArray stored, store->Value(pair.key()));
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
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<kvstore::Store> store, s->Store(request->store()));
    const absl::Time deadline = absl::FromChrono(context->deadline());
    for (const v1::KVPair& pair : request->pairs()) {
      MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> outs, s->Arrays(pair.values()));
      for (const NDArray& out : outs) {
        MXGRID_RETURN_IF_ERROR(store->Pull(pair.key(), /*rank=*/0, out, deadline));
      }
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::KVSetOptimizer(grpc::ServerContext*,
                                           const v1::KVSetOptimizerRequest* request,
                                           v1::KVSetOptimizerResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<kvstore::Store> store, s->Store(request->store()));
    const std::map<std::string, std::string> params(request->params().begin(),
                                                    request->params().end());
    return store->SetOptimizer(request->name(), params);
  }());
}

}  // namespace mxgrid::services
