#include "libs/rpc/plan_codec.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/graph/infer.h"
#include "libs/graph/json.h"
#include "libs/rpc/tensor_codec.h"

namespace mxgrid::rpc {
namespace {

using graph::Plan;
using StepKind = Plan::StepKind;

v1::Plan::StepKind ToProtoKind(StepKind kind) {
  switch (kind) {
    case StepKind::kForward: return v1::Plan::FORWARD;
    case StepKind::kBackward: return v1::Plan::BACKWARD;
    case StepKind::kSum: return v1::Plan::SUM;
    case StepKind::kZero: return v1::Plan::ZERO;
  }
  return v1::Plan::STEP_KIND_UNSPECIFIED;
}

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError("plan: " + what); }

// Checks one decoded plan against its graph (see the header).
class Validator {
 public:
  explicit Validator(const Plan& plan) : p_(plan), g_(*plan.graph) {}

  absl::Status Run() {
    MXGRID_RETURN_IF_ERROR(CheckEntries());
    if (p_.num_forward_steps < 0 || p_.num_forward_steps > static_cast<int>(p_.steps.size())) {
      return Bad("num_forward_steps out of range");
    }
    for (size_t i = 0; i < p_.steps.size(); ++i) {
      const Plan::Step& s = p_.steps[i];
      const bool forward_part = static_cast<int>(i) < p_.num_forward_steps;
      if ((s.kind == StepKind::kForward) != forward_part) {
        return Bad(absl::StrCat("step ", i, " is out of place for its kind"));
      }
      absl::Status st = CheckStep(s);
      if (!st.ok()) return Bad(absl::StrCat("step ", i, ": ", st.message()));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckEntries() {
    const int n = static_cast<int>(p_.entries.size());
    if (n < g_.num_entries()) return Bad("fewer entries than the graph has outputs");
    std::vector<ops::InferShape> shapes(g_.num_entries());
    std::vector<ops::InferType> types(g_.num_entries());
    for (int id = 0; id < g_.num_nodes(); ++id) {
      if (!g_.node(id).node->is_variable()) continue;
      const int e = g_.entry(id, 0);
      if (p_.entries[e].storage != Plan::kExternal) {
        return Bad(absl::StrCat("variable entry ", e, " must be bound, not planned"));
      }
      shapes[e] = p_.entries[e].shape;
      types[e] = p_.entries[e].dtype;
    }
    MXGRID_RETURN_IF_ERROR(graph::InferEntryShapes(g_, &shapes));
    MXGRID_RETURN_IF_ERROR(graph::InferEntryTypes(g_, &types));
    for (int e = 0; e < g_.num_entries(); ++e) {
      if (!shapes[e] || *shapes[e] != p_.entries[e].shape || !types[e] ||
          *types[e] != p_.entries[e].dtype) {
        return Bad(absl::StrCat("entry ", e, " does not have the shape and type its graph gives"));
      }
    }
    std::set<int> bound;
    if (p_.arg_grad_entries.size() != g_.arg_nodes().size() ||
        p_.head_grad_entries.size() != g_.outputs().size()) {
      return Bad("gradient entry lists do not match the arguments and outputs");
    }
    for (size_t k = 0; k < p_.arg_grad_entries.size(); ++k) {
      const int e = p_.arg_grad_entries[k];
      if (e == Plan::kNone) continue;
      MXGRID_RETURN_IF_ERROR(Like(e, g_.entry(g_.arg_nodes()[k], 0)));
      bound.insert(e);
    }
    for (size_t k = 0; k < p_.head_grad_entries.size(); ++k) {
      const int e = p_.head_grad_entries[k];
      if (e == Plan::kNone) continue;
      MXGRID_RETURN_IF_ERROR(Like(e, g_.outputs()[k]));
      bound.insert(e);
    }
    for (int e = 0; e < n; ++e) {
      const Plan::Entry& entry = p_.entries[e];
      if (entry.storage == Plan::kExternal) {
        if (e >= g_.num_entries() && !bound.count(e)) {
          return Bad(absl::StrCat("external entry ", e, " is neither a gradient nor bound"));
        }
        continue;
      }
      if (entry.storage < 0 || entry.storage >= static_cast<int>(p_.storage_bytes.size())) {
        return Bad(absl::StrCat("entry ", e, " names block ", entry.storage));
      }
      const int64_t bytes = entry.shape.Size() * static_cast<int64_t>(DTypeSize(entry.dtype));
      if (bytes > p_.storage_bytes[entry.storage]) {
        return Bad(absl::StrCat("entry ", e, " needs ", bytes, " bytes, block ", entry.storage,
                                " has ", p_.storage_bytes[entry.storage]));
      }
    }
    return absl::OkStatus();
  }

  // Entry e exists and has the shape and dtype of entry `like`.
  absl::Status Like(int e, int like) const {
    if (e < 0 || e >= static_cast<int>(p_.entries.size())) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", e, " out of range"));
    }
    const Plan::Entry &a = p_.entries[e], &b = p_.entries[like];
    if (a.shape != b.shape || a.dtype != b.dtype) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", e, " is ", a.shape.ToString(),
                                                     ", expected ", b.shape.ToString()));
    }
    return absl::OkStatus();
  }

  // `ids` are exactly `want`.
  static absl::Status Same(absl::Span<const int> ids, absl::Span<const int> want,
                           const char* what) {
    if (ids.size() != want.size() || !std::equal(ids.begin(), ids.end(), want.begin())) {
      return absl::InvalidArgumentError(absl::StrCat(what, " are not the node's"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckStep(const Plan::Step& s) const {
    if (s.reqs.size() != s.outputs.size()) return absl::InvalidArgumentError("reqs per output");
    if (s.kind == StepKind::kSum || s.kind == StepKind::kZero) {
      if (s.node != -1 || s.outputs.size() != 1 || s.outputs[0] < 0) {
        return absl::InvalidArgumentError("sum/zero steps write one entry and have no node");
      }
      if (s.kind == StepKind::kZero && !s.inputs.empty()) {
        return absl::InvalidArgumentError("a zero step reads nothing");
      }
      if (s.kind == StepKind::kSum && s.inputs.empty()) {
        return absl::InvalidArgumentError("a sum step needs inputs");
      }
      for (int e : s.inputs) MXGRID_RETURN_IF_ERROR(Like(e, s.outputs[0]));
      return Like(s.outputs[0], s.outputs[0]);
    }
    if (s.node < 0 || s.node >= g_.num_nodes() || g_.node(s.node).node->is_variable()) {
      return absl::InvalidArgumentError(absl::StrCat("node ", s.node, " is not an operator"));
    }
    const graph::IndexedGraph::NodeInfo& info = g_.node(s.node);
    const ops::ParsedOp& op = *info.node->op;
    std::vector<int> outs;
    for (int i = 0; i < op.num_outputs(); ++i) outs.push_back(g_.entry(s.node, i));
    if (s.kind == StepKind::kForward) {
      MXGRID_RETURN_IF_ERROR(Same(s.inputs, info.inputs, "forward inputs"));
      return Same(s.outputs, outs, "forward outputs");
    }
    // Backward: out-grads, then forward inputs and outputs as the op's deps say.
    const int nv = op.num_visible_outputs();
    const size_t want = nv + (op.def().backward_deps.inputs ? info.inputs.size() : 0) +
                        (op.def().backward_deps.outputs ? outs.size() : 0);
    if (s.inputs.size() != want) return absl::InvalidArgumentError("backward input count");
    for (int i = 0; i < nv; ++i) {
      if (s.inputs[i] == Plan::kNone && op.def().is_loss) continue;
      MXGRID_RETURN_IF_ERROR(Like(s.inputs[i], outs[i]));
    }
    absl::Span<const int> rest = absl::MakeConstSpan(s.inputs).subspan(nv);
    if (op.def().backward_deps.inputs) {
      MXGRID_RETURN_IF_ERROR(Same(rest.subspan(0, info.inputs.size()), info.inputs, "inputs"));
      rest = rest.subspan(info.inputs.size());
    }
    if (op.def().backward_deps.outputs) MXGRID_RETURN_IF_ERROR(Same(rest, outs, "outputs"));
    if (s.outputs.size() != info.inputs.size()) {
      return absl::InvalidArgumentError("one gradient per forward input");
    }
    for (size_t i = 0; i < s.outputs.size(); ++i) {
      if (s.outputs[i] == Plan::kNone) {
        if (s.reqs[i] != ops::OpReq::kNull) return absl::InvalidArgumentError("req on no output");
        continue;
      }
      MXGRID_RETURN_IF_ERROR(Like(s.outputs[i], info.inputs[i]));
    }
    return absl::OkStatus();
  }

  const Plan& p_;
  const graph::IndexedGraph& g_;
};

}  // namespace

void ToProto(const graph::Plan& plan, v1::Plan* out) {
  out->Clear();
  out->mutable_symbol()->set_json(graph::SaveJson(plan.graph->symbol()));
  for (const Plan::Entry& e : plan.entries) {
    v1::Plan::Entry* pe = out->add_entries();
    ToProto(e.dtype, e.shape, pe->mutable_meta());
    pe->set_storage(e.storage);
  }
  for (const Plan::Step& s : plan.steps) {
    v1::Plan::Step* ps = out->add_steps();
    ps->set_kind(ToProtoKind(s.kind));
    ps->set_node(s.node);
    for (int e : s.inputs) ps->add_inputs(e);
    for (int e : s.outputs) ps->add_outputs(e);
    for (ops::OpReq r : s.reqs) ps->add_reqs(static_cast<v1::OpReq>(static_cast<int>(r)));
  }
  out->set_num_forward_steps(plan.num_forward_steps);
  for (int64_t b : plan.storage_bytes) out->add_storage_bytes(b);
  for (int e : plan.arg_grad_entries) out->add_arg_grad_entries(e);
  for (int e : plan.head_grad_entries) out->add_head_grad_entries(e);
}

absl::StatusOr<graph::Plan> FromProto(const v1::Plan& proto, const ops::Registry& registry) {
  MXGRID_ASSIGN_OR_RETURN(graph::Symbol symbol, graph::LoadJson(proto.symbol().json(), registry));
  Plan plan;
  plan.graph = std::make_shared<const graph::IndexedGraph>(symbol);
  for (const v1::Plan::Entry& pe : proto.entries()) {
    Plan::Entry e;
    MXGRID_RETURN_IF_ERROR(FromProto(pe.meta(), &e.dtype, &e.shape));
    e.storage = pe.storage();
    plan.entries.push_back(std::move(e));
  }
  for (const v1::Plan::Step& ps : proto.steps()) {
    Plan::Step s;
    switch (ps.kind()) {
      case v1::Plan::FORWARD: s.kind = StepKind::kForward; break;
      case v1::Plan::BACKWARD: s.kind = StepKind::kBackward; break;
      case v1::Plan::SUM: s.kind = StepKind::kSum; break;
      case v1::Plan::ZERO: s.kind = StepKind::kZero; break;
      default: return Bad(absl::StrCat("unknown step kind ", static_cast<int>(ps.kind())));
    }
    s.node = ps.node();
    s.inputs.assign(ps.inputs().begin(), ps.inputs().end());
    s.outputs.assign(ps.outputs().begin(), ps.outputs().end());
    for (int r : ps.reqs()) {
      if (r < v1::OP_REQ_NULL || r > v1::OP_REQ_ADD_TO) return Bad("unknown request");
      s.reqs.push_back(static_cast<ops::OpReq>(r));
    }
    plan.steps.push_back(std::move(s));
  }
  plan.num_forward_steps = proto.num_forward_steps();
  for (int64_t b : proto.storage_bytes()) {
    if (b < 0) return Bad("negative block size");
    plan.storage_bytes.push_back(b);
  }
  plan.arg_grad_entries.assign(proto.arg_grad_entries().begin(), proto.arg_grad_entries().end());
  plan.head_grad_entries.assign(proto.head_grad_entries().begin(),
                                proto.head_grad_entries().end());
  MXGRID_RETURN_IF_ERROR(Validator(plan).Run());
  return plan;
}

}  // namespace mxgrid::rpc
