// WorkerService: autograd (MarkVariables, AutogradBackward) on the session's tape
// (libs/executor/autograd.h). Invoke records calls on it (worker_invoke.cc).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/engine/flow.h"
#include "libs/executor/autograd.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

absl::StatusOr<executor::GradReq> ToGradReq(int req) {
  switch (req) {
    case v1::OP_REQ_NULL: return executor::GradReq::kNull;
    case v1::OP_REQ_WRITE_TO: return executor::GradReq::kWrite;
    case v1::OP_REQ_ADD_TO: return executor::GradReq::kAdd;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "grad_req ", req, " is not OP_REQ_WRITE_TO, OP_REQ_ADD_TO or OP_REQ_NULL"));
  }
}

// Arrays by handle; handle 0 is a none array (no gradient, or ones for a head gradient).
absl::StatusOr<std::vector<NDArray>> ArraysOrNone(
    const Session& s, const google::protobuf::RepeatedField<uint64_t>& handles) {
  std::vector<NDArray> out(handles.size());
  for (int i = 0; i < handles.size(); ++i) {
    if (handles[i] != 0) {
      MXGRID_ASSIGN_OR_RETURN(out[i], s.Array(handles[i]));
    }
  }
  return out;
}

}  // namespace

grpc::Status WorkerService::MarkVariables(grpc::ServerContext*,
                                          const v1::MarkVariablesRequest* request,
                                          v1::MarkVariablesResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> vars, s->Arrays(request->variables()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> grads, ArraysOrNone(*s, request->gradients()));
    std::vector<executor::GradReq> reqs(vars.size(), executor::GradReq::kWrite);
    if (!request->grad_reqs().empty()) {
      if (request->grad_reqs_size() != request->variables_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            request->variables_size(), " variables need as many grad_reqs, got ",
            request->grad_reqs_size()));
      }
      for (int i = 0; i < request->grad_reqs_size(); ++i) {
        MXGRID_ASSIGN_OR_RETURN(reqs[i], ToGradReq(request->grad_reqs(i)));
      }
    }
    return s->tape().MarkVariables(vars, grads, reqs);
  }());
}

grpc::Status WorkerService::AutogradBackward(grpc::ServerContext* context,
                                             const v1::AutogradBackwardRequest* request,
                                             v1::AutogradBackwardResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    if (request->create_graph()) {
      return absl::InvalidArgumentError(
          "create_graph (higher-order gradients) is not supported");
    }
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> heads, s->Arrays(request->heads()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> head_grads,
                            ArraysOrNone(*s, request->head_grads()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> vars, s->Arrays(request->variables()));
    if (!request->new_handles().empty() &&
        request->new_handles_size() != request->variables_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          request->variables_size(), " variables need as many new_handles, got ",
          request->new_handles_size()));
    }
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    executor::BackwardOptions options;
    options.head_grads = head_grads;
    options.retain_graph = request->retain_graph();
    options.is_train = request->is_train();
    if (vars.empty()) return s->tape().Backward(heads, options);
    std::vector<bool> reached;
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> grads,
                            s->tape().Grad(heads, vars, options, &reached));
    for (bool r : reached) response->add_reached(r);
    std::vector<uint64_t> wanted(grads.size(), 0);
    for (int i = 0; i < request->new_handles_size(); ++i) wanted[i] = request->new_handles(i);
    MXGRID_ASSIGN_OR_RETURN(std::vector<uint64_t> handles, s->AddArrays(wanted, grads));
    for (size_t i = 0; i < grads.size(); ++i) {
      internal::ToProto(handles[i], grads[i], response->add_grads());
    }
    return absl::OkStatus();
  }());
}

}  // namespace mxgrid::services
