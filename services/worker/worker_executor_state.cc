// WorkerService: what an executor holds besides its arrays — the graph it runs after the
// compiler's passes (Executor.get_optimized_symbol) and the state of its optimizer
// (Module.save_optimizer_states / load_optimizer_states).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/graph/json.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

// The executor's optimizer; FailedPrecondition without one.
absl::StatusOr<kvstore::Optimizer*> OptimizerOf(BoundExecutor& bound)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(bound.mu) {
  if (bound.optimizer == nullptr) {
    return absl::FailedPreconditionError(
        "optimizer states: the executor runs no optimizer (SetExecutorOptimizer first; a "
        "kvstore's optimizer keeps its state in the store: KVGetOptimizerStates)");
  }
  return bound.optimizer.get();
}

// The argument behind optimizer index `index`: the index-th argument with a gradient, as
// SetExecutorOptimizer numbers them. InvalidArgument when there is none.
absl::StatusOr<NDArray> WeightOf(const executor::Executor& exec, int index) {
  const std::vector<NDArray>& args = exec.arg_arrays();
  const std::vector<NDArray>& grads = exec.grad_arrays();
  int k = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (grads[i].is_none()) continue;
    if (k++ == index) return args[i];
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "optimizer states: index ", index, " names no argument (the executor updates ", k,
      " arguments, indexes 0 to ", k - 1, ")"));
}

}  // namespace

grpc::Status WorkerService::GetExecutorSymbol(grpc::ServerContext*,
                                              const v1::GetExecutorSymbolRequest* request,
                                              v1::GetExecutorSymbolResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    response->mutable_symbol()->set_json(graph::SaveJson(bound->exec->symbol()));
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::GetExecutorOptimizerStates(
    grpc::ServerContext*, const v1::GetExecutorOptimizerStatesRequest* request,
    v1::GetExecutorOptimizerStatesResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    base::MutexLock lock(&bound->mu);
    MXGRID_ASSIGN_OR_RETURN(kvstore::Optimizer * optimizer, OptimizerOf(*bound));
    MXGRID_ASSIGN_OR_RETURN(std::vector<kvstore::OptimizerIndexState> states,
                            optimizer->ExportStates());
    std::vector<NDArray> arrays;
    for (const kvstore::OptimizerIndexState& st : states) {
      arrays.insert(arrays.end(), st.arrays.begin(), st.arrays.end());
    }
    MXGRID_ASSIGN_OR_RETURN(std::vector<uint64_t> handles,
                            s->AddArrays(std::vector<uint64_t>(arrays.size(), 0), arrays));
    size_t next = 0;
    for (const kvstore::OptimizerIndexState& st : states) {
      v1::ExecutorOptimizerState* out = response->add_states();
      out->set_index(st.index);
      out->set_update_count(st.update_count);
      for (size_t i = 0; i < st.arrays.size(); ++i, ++next) {
        internal::ToProto(handles[next], arrays[next], out->add_arrays());
      }
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::SetExecutorOptimizerStates(
    grpc::ServerContext*, const v1::SetExecutorOptimizerStatesRequest* request,
    v1::SetExecutorOptimizerStatesResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    // Everything is resolved and checked before any state changes.
    std::vector<std::pair<kvstore::OptimizerIndexState, NDArray>> states;
    base::MutexLock lock(&bound->mu);
    MXGRID_ASSIGN_OR_RETURN(kvstore::Optimizer * optimizer, OptimizerOf(*bound));
    for (const v1::ExecutorOptimizerState& in : request->states()) {
      kvstore::OptimizerIndexState st;
      st.index = in.index();
      st.update_count = in.update_count();
      for (const v1::ArrayInfo& a : in.arrays()) {
        MXGRID_ASSIGN_OR_RETURN(NDArray arr, s->Array(a.handle()));
        st.arrays.push_back(std::move(arr));
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray weight, WeightOf(*bound->exec, st.index));
      states.emplace_back(std::move(st), std::move(weight));
    }
    for (const auto& [st, weight] : states) {
      MXGRID_RETURN_IF_ERROR(optimizer->ImportState(st, weight.shape(), weight.dtype()));
    }
    return absl::OkStatus();
  }());
}

}  // namespace mxgrid::services
