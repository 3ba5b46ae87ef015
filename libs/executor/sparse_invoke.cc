#include "libs/executor/sparse_invoke.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"

namespace mxgrid::executor {

using tensor::NDArray;
using tensor::SparseNDArray;
using tensor::StorageType;

namespace {

const SparseNDArray& Sp(const AnyArray& a) { return std::get<SparseNDArray>(a); }
const NDArray& Dn(const AnyArray& a) { return std::get<NDArray>(a); }

StorageType StypeOf(const AnyArray& a) {
  return IsSparse(a) ? Sp(a).stype() : StorageType::kDefault;
}

absl::StatusOr<NDArray> Densified(const AnyArray& a) {
  if (IsSparse(a)) return tensor::ToDense(Sp(a));
  return Dn(a);
}

std::optional<std::string> Attr(const ops::ParsedOp& op, const std::string& key) {
  auto it = op.attrs().find(key);
  if (it == op.attrs().end()) return std::nullopt;
  return it->second;
}

bool AttrTrue(const ops::ParsedOp& op, const std::string& key, bool default_value) {
  std::optional<std::string> v = Attr(op, key);
  if (!v) return default_value;
  return *v == "1" || *v == "True" || *v == "true";
}

// The dense array holding `a`'s values in place: a dense array itself, or the data of a
// row_sparse array that stores every row.
std::optional<NDArray> DenseView(const AnyArray& a) {
  if (!IsSparse(a)) return Dn(a);
  if (Sp(a).all_rows_stored()) return Sp(a).data();
  return std::nullopt;
}

bool SameArray(const AnyArray& a, const AnyArray& b) {
  if (IsSparse(a) != IsSparse(b)) return false;
  const NDArray& x = IsSparse(a) ? Sp(a).data() : Dn(a);
  const NDArray& y = IsSparse(b) ? Sp(b).data() : Dn(b);
  return x.SharesStorageWith(y) && x.byte_offset() == y.byte_offset() && x.shape() == y.shape();
}

absl::Status CheckOutCount(const ops::ParsedOp& op, absl::Span<const AnyArray> out) {
  if (!out.empty() && static_cast<int>(out.size()) != op.num_visible_outputs()) {
    return absl::InvalidArgumentError(absl::StrCat(op.def().name, " has ",
                                                   op.num_visible_outputs(), " outputs, got ",
                                                   out.size(), " out arrays"));
  }
  return absl::OkStatus();
}

// ---- cast_storage ----

absl::StatusOr<SparseInvokeResult> CastStorage(const ops::ParsedOp& op,
                                               absl::Span<const AnyArray> inputs,
                                               absl::Span<const AnyArray> out) {
  if (inputs.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cast_storage takes 1 input, got ", inputs.size()));
  }
  MXGRID_ASSIGN_OR_RETURN(StorageType target,
                          tensor::StorageTypeFromName(Attr(op, "stype").value_or("")));
  if (!out.empty() && StypeOf(out[0]) != target) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cast_storage to ", tensor::StorageTypeName(target), " cannot write a ",
        tensor::StorageTypeName(StypeOf(out[0])), " array"));
  }
  const AnyArray& in = inputs[0];
  SparseInvokeResult r;
  if (target == StorageType::kDefault) {
    NDArray dst;
    if (out.empty() && IsSparse(in)) {
      MXGRID_ASSIGN_OR_RETURN(dst, tensor::ToDense(Sp(in)));
    } else if (out.empty()) {
      MXGRID_ASSIGN_OR_RETURN(dst, Dn(in).CopyTo(Dn(in).context()));
    } else {
      dst = Dn(out[0]);
      if (IsSparse(in)) {
        MXGRID_RETURN_IF_ERROR(tensor::ToDenseInto(Sp(in), dst));
      } else {
        MXGRID_RETURN_IF_ERROR(Dn(in).CopyTo(dst));
      }
    }
    r.outputs.push_back(dst);
    return r;
  }
  SparseNDArray value;
  if (IsSparse(in)) {
    MXGRID_ASSIGN_OR_RETURN(value, tensor::Convert(Sp(in), target));
  } else {
    MXGRID_ASSIGN_OR_RETURN(value, tensor::FromDense(Dn(in), target));
  }
  if (!out.empty() &&
      (Sp(out[0]).shape() != value.shape() || Sp(out[0]).dtype() != value.dtype() ||
       Sp(out[0]).context() != value.context())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cast_storage: out is ", Sp(out[0]).shape().ToString(), " ",
        DTypeName(Sp(out[0]).dtype()), " on ", Sp(out[0]).context().ToString(), "; the result ",
        value.shape().ToString(), " ", DTypeName(value.dtype()), " on ",
        value.context().ToString()));
  }
  r.outputs.push_back(value);
  return r;
}

// ---- optimizer updates with a row_sparse gradient ----

struct UpdateRule {
  int num_states;
  bool always_lazy;  // else lazy when lazy_update (default true)
  bool sparse_weight_only = false;  // a dense weight takes the fallback (MXNet's ftrl)
};

const std::map<std::string, UpdateRule>& UpdateRules() {
  static const auto* rules = new std::map<std::string, UpdateRule>{
      {"sgd_update", {0, false}},      {"sgd_mom_update", {1, false}},
      {"adam_update", {2, false}},     {"ftrl_update", {2, true, true}},
      {"_sparse_adagrad_update", {1, true}},
  };
  return *rules;
}

// The sparse update when the storage types allow one, nullopt for the fallback.
absl::StatusOr<std::optional<SparseInvokeResult>> SparseUpdate(
    const std::shared_ptr<const ops::ParsedOp>& op, absl::Span<const AnyArray> inputs,
    absl::Span<const AnyArray> out, const InvokeOptions& options) {
  auto rule_it = UpdateRules().find(op->def().name);
  if (rule_it == UpdateRules().end()) return std::nullopt;
  const UpdateRule& rule = rule_it->second;
  const size_t n = 2 + static_cast<size_t>(rule.num_states);
  if (inputs.size() != n || out.size() != 1 || !SameArray(out[0], inputs[0])) {
    return std::nullopt;
  }
  const StorageType w_stype = StypeOf(inputs[0]);
  if (StypeOf(inputs[1]) != StorageType::kRowSparse || w_stype == StorageType::kCSR ||
      (rule.sparse_weight_only && w_stype != StorageType::kRowSparse)) {
    return std::nullopt;
  }
  bool states_match = true;
  for (size_t i = 2; i < n; ++i) {
    const StorageType s = StypeOf(inputs[i]);
    if (s == StorageType::kCSR) return std::nullopt;
    states_match = states_match && s == w_stype;
  }
  // rsp weight with dense states: the standard update (MXNet's only other sparse case).
  if (!states_match && !(w_stype == StorageType::kRowSparse)) return std::nullopt;
  std::optional<NDArray> weight = DenseView(inputs[0]);
  if (!weight) {
    return absl::InvalidArgumentError(absl::StrCat(
        op->def().name, ": a row_sparse weight must store every row (it stores ",
        Sp(inputs[0]).num_stored(), " of ", Sp(inputs[0]).shape()[0], ")"));
  }
  SparseInvokeResult r;
  std::vector<NDArray> states;
  for (size_t i = 2; i < n; ++i) {
    std::optional<NDArray> s = DenseView(inputs[i]);
    if (!s) {
      MXGRID_ASSIGN_OR_RETURN(SparseNDArray filled, tensor::WithAllRows(Sp(inputs[i])));
      r.replaced_inputs.emplace_back(i, filled);
      s = filled.data();
    }
    states.push_back(*s);
  }
  const SparseNDArray& grad = Sp(inputs[1]);
  const bool lazy =
      states_match && (rule.always_lazy || AttrTrue(*op, "lazy_update", /*default=*/true));
  InvokeOptions dense = options;
  dense.all_outputs = nullptr;
  r.outputs.push_back(out[0]);
  if (!lazy) {
    MXGRID_ASSIGN_OR_RETURN(NDArray g, tensor::ToDense(grad));
    std::vector<NDArray> in = {*weight, g};
    in.insert(in.end(), states.begin(), states.end());
    const NDArray w_out[] = {*weight};
    dense.out = w_out;
    MXGRID_RETURN_IF_ERROR(Invoke(op, in, dense).status());
    return r;
  }
  if (grad.num_stored() == 0) return r;  // no rows: nothing moves
  const NDArray& rows = grad.indices();
  MXGRID_ASSIGN_OR_RETURN(NDArray w_rows, tensor::GatherRows(*weight, rows));
  std::vector<NDArray> in = {w_rows, grad.data()};
  for (const NDArray& s : states) {
    MXGRID_ASSIGN_OR_RETURN(NDArray s_rows, tensor::GatherRows(s, rows));
    in.push_back(s_rows);
  }
  const NDArray w_out[] = {w_rows};
  dense.out = w_out;
  MXGRID_RETURN_IF_ERROR(Invoke(op, in, dense).status());
  MXGRID_RETURN_IF_ERROR(tensor::ScatterRows(w_rows, rows, *weight));
  for (size_t i = 0; i < states.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(tensor::ScatterRows(in[2 + i], rows, states[i]));
  }
  return r;
}

// ---- the other sparse kernels ----

absl::StatusOr<std::optional<SparseInvokeResult>> SparseKernel(
    const ops::ParsedOp& op, absl::Span<const AnyArray> inputs, absl::Span<const AnyArray> out) {
  const std::string& name = op.def().name;
  SparseInvokeResult r;
  if (name == "_sparse_retain" && inputs.size() == 2 &&
      StypeOf(inputs[0]) == StorageType::kRowSparse && !IsSparse(inputs[1]) &&
      (out.empty() || StypeOf(out[0]) == StorageType::kRowSparse)) {
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray kept, tensor::Retain(Sp(inputs[0]), Dn(inputs[1])));
    r.outputs.push_back(kept);
    return r;
  }
  if (name == "dot" && inputs.size() == 2 && StypeOf(inputs[0]) == StorageType::kCSR &&
      !IsSparse(inputs[1]) && !AttrTrue(op, "transpose_b", false) &&
      (out.empty() || !IsSparse(out[0]))) {
    MXGRID_ASSIGN_OR_RETURN(NDArray product,
                            tensor::DotCsrDense(Sp(inputs[0]), Dn(inputs[1]),
                                                AttrTrue(op, "transpose_a", false)));
    if (!out.empty()) {
      MXGRID_RETURN_IF_ERROR(product.CopyTo(Dn(out[0])));
      product = Dn(out[0]);
    }
    r.outputs.push_back(product);
    return r;
  }
  if (name == "zeros_like" && inputs.size() == 1 && IsSparse(inputs[0]) && out.empty()) {
    const SparseNDArray& in = Sp(inputs[0]);
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray z, SparseNDArray::Zeros(in.stype(), in.shape(),
                                                                  in.context(), in.dtype()));
    r.outputs.push_back(z);
    return r;
  }
  return std::nullopt;
}

// ---- storage fallback ----

absl::StatusOr<SparseInvokeResult> Fallback(const std::shared_ptr<const ops::ParsedOp>& op,
                                            absl::Span<const AnyArray> inputs,
                                            absl::Span<const AnyArray> out,
                                            const InvokeOptions& options) {
  std::vector<NDArray> dense_in;
  for (const AnyArray& a : inputs) {
    MXGRID_ASSIGN_OR_RETURN(NDArray d, Densified(a));
    dense_in.push_back(d);
  }
  std::vector<NDArray> dense_out;
  for (const AnyArray& a : out) {
    if (!IsSparse(a)) {
      dense_out.push_back(Dn(a));
      continue;
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray t, NDArray::Empty(Sp(a).shape(), Sp(a).context(),
                                                      Sp(a).dtype()));
    dense_out.push_back(t);
  }
  InvokeOptions dense = options;
  dense.all_outputs = nullptr;
  dense.out = dense_out;
  MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> results, Invoke(op, dense_in, dense));
  SparseInvokeResult r;
  for (int i : op->mutated_indices()) {
    const size_t k = static_cast<size_t>(i);
    if (k < inputs.size() && IsSparse(inputs[k])) {
      MXGRID_ASSIGN_OR_RETURN(SparseNDArray back,
                              tensor::FromDense(dense_in[k], Sp(inputs[k]).stype()));
      r.replaced_inputs.emplace_back(k, back);
    }
  }
  if (out.empty()) {
    r.outputs.assign(results.begin(), results.end());
    return r;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!IsSparse(out[i])) {
      r.outputs.push_back(out[i]);
      continue;
    }
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray back,
                            tensor::FromDense(dense_out[i], Sp(out[i]).stype()));
    r.outputs.push_back(back);
  }
  return r;
}

}  // namespace

bool WritesSparse(const ops::ParsedOp& op) {
  if (op.def().name != "cast_storage") return false;
  std::optional<std::string> stype = Attr(op, "stype");
  return stype && *stype != "default";
}

absl::StatusOr<SparseInvokeResult> InvokeAny(std::shared_ptr<const ops::ParsedOp> op,
                                             absl::Span<const AnyArray> inputs,
                                             absl::Span<const AnyArray> out,
                                             const InvokeOptions& options) {
  MXGRID_RETURN_IF_ERROR(CheckOutCount(*op, out));
  if (op->def().name == "cast_storage") return CastStorage(*op, inputs, out);
  MXGRID_ASSIGN_OR_RETURN(std::optional<SparseInvokeResult> update,
                          SparseUpdate(op, inputs, out, options));
  if (update) return *std::move(update);
  MXGRID_ASSIGN_OR_RETURN(std::optional<SparseInvokeResult> special,
                          SparseKernel(*op, inputs, out));
  if (special) {
    if (!out.empty() && IsSparse(special->outputs[0]) != IsSparse(out[0])) {
      return Fallback(op, inputs, out, options);
    }
    if (!out.empty() && IsSparse(out[0])) {
      const SparseNDArray& o = Sp(out[0]);
      const SparseNDArray& v = Sp(special->outputs[0]);
      if (o.shape() != v.shape() || o.dtype() != v.dtype() || o.context() != v.context()) {
        return absl::InvalidArgumentError(absl::StrCat(op->def().name, ": out is ",
                                                       o.shape().ToString(), " ",
                                                       DTypeName(o.dtype()), ", the result ",
                                                       v.shape().ToString(), " ",
                                                       DTypeName(v.dtype())));
      }
    }
    return *std::move(special);
  }
  return Fallback(op, inputs, out, options);
}

}  // namespace mxgrid::executor
