#include "services/compiler/compiler_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/graph/infer.h"
#include "libs/graph/json.h"
#include "libs/graph/plan.h"
#include "libs/graph/symbol.h"
#include "libs/rpc/plan_codec.h"
#include "libs/rpc/tensor_codec.h"
#include "services/common/grpc_status.h"

namespace mxgrid::services {
namespace {

using graph::Symbol;

}  // namespace

absl::StatusOr<Symbol> CompilerService::Load(const v1::Symbol& s, bool* from_json) const {
  MXGRID_ASSIGN_OR_RETURN(Symbol whole, LoadWhole(s, from_json));
  if (!s.has_output()) return whole;
  return whole.GetOutput(s.output());
}

absl::StatusOr<Symbol> CompilerService::LoadWhole(const v1::Symbol& s, bool* from_json) const {
  if (!s.ref().empty()) {
    if (std::optional<Symbol> held = symbols_.Get(s.ref())) {
      if (from_json != nullptr) *from_json = false;
      return *std::move(held);
    }
    if (s.json().empty()) {
      return absl::NotFoundError(absl::StrCat(
          "symbol reference ", Quoted(s.ref()),
          " is not held by this compiler (restarted, evicted from its --symbol_cache_entries, "
          "or another replica): send the symbol's json"));
    }
  }
  if (from_json != nullptr) *from_json = true;
  return graph::LoadJson(s.json(), *registry_);
}

// Symbols built from separate JSON texts have lost the node identity they shared (a variable
// used on both sides of `x * 2 + x` arrives twice) and are merged before they are sent back
// or kept; symbols built from held ones keep their nodes, as MXNet's do.
void CompilerService::Store(const Symbol& s, bool merge, bool by_ref, v1::Symbol* out) const {
  const Symbol result = merge ? s.MergeIdentical() : s;
  if (by_ref) {
    std::string ref = symbols_.Put(result);
    if (!ref.empty()) {
      out->set_ref(std::move(ref));
      return;
    }
  }
  out->set_json(graph::SaveJson(result));
}

absl::StatusOr<Symbol::Inputs> CompilerService::LoadInputs(const v1::ComposeRequest& r,
                                                           bool* any_json) const {
  Symbol::Inputs in;
  for (const v1::Symbol& s : r.positional()) {
    bool json = false;
    MXGRID_ASSIGN_OR_RETURN(Symbol sym, Load(s, &json));
    *any_json |= json;
    in.positional.push_back(std::move(sym));
  }
  // Sorted by name so that errors and results do not depend on map order.
  absl::InlinedVector<const google::protobuf::MapPair<std::string, v1::Symbol>*, 4> named;
  named.reserve(r.named().size());
  for (const auto& entry : r.named()) named.push_back(&entry);
  std::sort(named.begin(), named.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : named) {
    bool json = false;
    MXGRID_ASSIGN_OR_RETURN(Symbol sym, Load(entry->second, &json));
    *any_json |= json;
    in.named.emplace_back(entry->first, std::move(sym));
  }
  return in;
}

namespace {

void ToProto(const ops::InferShape& s, v1::PartialShape* out) {
  out->set_known(s.has_value());
  if (s) {
    for (int64_t d : s->dims()) out->add_dims(d);
  }
}

absl::StatusOr<std::map<std::string, ops::InferShape>> FromProto(
    const google::protobuf::Map<std::string, v1::PartialShape>& shapes) {
  std::map<std::string, ops::InferShape> out;
  for (const auto& [name, s] : shapes) {
    if (!s.known()) continue;
    for (int64_t d : s.dims()) {
      if (d < -1) {
        return absl::InvalidArgumentError(absl::StrCat("shape of ", Quoted(name), " has dim ", d));
      }
    }
    if (s.dims_size() > Shape::kMaxNdim) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape of ", Quoted(name), " has too many dims"));
    }
    out[name] = Shape(absl::MakeConstSpan(s.dims().data(), s.dims().size()));
  }
  return out;
}

absl::StatusOr<std::map<std::string, DType>> FromProto(
    const google::protobuf::Map<std::string, v1::DType>& dtypes) {
  std::map<std::string, DType> out;
  for (const auto& [name, d] : dtypes) {
    absl::StatusOr<DType> dtype = rpc::FromProtoDType(d);
    if (!dtype.ok()) return Annotate(dtype.status(), absl::StrCat("dtype of ", Quoted(name)));
    out[name] = *dtype;
  }
  return out;
}

// A value for a required parameter, so that an operator's input names can be listed.
// Numbers are 1, then 2 for a second required number and so on (`*numbers` counts them), so
// that ops requiring an order between two (_random_randint's low < high) parse.
std::string Placeholder(const ops::ParamSpec& p, int* numbers = nullptr) {
  if (p.type.rfind("{", 0) == 0) {  // "{'relu', 'sigmoid'}": the first choice
    const size_t a = p.type.find('\''), b = p.type.find('\'', a + 1);
    if (a != std::string::npos && b != std::string::npos) return p.type.substr(a + 1, b - a - 1);
  }
  if (p.type.find("Shape") != std::string::npos || p.type.find("tuple") != std::string::npos) {
    return "(1, 1)";
  }
  return numbers == nullptr ? "1" : absl::StrCat(++*numbers);
}

void DescribeOp(const ops::OpDef& def, const ops::Registry& registry, v1::OperatorInfo* info) {
  info->set_name(def.name);
  for (const std::string& a : def.aliases) info->add_aliases(a);
  info->set_description(def.description);
  info->set_variable_outputs(def.variable_outputs);
  ops::AttrMap attrs;
  int numbers = 0;
  for (const ops::ParamSpec& p : def.params) {
    v1::OperatorParam* out = info->add_params();
    out->set_name(p.name);
    out->set_type(p.type);
    out->set_default_value(p.default_value);
    out->set_required(p.required);
    out->set_description(p.description);
    if (p.required) attrs[p.name] = Placeholder(p, &numbers);
    if (p.name == "num_args") info->set_variadic_param(p.name);
  }
  absl::StatusOr<ops::ParsedOp> op = registry.Parse(def.name, attrs);
  if (!op.ok()) {
    // Some ops check optional parameters together (Pooling wants a kernel unless
    // global_pool): retry with placeholders for the optional tuples left empty too.
    for (const ops::ParamSpec& p : def.params) {
      const bool tuple = p.type.find("Shape") != std::string::npos ||
                         p.type.find("tuple") != std::string::npos;
      const bool empty = p.default_value.empty() || p.default_value == "[]" ||
                         p.default_value == "()";
      if (!p.required && tuple && empty) attrs[p.name] = Placeholder(p);
    }
    op = registry.Parse(def.name, attrs);
  }
  if (!op.ok()) return;  // inputs depend on parameters no placeholder satisfies
  const std::vector<std::string> names = op->input_names();
  const std::vector<int> aux = op->aux_indices();
  for (size_t i = 0; i < names.size(); ++i) {
    const bool is_aux = std::find(aux.begin(), aux.end(), static_cast<int>(i)) != aux.end();
    (is_aux ? info->add_aux_states() : info->add_inputs())->assign(names[i]);
  }
  for (const std::string& n : op->output_names()) info->add_outputs(n);
}

}  // namespace

CompilerService::CompilerService(const ops::Registry* registry, size_t plan_cache_entries,
                                 size_t symbol_cache_entries)
    : registry_(registry), plans_(plan_cache_entries), symbols_(symbol_cache_entries) {}

grpc::Status CompilerService::ListOperators(grpc::ServerContext*,
                                            const v1::ListOperatorsRequest*,
                                            v1::ListOperatorsResponse* response) {
  for (const ops::OpDef* def : registry_->List()) {
    DescribeOp(*def, *registry_, response->add_operators());
  }
  return grpc::Status::OK;
}

absl::StatusOr<Symbol> CompilerService::ComposeSymbol(const v1::ComposeRequest& request,
                                                      bool* any_json) const {
  ops::AttrMap attrs(request.attrs().begin(), request.attrs().end());
  switch (request.what_case()) {
    case v1::ComposeRequest::kVariable:
      if (request.variable().empty()) {
        return absl::InvalidArgumentError("a variable needs a name");
      }
      return Symbol::Variable(request.variable(), std::move(attrs));
    case v1::ComposeRequest::kOp: {
      if (request.name().empty()) {
        return absl::InvalidArgumentError(
            "an operator node needs a name (clients keep MXNet's name counters)");
      }
      MXGRID_ASSIGN_OR_RETURN(Symbol::Inputs in, LoadInputs(request, any_json));
      graph::NameManager unused;
      return Symbol::Create(*registry_, request.op(), std::move(attrs), in, request.name(),
                            &unused);
    }
    case v1::ComposeRequest::kCall: {
      MXGRID_ASSIGN_OR_RETURN(Symbol base, Load(request.call(), any_json));
      MXGRID_ASSIGN_OR_RETURN(Symbol::Inputs in, LoadInputs(request, any_json));
      return base.Compose(in, request.name());
    }
    default:
      return absl::InvalidArgumentError("set one of variable, op or call");
  }
}

absl::StatusOr<Symbol> CompilerService::TransformSymbol(const v1::TransformRequest& request,
                                                        bool* any_json) const {
  std::vector<Symbol> symbols;
  for (const v1::Symbol& s : request.symbols()) {
    bool json = false;
    MXGRID_ASSIGN_OR_RETURN(Symbol sym, Load(s, &json));
    *any_json |= json;
    symbols.push_back(std::move(sym));
  }
  if (request.op_case() == v1::TransformRequest::kGroup) return Symbol::Group(symbols);
  if (symbols.size() != 1) {
    return absl::InvalidArgumentError("internals and output selection take one symbol");
  }
  switch (request.op_case()) {
    case v1::TransformRequest::kInternals:
      return symbols[0].GetInternals();
    case v1::TransformRequest::kOutputIndex:
      return symbols[0].GetOutput(request.output_index());
    case v1::TransformRequest::kOutputName:
      return symbols[0].GetOutput(absl::string_view(request.output_name()));
    default:
      return absl::InvalidArgumentError("set one of group, internals, output_index, output_name");
  }
}

grpc::Status CompilerService::Compose(grpc::ServerContext*, const v1::ComposeRequest* request,
                                      v1::ComposeResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    bool any_json = false;
    MXGRID_ASSIGN_OR_RETURN(Symbol result, ComposeSymbol(*request, &any_json));
    Store(result, any_json, request->by_ref(), response->mutable_symbol());
    return absl::OkStatus();
  }());
}

grpc::Status CompilerService::Transform(grpc::ServerContext*,
                                        const v1::TransformRequest* request,
                                        v1::TransformResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    bool any_json = false;
    MXGRID_ASSIGN_OR_RETURN(Symbol result, TransformSymbol(*request, &any_json));
    Store(result, any_json, request->by_ref(), response->mutable_symbol());
    return absl::OkStatus();
  }());
}

grpc::Status CompilerService::ComposeBurst(grpc::ServerContext*,
                                           const v1::ComposeBurstRequest* request,
                                           v1::ComposeBurstResponse*) {
  return ToGrpc([&]() -> absl::Status {
    for (int i = 0; i < request->steps_size(); ++i) {
      const v1::BurstStep& step = request->steps(i);
      bool any_json = false;
      absl::StatusOr<Symbol> result =
          step.has_compose() ? ComposeSymbol(step.compose(), &any_json)
          : step.has_transform()
              ? TransformSymbol(step.transform(), &any_json)
              : absl::InvalidArgumentError("set compose or transform");
      absl::Status held = result.ok()
                              ? symbols_.PutAs(step.ref(), any_json ? result->MergeIdentical()
                                                                    : *std::move(result))
                              : result.status();
      if (!held.ok()) return Annotate(held, absl::StrCat("burst step ", i));
    }
    return absl::OkStatus();
  }());
}

grpc::Status CompilerService::Describe(grpc::ServerContext*, const v1::DescribeRequest* request,
                                       v1::DescribeResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    bool from_json = false;
    MXGRID_ASSIGN_OR_RETURN(Symbol s, Load(request->symbol(), &from_json));
    graph::Symbol::Variables variables = s.ListAllVariables();
    for (std::string& n : variables.arguments) response->add_arguments(std::move(n));
    for (const std::string& n : s.ListOutputs()) response->add_outputs(n);
    for (std::string& n : variables.aux_states) response->add_aux_states(std::move(n));
    for (std::string& n : variables.inputs) response->add_inputs(std::move(n));
    if (!request->skip_canonical()) {
      Store(s, from_json, /*by_ref=*/false, response->mutable_canonical());
    }
    return absl::OkStatus();
  }());
}

grpc::Status CompilerService::InferShape(grpc::ServerContext*,
                                         const v1::InferShapeRequest* request,
                                         v1::InferShapeResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(Symbol s, Load(request->symbol()));
    MXGRID_ASSIGN_OR_RETURN(auto known, FromProto(request->shapes()));
    MXGRID_ASSIGN_OR_RETURN(graph::ShapeInference r, graph::InferShape(s, known));
    for (const auto& x : r.arg_shapes) ToProto(x, response->add_arg_shapes());
    for (const auto& x : r.out_shapes) ToProto(x, response->add_out_shapes());
    for (const auto& x : r.aux_shapes) ToProto(x, response->add_aux_shapes());
    response->set_complete(r.complete);
    return absl::OkStatus();
  }());
}

grpc::Status CompilerService::InferType(grpc::ServerContext*, const v1::InferTypeRequest* request,
                                        v1::InferTypeResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(Symbol s, Load(request->symbol()));
    MXGRID_ASSIGN_OR_RETURN(auto known, FromProto(request->dtypes()));
    MXGRID_ASSIGN_OR_RETURN(graph::TypeInference r, graph::InferType(s, known));
    auto put = [](const ops::InferType& t) {
      return t ? rpc::ToProtoDType(*t) : v1::DTYPE_UNSPECIFIED;
    };
    for (const auto& t : r.arg_types) response->add_arg_types(put(t));
    for (const auto& t : r.out_types) response->add_out_types(put(t));
    for (const auto& t : r.aux_types) response->add_aux_types(put(t));
    response->set_complete(r.complete);
    return absl::OkStatus();
  }());
}

grpc::Status CompilerService::MakePlan(grpc::ServerContext*, const v1::MakePlanRequest* request,
                                       v1::MakePlanResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    graph::PlanOptions options;
    MXGRID_ASSIGN_OR_RETURN(options.shapes, FromProto(request->shapes()));
    MXGRID_ASSIGN_OR_RETURN(options.dtypes, FromProto(request->dtypes()));
    // A held symbol's plans are keyed by its handle (its nodes never change).
    std::string key = request->symbol().json().empty()
                          ? absl::StrCat("ref:", request->symbol().ref())
                          : request->symbol().json();
    for (const auto& [name, shape] : options.shapes) {
      absl::StrAppend(&key, "|s:", name, "=", shape ? shape->ToString() : "?");
    }
    for (const auto& [name, dtype] : options.dtypes) {
      absl::StrAppend(&key, "|t:", name, "=", static_cast<int>(dtype));
    }
    const std::map<std::string, v1::OpReq> reqs(request->grad_reqs().begin(),
                                                request->grad_reqs().end());
    for (const auto& [name, req] : reqs) {
      if (req != v1::OP_REQ_NULL && req != v1::OP_REQ_WRITE_TO && req != v1::OP_REQ_ADD_TO) {
        return absl::InvalidArgumentError(
            absl::StrCat("grad_req of ", Quoted(name), " must be null, write or add"));
      }
      if (req != v1::OP_REQ_NULL) options.grad_reqs[name] = static_cast<ops::OpReq>(req);
      absl::StrAppend(&key, "|g:", name, "=", req);
    }
    options.eliminate_common_expr = !request->keep_common_expr();
    absl::StrAppend(&key, "|cse:", options.eliminate_common_expr ? 1 : 0);
    if (std::optional<v1::Plan> hit = plans_.Get(key)) {
      *response->mutable_plan() = std::move(*hit);
      response->set_cached(true);
      return absl::OkStatus();
    }
    MXGRID_ASSIGN_OR_RETURN(Symbol s, Load(request->symbol()));
    MXGRID_ASSIGN_OR_RETURN(graph::Plan plan, graph::MakePlan(s, options));
    rpc::ToProto(plan, response->mutable_plan());
    plans_.Put(key, response->plan());
    return absl::OkStatus();
  }());
}

}  // namespace mxgrid::services
