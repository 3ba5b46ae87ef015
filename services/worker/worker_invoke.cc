// WorkerService: imperative operator calls (Invoke, InvokeBatch, InvokeStream).
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/executor/imperative.h"
#include "libs/executor/sparse_invoke.h"
#include "libs/engine/flow.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {

using tensor::NDArray;

absl::StatusOr<std::shared_ptr<const ops::ParsedOp>> WorkerService::ParseOp(
    const std::string& name, const google::protobuf::Map<std::string, std::string>& attrs) {
  const ops::AttrMap sorted(attrs.begin(), attrs.end());
  std::string key = name;
  // Length-prefixed, so that no two attribute maps give one key.
  for (const auto& [k, v] : sorted) absl::StrAppend(&key, " ", k.size(), ":", k, v.size(), ":", v);
  if (std::optional<std::shared_ptr<const ops::ParsedOp>> hit = ops_.Get(key)) return *hit;
  MXGRID_ASSIGN_OR_RETURN(ops::ParsedOp op, registry_->Parse(name, sorted));
  auto parsed = std::make_shared<const ops::ParsedOp>(std::move(op));
  ops_.Put(key, parsed);
  return parsed;
}

absl::Status WorkerService::DoInvoke(grpc::ServerContext* context, Session& s,
                                     const v1::InvokeRequest& request,
                                     v1::InvokeResponse* response) {
  // Unknown handles are ignored by contract (worker.proto): a free is idempotent.
  if (!request.free().empty()) s.Free(request.free()).IgnoreError();
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const ops::ParsedOp> op,
                          ParseOp(request.op(), request.attrs()));
  MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, s));
  if (s.HasSparse(request.inputs()) || s.HasSparse(request.outputs()) ||
      executor::WritesSparse(*op)) {
    return DoInvokeAny(s, op, request, response);
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> inputs, s.Arrays(request.inputs()));
  std::vector<NDArray> into;
  if (!request.outputs().empty()) {
    if (!request.new_handles().empty()) {
      return absl::InvalidArgumentError("give either outputs (existing arrays) or new_handles");
    }
    MXGRID_ASSIGN_OR_RETURN(into, s.Arrays(request.outputs()));
  }
  if (!request.new_handles().empty() &&
      request.new_handles_size() != op->num_visible_outputs()) {
    return absl::InvalidArgumentError(absl::StrCat(op->def().name, " has ",
                                                   op->num_visible_outputs(), " outputs, got ",
                                                   request.new_handles_size(), " new_handles"));
  }
  executor::InvokeOptions options;
  options.is_train = request.is_train();
  options.out = into;
  options.random = s.random().get();
  std::vector<NDArray> all_outputs;  // hidden ones included, for the tape
  if (request.record()) options.all_outputs = &all_outputs;
  MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> outputs, executor::Invoke(op, inputs, options));
  if (request.record()) {
    MXGRID_RETURN_IF_ERROR(s.tape().Record(op, inputs, all_outputs, request.is_train()));
  }
  if (!into.empty()) {
    for (size_t i = 0; i < into.size(); ++i) {
      internal::ToProto(request.outputs(i), into[i], response->add_outputs());
    }
    return absl::OkStatus();
  }
  std::vector<uint64_t> wanted(outputs.size(), 0);
  for (int i = 0; i < request.new_handles_size(); ++i) wanted[i] = request.new_handles(i);
  MXGRID_ASSIGN_OR_RETURN(std::vector<uint64_t> handles, s.AddArrays(wanted, outputs));
  for (size_t i = 0; i < outputs.size(); ++i) {
    internal::ToProto(handles[i], outputs[i], response->add_outputs());
  }
  return absl::OkStatus();
}

grpc::Status WorkerService::Invoke(grpc::ServerContext* context, const v1::InvokeRequest* request,
                                   v1::InvokeResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    return DoInvoke(context, *s, *request, response);
  }());
}

absl::Status WorkerService::DoInvokeBatch(grpc::ServerContext* context,
                                          const v1::InvokeBatchRequest& request,
                                          v1::InvokeBatchResponse* response) {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request.session()));
  const engine::FlowScope in_session = s->Enter();
  for (int i = 0; i < request.calls_size(); ++i) {
    absl::Status st = DoInvoke(context, *s, request.calls(i), response->add_results());
    if (!st.ok()) {
      return Annotate(st, absl::StrCat("call ", i, " (", Quoted(request.calls(i).op()), ")"));
    }
  }
  if (!request.free().empty()) MXGRID_RETURN_IF_ERROR(s->Free(request.free()));
  return absl::OkStatus();
}

grpc::Status WorkerService::InvokeBatch(grpc::ServerContext* context,
                                        const v1::InvokeBatchRequest* request,
                                        v1::InvokeBatchResponse* response) {
  return ToGrpc(DoInvokeBatch(context, *request, response));
}

grpc::Status WorkerService::InvokeStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::InvokeBatchResponse, v1::InvokeBatchRequest>* stream) {
  v1::InvokeBatchRequest request;
  while (stream->Read(&request)) {
    if (context->IsCancelled()) return ToGrpc(absl::CancelledError("the stream was cancelled"));
    v1::InvokeBatchResponse response;
    absl::Status st = DoInvokeBatch(context, request, &response);
    if (!st.ok()) return ToGrpc(st);
    if (!stream->Write(response)) break;  // the client went away
  }
  return grpc::Status::OK;
}

}  // namespace mxgrid::services
