// WorkerService: executors — Bind / SimpleBind with plans from the compiler service, then
// Forward / Backward.
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/executor/executor.h"
#include "libs/graph/json.h"
#include "libs/graph/symbol.h"
#include "libs/rpc/plan_codec.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/engine/flow.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

void SetShape(const NDArray& a, v1::MakePlanRequest* request, const std::string& name) {
  v1::PartialShape& shape = (*request->mutable_shapes())[name];
  shape.set_known(true);
  for (int64_t d : a.shape().dims()) shape.add_dims(d);
  if (a.dtype() != DType::kFloat32) {
    (*request->mutable_dtypes())[name] = rpc::ToProtoDType(a.dtype());
  }
}

// The graph of a bind: workers take a symbol's JSON; a compiler's handle means nothing here.
absl::StatusOr<graph::Symbol> LoadBoundSymbol(const v1::Symbol& symbol,
                                              const ops::Registry& registry) {
  if (symbol.json().empty() && !symbol.ref().empty()) {
    return absl::InvalidArgumentError(
        "a worker binds a symbol's json; a compiler's symbol ref is meaningful only to that "
        "compiler (fetch the json with Compiler.Describe)");
  }
  return graph::LoadJson(symbol.json(), registry);
}

absl::StatusOr<v1::OpReq> ParseReq(const std::string& text) {
  if (text.empty() || text == "write") return v1::OP_REQ_WRITE_TO;
  if (text == "add") return v1::OP_REQ_ADD_TO;
  if (text == "null") return v1::OP_REQ_NULL;
  return absl::InvalidArgumentError(
      absl::StrCat("grad_req must be 'write', 'add' or 'null', got ", Quoted(text)));
}

// The arrays of `handles`, 0 meaning none.
absl::StatusOr<std::vector<NDArray>> OptionalArrays(
    const Session& s, const google::protobuf::RepeatedField<uint64_t>& handles) {
  std::vector<NDArray> out;
  for (uint64_t h : handles) {
    if (h == 0) {
      out.emplace_back();
      continue;
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray a, s.Array(h));
    out.push_back(std::move(a));
  }
  return out;
}

// Module.update(): one optimizer step for every argument with a gradient, or through the
// executor's KVStore (SetExecutorKVStore): each named argument's gradient pushed and the
// stored value pulled back into it.
absl::Status ApplyUpdate(BoundExecutor& bound) ABSL_EXCLUSIVE_LOCKS_REQUIRED(bound.mu) {
  const std::vector<NDArray>& args = bound.exec->arg_arrays();
  const std::vector<NDArray>& grads = bound.exec->grad_arrays();
  if (bound.kvstore != nullptr) {
    std::vector<std::string> keys;
    std::vector<std::vector<NDArray>> kv_grads;
    std::vector<std::vector<NDArray>> kv_args;
    keys.reserve(bound.kv_args.size());
    kv_grads.reserve(bound.kv_args.size());
    kv_args.reserve(bound.kv_args.size());
    for (const auto& [i, key] : bound.kv_args) {
      keys.push_back(key);
      kv_grads.push_back({grads[i]});
      kv_args.push_back({args[i]});
    }
    return bound.kvstore->PushPull(keys, kv_grads, kv_args);
  }
  if (bound.optimizer == nullptr) {
    return absl::FailedPreconditionError(
        "update: no optimizer on this executor (call SetExecutorOptimizer or "
        "SetExecutorKVStore first)");
  }
  int index = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (grads[i].is_none()) continue;
    MXGRID_RETURN_IF_ERROR(bound.optimizer->Update(index++, args[i], grads[i]));
  }
  return absl::OkStatus();
}

// Registers a monitored run's copies in the session and describes them.
absl::Status AddMonitored(Session& s, const std::vector<executor::MonitoredArray>& monitored,
                          google::protobuf::RepeatedPtrField<v1::MonitoredArray>* out) {
  std::vector<NDArray> arrays;
  for (const executor::MonitoredArray& m : monitored) arrays.push_back(m.value);
  MXGRID_ASSIGN_OR_RETURN(std::vector<uint64_t> handles,
                          s.AddArrays(std::vector<uint64_t>(arrays.size(), 0), arrays));
  for (size_t i = 0; i < monitored.size(); ++i) {
    v1::MonitoredArray* m = out->Add();
    m->set_name(monitored[i].name);
    internal::ToProto(handles[i], arrays[i], m->mutable_array());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<graph::Plan> WorkerService::GetPlan(grpc::ServerContext* context,
                                                   const v1::MakePlanRequest& request,
                                                   bool* cached) {
  std::shared_ptr<v1::Compiler::Stub> compiler;
  {
    base::MutexLock lock(&compiler_mu_);
    compiler = compiler_;
  }
  if (compiler == nullptr) {
    return absl::UnavailableError("this worker has no compiler service to plan with yet");
  }
  grpc::ClientContext call;
  const absl::Time deadline = std::min(absl::FromChrono(context->deadline()),
                                       absl::Now() + options_.compiler_timeout);
  call.set_deadline(absl::ToChronoTime(deadline));
  v1::MakePlanResponse response;
  const grpc::Status status = compiler->MakePlan(&call, request, &response);
  if (!status.ok()) {
    // The compiler's INVALID_ARGUMENT (bad graph or shapes) is the caller's error as is;
    // anything else means the compiler could not be used.
    const auto code = static_cast<absl::StatusCode>(status.error_code());
    if (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound) {
      return absl::Status(code, status.error_message());
    }
    return absl::UnavailableError(
        absl::StrCat("the compiler service failed to plan: ", status.error_message()));
  }
  *cached = response.cached();
  return rpc::FromProto(response.plan(), *registry_);
}

absl::Status WorkerService::AddExecutor(Session& s, std::unique_ptr<executor::Executor> exec,
                                        bool register_bound, const v1::BindRequest* bind,
                                        bool cached, v1::BindResponse* response) {
  const graph::Symbol& symbol = exec->symbol();
  response->set_planned_bytes(exec->plan().planned_bytes());
  for (const std::string& n : symbol.ListArguments()) response->add_arg_names(n);
  for (const std::string& n : symbol.ListOutputs()) response->add_output_names(n);
  for (const std::string& n : symbol.ListAuxiliaryStates()) response->add_aux_names(n);
  // Handles registered so far: freed again when a quota stops the registration part-way.
  std::vector<uint64_t> added;
  auto describe = [&](const std::vector<NDArray>& arrays,
                      const google::protobuf::RepeatedField<uint64_t>* given,
                      google::protobuf::RepeatedPtrField<v1::ArrayInfo>* out) -> absl::Status {
    for (size_t i = 0; i < arrays.size(); ++i) {
      v1::ArrayInfo* info = out->Add();
      if (arrays[i].is_none()) continue;  // handle 0: none
      uint64_t h = given != nullptr ? (*given)[i] : 0;
      if (register_bound) {
        MXGRID_ASSIGN_OR_RETURN(h, s.AddArray(0, arrays[i]));
        added.push_back(h);
      }
      internal::ToProto(h, arrays[i], info);
    }
    return absl::OkStatus();
  };
  const absl::Status registered = [&]() -> absl::Status {
    MXGRID_RETURN_IF_ERROR(
        describe(exec->arg_arrays(), bind ? &bind->args() : nullptr, response->mutable_args()));
    MXGRID_RETURN_IF_ERROR(describe(exec->grad_arrays(), bind ? &bind->arg_grads() : nullptr,
                                    response->mutable_arg_grads()));
    MXGRID_RETURN_IF_ERROR(
        describe(exec->aux_arrays(), bind ? &bind->aux() : nullptr, response->mutable_aux()));
    auto bound = std::make_shared<BoundExecutor>();
    for (const NDArray& out : exec->outputs()) {
      MXGRID_ASSIGN_OR_RETURN(uint64_t h, s.AddArray(0, out));
      added.push_back(h);
      bound->outputs.push_back(h);
      internal::ToProto(h, out, response->add_outputs());
    }
    exec->set_random_source(s.random());
    bound->exec = std::move(exec);
    MXGRID_ASSIGN_OR_RETURN(uint64_t handle, s.AddExecutor(std::move(bound)));
    response->set_executor(handle);
    return absl::OkStatus();
  }();
  if (!registered.ok()) {
    s.Free(added).IgnoreError();  // every handle in `added` exists: nothing to report
    return registered;
  }
  response->set_plan_cached(cached);
  return absl::OkStatus();
}

grpc::Status WorkerService::Bind(grpc::ServerContext* context, const v1::BindRequest* request,
                                 v1::BindResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request->context()));
    MXGRID_ASSIGN_OR_RETURN(graph::Symbol symbol, LoadBoundSymbol(request->symbol(), *registry_));
    const std::vector<std::string> arg_names = symbol.ListArguments();
    const std::vector<std::string> aux_names = symbol.ListAuxiliaryStates();
    if (request->args_size() != static_cast<int>(arg_names.size()) ||
        request->aux_size() != static_cast<int>(aux_names.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bind: the symbol has ", arg_names.size(), " arguments and ", aux_names.size(),
          " auxiliary states; got ", request->args_size(), " and ", request->aux_size()));
    }
    if (!request->arg_grads().empty() && request->arg_grads_size() != request->args_size()) {
      return absl::InvalidArgumentError("bind: give one gradient handle (or 0) per argument");
    }
    if (!request->grad_reqs().empty() && request->grad_reqs_size() != request->args_size()) {
      return absl::InvalidArgumentError("bind: give one grad_req per argument");
    }
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> args, s->Arrays(request->args()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> grads, OptionalArrays(*s, request->arg_grads()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> aux, s->Arrays(request->aux()));
    grads.resize(args.size());

    v1::MakePlanRequest plan_request;
    plan_request.mutable_symbol()->set_json(request->symbol().json());
    plan_request.set_keep_common_expr(request->keep_common_expr());
    for (size_t i = 0; i < args.size(); ++i) {
      SetShape(args[i], &plan_request, arg_names[i]);
      v1::OpReq req = grads[i].is_none() ? v1::OP_REQ_NULL : v1::OP_REQ_WRITE_TO;
      if (!request->grad_reqs().empty()) req = request->grad_reqs(i);
      if (req != v1::OP_REQ_NULL) {
        if (grads[i].is_none()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "bind: argument ", Quoted(arg_names[i]), " has a grad_req but no gradient array"));
        }
        (*plan_request.mutable_grad_reqs())[arg_names[i]] = req;
      } else {
        grads[i] = NDArray();
      }
    }
    for (size_t i = 0; i < aux.size(); ++i) SetShape(aux[i], &plan_request, aux_names[i]);
    bool cached = false;
    MXGRID_ASSIGN_OR_RETURN(graph::Plan plan, GetPlan(context, plan_request, &cached));
    MXGRID_ASSIGN_OR_RETURN(
        std::unique_ptr<executor::Executor> exec,
        executor::Executor::BindPlan(std::move(plan), ctx, args, grads, aux));
    return AddExecutor(*s, std::move(exec), /*register_bound=*/false, request, cached, response);
  }());
}

grpc::Status WorkerService::SimpleBind(grpc::ServerContext* context,
                                       const v1::SimpleBindRequest* request,
                                       v1::BindResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request->context()));
    MXGRID_ASSIGN_OR_RETURN(graph::Symbol symbol, LoadBoundSymbol(request->symbol(), *registry_));
    v1::MakePlanRequest plan_request;
    plan_request.mutable_symbol()->set_json(request->symbol().json());
    plan_request.set_keep_common_expr(request->keep_common_expr());
    for (const auto& [name, meta] : request->inputs()) {
      // Unspecified dtypes are float32, as simple_bind's.
      v1::TensorMeta checked = meta;
      if (meta.dtype() == v1::DTYPE_UNSPECIFIED) {
        checked.set_dtype(v1::FLOAT32);
      } else {
        (*plan_request.mutable_dtypes())[name] = meta.dtype();
      }
      DType dtype;
      Shape shape;
      MXGRID_RETURN_IF_ERROR(Annotate(rpc::FromProto(checked, &dtype, &shape),
                                      absl::StrCat("input ", Quoted(name))));
      v1::PartialShape& p = (*plan_request.mutable_shapes())[name];
      p.set_known(true);
      for (int64_t d : shape.dims()) p.add_dims(d);
    }
    MXGRID_ASSIGN_OR_RETURN(v1::OpReq default_req, ParseReq(request->grad_req()));
    const std::vector<std::string> arg_names = symbol.ListArguments();
    for (const auto& [name, text] : request->grad_req_by_name()) {
      if (std::find(arg_names.begin(), arg_names.end(), name) == arg_names.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("simple_bind: grad_req for ", Quoted(name), ", which is not an argument"));
      }
    }
    for (const std::string& name : arg_names) {
      auto it = request->grad_req_by_name().find(name);
      v1::OpReq req = default_req;
      if (it != request->grad_req_by_name().end()) {
        MXGRID_ASSIGN_OR_RETURN(req, ParseReq(it->second));
      }
      if (req != v1::OP_REQ_NULL) (*plan_request.mutable_grad_reqs())[name] = req;
    }
    bool cached = false;
    MXGRID_ASSIGN_OR_RETURN(graph::Plan plan, GetPlan(context, plan_request, &cached));
    MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<executor::Executor> exec,
                            executor::Executor::SimpleBindPlan(std::move(plan), ctx));
    return AddExecutor(*s, std::move(exec), /*register_bound=*/true, nullptr, cached, response);
  }());
}

grpc::Status WorkerService::Forward(grpc::ServerContext* context,
                                    const v1::ForwardRequest* request,
                                    v1::ForwardResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    std::map<std::string, NDArray> inputs;
    for (const auto& [name, h] : request->inputs()) {
      MXGRID_ASSIGN_OR_RETURN(inputs[name], s->Array(h));
    }
    for (const auto& [name, value] : request->values()) {
      if (inputs.count(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward: ", Quoted(name), " given both as a handle and a value"));
      }
      MXGRID_ASSIGN_OR_RETURN(inputs[name], rpc::FromProto(value, bound->exec->context()));
    }
    if (request->update() && !request->backward()) {
      return absl::InvalidArgumentError("forward: update needs backward");
    }
    base::MutexLock lock(&bound->mu);
    if (request->update() && bound->optimizer == nullptr && bound->kvstore == nullptr) {
      return absl::FailedPreconditionError(
          "forward: update requested but the executor has no optimizer (SetExecutorOptimizer "
          "or SetExecutorKVStore)");
    }
    std::vector<executor::MonitoredArray> monitored;
    std::vector<executor::MonitoredArray>* monitor = request->monitor() ? &monitored : nullptr;
    MXGRID_RETURN_IF_ERROR(bound->exec->Forward(request->is_train(), inputs, monitor));
    if (request->backward()) MXGRID_RETURN_IF_ERROR(bound->exec->Backward({}, monitor));
    if (request->update()) MXGRID_RETURN_IF_ERROR(ApplyUpdate(*bound));
    MXGRID_RETURN_IF_ERROR(AddMonitored(*s, monitored, response->mutable_monitored()));
    const std::vector<NDArray>& outputs = bound->exec->outputs();
    for (size_t i = 0; i < outputs.size(); ++i) {
      internal::ToProto(bound->outputs[i], outputs[i], response->add_outputs());
      if (request->return_values()) {
        MXGRID_RETURN_IF_ERROR(internal::WaitToRead(context, outputs[i]));
        MXGRID_RETURN_IF_ERROR(rpc::ToProto(outputs[i], response->add_values()));
      }
    }
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::Backward(grpc::ServerContext* context,
                                     const v1::BackwardRequest* request,
                                     v1::BackwardResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound, s->Executor(request->executor()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> out_grads,
                            OptionalArrays(*s, request->out_grads()));
    base::MutexLock lock(&bound->mu);
    std::vector<executor::MonitoredArray> monitored;
    MXGRID_RETURN_IF_ERROR(
        bound->exec->Backward(out_grads, request->monitor() ? &monitored : nullptr));
    return AddMonitored(*s, monitored, response->mutable_monitored());
  }());
}

grpc::Status WorkerService::SetExecutorOptimizer(grpc::ServerContext*,
                                                 const v1::SetExecutorOptimizerRequest* request,
                                                 v1::SetExecutorOptimizerResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    const std::map<std::string, std::string> params(request->params().begin(),
                                                    request->params().end());
    MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<kvstore::Optimizer> optimizer,
                            kvstore::Optimizer::Create(request->name(), params));
    base::MutexLock lock(&bound->mu);
    // MXNet's default: no weight decay but on *_weight and *_gamma arguments.
    const std::vector<std::string> names = bound->exec->symbol().ListArguments();
    const std::vector<NDArray>& grads = bound->exec->grad_arrays();
    int index = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      if (grads[i].is_none()) continue;
      if (!absl::EndsWith(names[i], "_weight") && !absl::EndsWith(names[i], "_gamma")) {
        optimizer->SetWdMult(index, 0);
      }
      ++index;
    }
    bound->optimizer = std::move(optimizer);
    bound->kvstore = nullptr;
    bound->kv_args.clear();
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::SetExecutorKVStore(grpc::ServerContext*,
                                               const v1::SetExecutorKVStoreRequest* request,
                                               v1::SetExecutorKVStoreResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<SessionKVStore> store, s->Store(request->store()));
    base::MutexLock lock(&bound->mu);
    const std::vector<std::string> names = bound->exec->symbol().ListArguments();
    const std::vector<NDArray>& args = bound->exec->arg_arrays();
    const std::vector<NDArray>& grads = bound->exec->grad_arrays();
    // In argument order, so that every worker pushes the keys in the same order.
    std::vector<std::pair<size_t, std::string>> kv_args;
    for (const auto& [name, key] : request->keys()) {
      const auto it = std::find(names.begin(), names.end(), name);
      const size_t i = static_cast<size_t>(it - names.begin());
      if (it == names.end() || grads[i].is_none()) {
        return absl::NotFoundError(absl::StrCat(
            "set_executor_kvstore: ", Quoted(name),
            it == names.end() ? " is not an argument of the executor"
                              : " has no gradient (grad_req 'null')"));
      }
      if (key.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("set_executor_kvstore: argument ", Quoted(name), " has an empty key"));
      }
      MXGRID_ASSIGN_OR_RETURN(auto meta, store->Meta(key));
      if (meta.first != args[i].shape()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "set_executor_kvstore: key ", Quoted(key), " holds ", meta.first.ToString(),
            ", argument ", Quoted(name), " is ", args[i].shape().ToString()));
      }
      kv_args.emplace_back(i, key);
    }
    std::sort(kv_args.begin(), kv_args.end());
    bound->kv_args = std::move(kv_args);
    bound->kvstore = std::move(store);
    bound->optimizer = nullptr;
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::Update(grpc::ServerContext* context, const v1::UpdateRequest* request,
                                   v1::UpdateResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    base::MutexLock lock(&bound->mu);
    return ApplyUpdate(*bound);
  }());
}

grpc::Status WorkerService::FreeExecutor(grpc::ServerContext*,
                                         const v1::FreeExecutorRequest* request,
                                         v1::FreeExecutorResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    return s->FreeExecutor(request->executor());
  }());
}

grpc::Status WorkerService::ReshapeExecutor(grpc::ServerContext*,
                                            const v1::ReshapeExecutorRequest* request,
                                            v1::BindResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<BoundExecutor> bound,
                            s->Executor(request->executor()));
    std::map<std::string, Shape> shapes;
    for (const auto& [name, dims] : request->shapes()) {
      absl::StatusOr<Shape> shape = Shape::Make(dims.dims());
      if (!shape.ok()) {
        return Annotate(shape.status(), absl::StrCat("reshape: the shape of ", Quoted(name)));
      }
      shapes[name] = *std::move(shape);
    }
    std::unique_ptr<executor::Executor> reshaped;
    {
      base::MutexLock lock(&bound->mu);
      MXGRID_ASSIGN_OR_RETURN(reshaped, bound->exec->Reshape(shapes, request->partial_shaping(),
                                                             request->allow_up_sizing()));
    }
    return AddExecutor(*s, std::move(reshaped), /*register_bound=*/true, nullptr,
                       /*cached=*/false, response);
  }());
}

}  // namespace mxgrid::services
