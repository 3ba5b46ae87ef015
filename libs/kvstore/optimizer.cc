// Optimizer: argument parsing, per-index state, and one fused engine kernel per update.
#include "libs/kvstore/optimizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libs/base/check.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/kvstore/internal/optimizer_kernels.h"
#include "libs/ops/builtin.h"
#include "libs/ops/op.h"
#include "libs/tensor/sparse.h"

namespace mxgrid::kvstore {
namespace {

using internal::RunKernel;
using internal::RowsKernelName;
using internal::RowsOnly;
using internal::RunRowsKernel;
using internal::Step;
using tensor::NDArray;

constexpr OptimizerKind kAllKinds[] = {OptimizerKind::kSGD, OptimizerKind::kNAG,
                                       OptimizerKind::kAdam, OptimizerKind::kRMSProp,
                                       OptimizerKind::kAdaGrad};

constexpr uint32_t Bit(OptimizerKind kind) { return 1u << static_cast<int>(kind); }
constexpr uint32_t kEvery = 0x1f;

// The keyword arguments each optimizer's Python constructor takes.
struct ParamSpec {
  const char* name;
  uint32_t kinds;
};
constexpr ParamSpec kParams[] = {
    {"learning_rate", kEvery},
    {"wd", kEvery},
    {"rescale_grad", kEvery},
    {"clip_gradient", kEvery},
    {"begin_num_update", kEvery},
    {"multi_precision", kEvery},
    {"momentum", Bit(OptimizerKind::kSGD) | Bit(OptimizerKind::kNAG)},
    {"lazy_update", Bit(OptimizerKind::kSGD) | Bit(OptimizerKind::kAdam)},
    {"beta1", Bit(OptimizerKind::kAdam)},
    {"beta2", Bit(OptimizerKind::kAdam)},
    {"epsilon", Bit(OptimizerKind::kAdam) | Bit(OptimizerKind::kRMSProp)},
    {"gamma1", Bit(OptimizerKind::kRMSProp)},
    {"gamma2", Bit(OptimizerKind::kRMSProp)},
    {"centered", Bit(OptimizerKind::kRMSProp)},
    {"clip_weights", Bit(OptimizerKind::kRMSProp)},
    {"eps", Bit(OptimizerKind::kAdaGrad)},
};

absl::Status BadValue(absl::string_view key, absl::string_view value, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("optimizer parameter ", key, "=", Quoted(value),
                                                 " is not ", want));
}

bool Takes(OptimizerKind kind, absl::string_view param) {
  for (const ParamSpec& spec : kParams) {
    if (param == spec.name) return (spec.kinds & Bit(kind)) != 0;
  }
  return false;
}

// The ranges MXNet's formulas need (MXNet 1.9.1 itself checks none of them and silently
// produces NaN, growing or sign-flipped weights; a server must refuse instead).
absl::Status CheckRanges(const OptimizerOptions& o) {
  const absl::string_view name = OptimizerKindName(o.kind);
  auto bad = [&](absl::string_view param, double value, absl::string_view range) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer ", name, ": ", param, " = ", value,
                                                   " is invalid; it must be ", range));
  };
  const double lr = o.EffectiveLearningRate();
  if (!std::isfinite(lr) || lr < 0) return bad("learning_rate", lr, "finite and >= 0");
  if (!std::isfinite(o.wd) || o.wd < 0) return bad("wd", o.wd, "finite and >= 0");
  if (!std::isfinite(o.rescale_grad)) return bad("rescale_grad", o.rescale_grad, "finite");
  if (o.clip_gradient && !std::isfinite(*o.clip_gradient)) {
    return bad("clip_gradient", *o.clip_gradient, "finite (or None; negative means no clipping)");
  }
  if (o.begin_num_update < 0) {
    return bad("begin_num_update", static_cast<double>(o.begin_num_update), ">= 0");
  }
  struct Unit {
    const char* param;
    double value;
  };
  // Decay rates and momenta: in [0, 1).
  for (const Unit& u : {Unit{"momentum", o.momentum}, Unit{"beta1", o.beta1},
                        Unit{"beta2", o.beta2}, Unit{"gamma1", o.gamma1},
                        Unit{"gamma2", o.gamma2}}) {
    if (!Takes(o.kind, u.param)) continue;
    if (!(u.value >= 0 && u.value < 1)) return bad(u.param, u.value, "in [0, 1)");
  }
  // Terms added to a denominator: > 0.
  for (const Unit& u : {Unit{"epsilon", o.epsilon}, Unit{"eps", o.eps}}) {
    if (!Takes(o.kind, u.param)) continue;
    if (!(u.value > 0) || !std::isfinite(u.value)) return bad(u.param, u.value, "finite and > 0");
  }
  if (Takes(o.kind, "clip_weights") && o.clip_weights && !std::isfinite(*o.clip_weights)) {
    return bad("clip_weights", *o.clip_weights, "finite (or None; negative means none)");
  }
  return absl::OkStatus();
}

absl::Status ParseDouble(absl::string_view key, absl::string_view value, double* out) {
  if (!absl::SimpleAtod(value, out) || !std::isfinite(*out)) {
    return BadValue(key, value, "a finite number");
  }
  return absl::OkStatus();
}

// A number or Python's None (unset).
absl::Status ParseOptionalDouble(absl::string_view key, absl::string_view value,
                                 std::optional<double>* out) {
  if (value == "None") {
    out->reset();
    return absl::OkStatus();
  }
  double d;
  MXGRID_RETURN_IF_ERROR(ParseDouble(key, value, &d));
  *out = d;
  return absl::OkStatus();
}

absl::Status ParseBool(absl::string_view key, absl::string_view value, bool* out) {
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "1") {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return BadValue(key, value, "a boolean (True or False)");
  }
  return absl::OkStatus();
}

absl::Status SetParam(const std::string& key, const std::string& value, OptimizerOptions* o) {
  if (key == "learning_rate") {
    // learning_rate=None without an lr_scheduler means 0.01 for every optimizer in MXNet.
    if (value == "None") {
      o->learning_rate = 0.01;
      return absl::OkStatus();
    }
    double lr;
    MXGRID_RETURN_IF_ERROR(ParseDouble(key, value, &lr));
    o->learning_rate = lr;
    return absl::OkStatus();
  }
  if (key == "begin_num_update") {
    if (!absl::SimpleAtoi(value, &o->begin_num_update) || o->begin_num_update < 0) {
      return BadValue(key, value, "a non-negative integer");
    }
    return absl::OkStatus();
  }
  if (key == "multi_precision") {
    bool ignored;  // no effect on float32/float64 arrays
    return ParseBool(key, value, &ignored);
  }
  if (key == "lazy_update") return ParseBool(key, value, &o->lazy_update);
  if (key == "centered") return ParseBool(key, value, &o->centered);
  if (key == "clip_gradient") return ParseOptionalDouble(key, value, &o->clip_gradient);
  if (key == "clip_weights") return ParseOptionalDouble(key, value, &o->clip_weights);
  double* field = key == "wd"             ? &o->wd
                  : key == "rescale_grad" ? &o->rescale_grad
                  : key == "momentum"     ? &o->momentum
                  : key == "beta1"        ? &o->beta1
                  : key == "beta2"        ? &o->beta2
                  : key == "epsilon"      ? &o->epsilon
                  : key == "gamma1"       ? &o->gamma1
                  : key == "gamma2"       ? &o->gamma2
                  : key == "eps"          ? &o->eps
                                          : nullptr;
  MXGRID_CHECK(field != nullptr) << "kParams lists " << key << " but SetParam lacks it";
  return ParseDouble(key, value, field);
}

// The MXNet operator each update runs (engine operation names must be literals).
const char* KernelName(const OptimizerOptions& o) {
  switch (o.kind) {
    case OptimizerKind::kSGD: return o.momentum > 0 ? "multi_sgd_mom_update" : "multi_sgd_update";
    case OptimizerKind::kNAG: return o.momentum > 0 ? "nag_mom_update" : "sgd_update";
    case OptimizerKind::kAdam: return "adam_update";
    case OptimizerKind::kRMSProp: return o.centered ? "rmspropalex_update" : "rmsprop_update";
    case OptimizerKind::kAdaGrad: return "adagrad_update";
  }
  return "optimizer_update";
}

size_t StateArrays(const OptimizerOptions& o) {
  switch (o.kind) {
    case OptimizerKind::kSGD:
    case OptimizerKind::kNAG: return o.momentum > 0 ? 1 : 0;
    case OptimizerKind::kAdam: return 2;
    case OptimizerKind::kRMSProp: return o.centered ? 3 : 1;
    case OptimizerKind::kAdaGrad: return 1;
  }
  return 0;
}

std::string Describe(const char* what, const NDArray& a) {
  return absl::StrCat(what, " ", a.shape().ToString(), " ", DTypeName(a.dtype()), " on ",
                      a.context().ToString());
}

absl::Status CheckArrays(int index, const NDArray& weight, const NDArray& grad) {
  if (weight.is_none() || grad.is_none()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "optimizer update of index ", index, ": the ", weight.is_none() ? "weight" : "gradient",
        " is an empty (none) array"));
  }
  if (weight.shape() != grad.shape() || weight.dtype() != grad.dtype() ||
      weight.context() != grad.context()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer update of index ", index, ": weight and gradient must have the same shape, "
        "dtype and device: ", Describe("weight", weight), " vs ", Describe("gradient", grad)));
  }
  if (weight.dtype() != DType::kFloat32 && weight.dtype() != DType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer update of index ", index, ": ", DTypeName(weight.dtype()),
        " weights are not supported; use float32 or float64"));
  }
  return absl::OkStatus();
}

// UpdateRows' checks of everything but the row ids' values.
absl::Status CheckRowArrays(int index, const NDArray& weight, const NDArray& rows,
                            const NDArray& grad_rows) {
  const std::string where = absl::StrCat("optimizer row update of index ", index, ": ");
  if (weight.is_none() || rows.is_none() || grad_rows.is_none()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "the ", weight.is_none() ? "weight" : rows.is_none() ? "row ids" : "gradient rows",
        " is an empty (none) array"));
  }
  if (weight.dtype() != DType::kFloat32 && weight.dtype() != DType::kFloat64) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, DTypeName(weight.dtype()), " weights are not supported; use float32 or float64"));
  }
  if (weight.shape().ndim() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "a 0-d weight has no rows; use Update"));
  }
  if (rows.dtype() != DType::kInt64 || rows.shape().ndim() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "row ids must be a 1-D int64 array, got ", Describe("rows", rows)));
  }
  if (!rows.context().is_cpu() && rows.context() != weight.context()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "row ids must be on the CPU or on the weight's device ",
        weight.context().ToString(), ", got ", Describe("rows", rows)));
  }
  Shape want = weight.shape();
  want[0] = rows.shape()[0];
  if (grad_rows.shape() != want || grad_rows.dtype() != weight.dtype() ||
      grad_rows.context() != weight.context()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "the gradient rows must be ", want.ToString(), " ", DTypeName(weight.dtype()),
        " on ", weight.context().ToString(), " (one row per id, the weight's dtype and device); ",
        Describe("got", grad_rows), " for ", Describe("weight", weight)));
  }
  return absl::OkStatus();
}

// Waits for `rows` and checks its ids against a weight of `n` rows; returns them as a new CPU
// array (the values checked are the values the kernel reads).
absl::StatusOr<NDArray> CheckedRowIds(int index, const NDArray& rows, int64_t n) {
  MXGRID_RETURN_IF_ERROR(rows.WaitToRead());
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> ids, rows.ToVector<int64_t>());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer row update of index ", index, ": row id ", ids[i], " (position ", i,
          ") is out of range [0, ", n, ") of the weight's rows"));
    }
    if (i > 0 && ids[i] <= ids[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer row update of index ", index, ": row ids must be strictly increasing; id ",
          ids[i], " (position ", i, ") follows ", ids[i - 1]));
    }
  }
  return NDArray::FromVector<int64_t>(Shape{static_cast<int64_t>(ids.size())}, ids);
}

// The dense gradient on the weight's device: `grad_rows` in rows `ids` (a CPU array of
// checked ids), zeros elsewhere. Built on the host.
absl::StatusOr<NDArray> DensifiedGradient(const NDArray& weight, const NDArray& ids,
                                          const NDArray& grad_rows) {
  NDArray values = grad_rows;
  if (values.context().is_gpu()) {
    MXGRID_ASSIGN_OR_RETURN(values, grad_rows.CopyTo(Context::Cpu()));
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray dense,
                          NDArray::Zeros(weight.shape(), values.context(), weight.dtype()));
  MXGRID_RETURN_IF_ERROR(tensor::ScatterRows(values, ids, dense));
  if (weight.context().is_gpu()) return dense.CopyTo(weight.context());
  return dense;
}

}  // namespace

absl::string_view OptimizerKindName(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSGD: return "sgd";
    case OptimizerKind::kNAG: return "nag";
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kRMSProp: return "rmsprop";
    case OptimizerKind::kAdaGrad: return "adagrad";
  }
  return "unknown";
}

double OptimizerOptions::EffectiveLearningRate() const {
  if (learning_rate.has_value()) return *learning_rate;
  return kind == OptimizerKind::kAdam || kind == OptimizerKind::kRMSProp ? 0.001 : 0.01;
}

absl::StatusOr<OptimizerOptions> ParseOptimizerOptions(
    absl::string_view name, const std::map<std::string, std::string>& params) {
  OptimizerOptions options;
  const std::string lower = absl::AsciiStrToLower(name);
  bool found = false;
  std::vector<std::string> known;
  for (OptimizerKind kind : kAllKinds) {
    known.emplace_back(OptimizerKindName(kind));
    if (lower == OptimizerKindName(kind)) {
      options.kind = kind;
      found = true;
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(absl::StrCat("unknown optimizer ", Quoted(name),
                                                   "; known: ", absl::StrJoin(known, ", ")));
  }
  for (const auto& [key, value] : params) {
    bool accepted = false;
    std::vector<std::string> takes;
    for (const ParamSpec& spec : kParams) {
      if ((spec.kinds & Bit(options.kind)) == 0) continue;
      takes.emplace_back(spec.name);
      accepted = accepted || key == spec.name;
    }
    if (!accepted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer ", OptimizerKindName(options.kind), " has no parameter ", Quoted(key),
          "; it takes: ", absl::StrJoin(takes, ", ")));
    }
    MXGRID_RETURN_IF_ERROR(SetParam(key, value, &options));
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(
    absl::string_view name, const std::map<std::string, std::string>& params) {
  MXGRID_ASSIGN_OR_RETURN(OptimizerOptions options, ParseOptimizerOptions(name, params));
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, Create(options));
  optimizer->params_ = params;  // name_ is already the canonical (lower-case) name
  return optimizer;
}

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const OptimizerOptions& options) {
  MXGRID_RETURN_IF_ERROR(CheckRanges(options));
  return std::unique_ptr<Optimizer>(new Optimizer(options));  // private constructor
}

Optimizer::Optimizer(const OptimizerOptions& options)
    : options_(options),
      name_(OptimizerKindName(options.kind)),
      learning_rate_(options.EffectiveLearningRate()) {}

Optimizer::~Optimizer() = default;

double Optimizer::learning_rate() const {
  base::MutexLock lock(&mu_);
  return learning_rate_;
}

void Optimizer::set_learning_rate(double lr) {
  MXGRID_CHECK(std::isfinite(lr) && lr >= 0) << "set_learning_rate(" << lr << ")";
  base::MutexLock lock(&mu_);
  learning_rate_ = lr;
}

void Optimizer::SetLrMult(int index, double mult) {
  base::MutexLock lock(&mu_);
  lr_mult_[index] = mult;
}

void Optimizer::SetWdMult(int index, double mult) {
  base::MutexLock lock(&mu_);
  wd_mult_[index] = mult;
}

int64_t Optimizer::UpdateCount(int index) const {
  base::MutexLock lock(&mu_);
  auto it = states_.find(index);
  return it == states_.end() ? options_.begin_num_update : it->second.count;
}

absl::StatusOr<Optimizer::State*> Optimizer::GetOrCreateState(int index,
                                                              const NDArray& weight) {
  auto it = states_.find(index);
  if (it != states_.end()) {
    const std::vector<NDArray>& arrays = it->second.arrays;
    if (!arrays.empty() &&
        (arrays[0].shape() != weight.shape() || arrays[0].dtype() != weight.dtype())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer update of index ", index, ": its state was created for ",
          arrays[0].shape().ToString(), " ", DTypeName(arrays[0].dtype()), " weights, got ",
          Describe("weight", weight)));
    }
    return &it->second;
  }
  State state;
  state.count = options_.begin_num_update;
  for (size_t i = 0; i < StateArrays(options_); ++i) {
    MXGRID_ASSIGN_OR_RETURN(NDArray zeros,
                            NDArray::Zeros(weight.shape(), weight.context(), weight.dtype()));
    state.arrays.push_back(std::move(zeros));
  }
  return &states_.emplace(index, std::move(state)).first->second;
}

absl::Status Optimizer::Update(int index, const NDArray& weight, const NDArray& grad) {
  MXGRID_RETURN_IF_ERROR(CheckArrays(index, weight, grad));
  // Held across the push so that pushes of one index follow its update counts.
  base::MutexLock lock(&mu_);
  MXGRID_ASSIGN_OR_RETURN(State * state, GetOrCreateState(index, weight));
  const int64_t t = ++state->count;
  const Step step = MakeStep(index, t);
  if (weight.context().is_gpu()) {
    if (options_.kind == OptimizerKind::kSGD) {
      return PushGpuSgd(step, weight, grad, state->arrays);
    }
    return PushStaged(options_.kind, step, weight, grad, state->arrays);
  }
  PushCpu(options_.kind, step, weight, grad, state->arrays);
  return absl::OkStatus();
}

Step Optimizer::MakeStep(int index, int64_t t) const {
  const OptimizerOptions& o = options_;
  auto lr_mult = lr_mult_.find(index);
  auto wd_mult = wd_mult_.find(index);
  Step step{};
  step.lr = learning_rate_ * (lr_mult == lr_mult_.end() ? 1.0 : lr_mult->second);
  step.wd = o.wd * (wd_mult == wd_mult_.end() ? 1.0 : wd_mult->second);
  step.rescale_grad = o.rescale_grad;
  // MXNet passes clip_gradient / clip_weights to the operators only when truthy.
  step.clip_gradient = o.clip_gradient.value_or(0.0) != 0.0 ? *o.clip_gradient : -1.0;
  // AdaGrad's Python update clips to [-c, c] for any c that is not None (0 zeroes the
  // gradient, as in MXNet); a negative c means no clipping, as for the operators (MXNet would
  // call clip(grad, |c|, -|c|), which sets every element to -|c|).
  if (o.clip_gradient.value_or(-1.0) >= 0) step.adagrad_clip = o.clip_gradient;
  step.momentum = o.momentum > 0 ? o.momentum : 0.0;
  step.beta1 = o.beta1;
  step.beta2 = o.beta2;
  step.epsilon = o.epsilon;
  step.gamma1 = o.gamma1;
  step.gamma2 = o.gamma2;
  step.clip_weights = o.clip_weights.value_or(0.0) != 0.0 ? *o.clip_weights : -1.0;
  step.eps = o.eps;
  if (o.kind == OptimizerKind::kAdam) {
    // Adam.update: lr *= sqrt(1 - beta2^t) / (1 - beta1^t), in Python doubles.
    const double coef1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));
    const double coef2 = 1.0 - std::pow(o.beta2, static_cast<double>(t));
    step.lr *= std::sqrt(coef2) / coef1;
  }
  return step;
}

absl::Status Optimizer::UpdateRows(int index, const NDArray& weight, const NDArray& rows,
                                   const NDArray& grad_rows) {
  MXGRID_RETURN_IF_ERROR(CheckRowArrays(index, weight, rows, grad_rows));
  // Outside the lock: waits for the work that writes `rows`.
  MXGRID_ASSIGN_OR_RETURN(NDArray ids, CheckedRowIds(index, rows, weight.shape()[0]));
  if (!RowsOnly(options_)) {
    // MXNet's standard update (sgd, adam) and storage fallback (nag, rmsprop).
    MXGRID_ASSIGN_OR_RETURN(NDArray grad, DensifiedGradient(weight, ids, grad_rows));
    return Update(index, weight, grad);
  }
  // Held across the push, as in Update.
  base::MutexLock lock(&mu_);
  Step step{};
  MXGRID_ASSIGN_OR_RETURN(State * state, BeginRowsUpdate(index, weight, &step));
  if (ids.size() == 0) return absl::OkStatus();  // no rows: nothing else moves
  if (weight.context().is_gpu()) {
    return PushRowsStaged(step, weight, ids, grad_rows, state->arrays);
  }
  PushRowsCpu(step, weight, ids, grad_rows, state->arrays);
  return absl::OkStatus();
}

absl::StatusOr<Optimizer::State*> Optimizer::BeginRowsUpdate(int index, const NDArray& weight,
                                                              Step* step) {
  auto it = states_.find(index);
  const int64_t t = (it == states_.end() ? options_.begin_num_update : it->second.count) + 1;
  *step = MakeStep(index, t);
  MXGRID_RETURN_IF_ERROR(internal::CheckRowsWeightDecay(options_, *step, index));
  MXGRID_ASSIGN_OR_RETURN(State * state, GetOrCreateState(index, weight));
  state->count = t;
  return state;
}

void Optimizer::PushRowsCpu(const Step& step, const NDArray& weight, const NDArray& ids,
                            const NDArray& grad_rows, const std::vector<NDArray>& arrays) const {
  const OptimizerKind kind = options_.kind;
  std::vector<engine::VarHandle> writes = {weight.var()};
  for (const NDArray& a : arrays) writes.push_back(a.var());
  const engine::VarHandle reads[] = {grad_rows.var(), ids.var()};
  engine::PushOptions push_options;
  push_options.name = RowsKernelName(options_);
  // The closure holds the arrays so that their storage outlives the kernel.
  engine::Get()->PushSync(
      [kind, step, weight, ids, grad_rows, arrays](const engine::RunContext&) {
        if (weight.dtype() == DType::kFloat32) {
          RunRowsKernel<float>(kind, step, weight, ids, grad_rows, arrays);
        } else {
          RunRowsKernel<double>(kind, step, weight, ids, grad_rows, arrays);
        }
        return absl::OkStatus();
      },
      weight.context(), reads, writes, push_options);
}

absl::Status Optimizer::PushRowsStaged(const Step& step, const NDArray& weight,
                                       const NDArray& ids, const NDArray& grad_rows,
                                       const std::vector<NDArray>& arrays) const {
  // As PushStaged: whole-array copies, each an engine operation ordered by the variables.
  MXGRID_ASSIGN_OR_RETURN(NDArray w, weight.CopyTo(Context::Cpu()));
  MXGRID_ASSIGN_OR_RETURN(NDArray g, grad_rows.CopyTo(Context::Cpu()));
  std::vector<NDArray> host;
  for (const NDArray& a : arrays) {
    MXGRID_ASSIGN_OR_RETURN(NDArray h, a.CopyTo(Context::Cpu()));
    host.push_back(std::move(h));
  }
  PushRowsCpu(step, w, ids, g, host);
  MXGRID_RETURN_IF_ERROR(w.CopyTo(weight));
  for (size_t i = 0; i < arrays.size(); ++i) MXGRID_RETURN_IF_ERROR(host[i].CopyTo(arrays[i]));
  return absl::OkStatus();
}

void Optimizer::PushCpu(OptimizerKind kind, const Step& step, const NDArray& weight,
                        const NDArray& grad, const std::vector<NDArray>& arrays) const {
  std::vector<engine::VarHandle> writes = {weight.var()};
  for (const NDArray& a : arrays) writes.push_back(a.var());
  const engine::VarHandle reads[] = {grad.var()};
  engine::PushOptions push_options;
  push_options.name = KernelName(options_);
  // The closure holds the arrays (not raw pointers) so their storage outlives the kernel.
  engine::Get()->PushSync(
      [kind, step, weight, grad, arrays](const engine::RunContext&) {
        if (weight.dtype() == DType::kFloat32) {
          RunKernel<float>(kind, step, weight, grad, arrays);
        } else {
          RunKernel<double>(kind, step, weight, grad, arrays);
        }
        return absl::OkStatus();
      },
      weight.context(), reads, writes, push_options);
}

absl::Status Optimizer::PushStaged(OptimizerKind kind, const Step& step, const NDArray& weight,
                                   const NDArray& grad, const std::vector<NDArray>& arrays) const {
  // Every copy and the kernel are engine operations ordered by the arrays' variables.
  MXGRID_ASSIGN_OR_RETURN(NDArray w, weight.CopyTo(Context::Cpu()));
  MXGRID_ASSIGN_OR_RETURN(NDArray g, grad.CopyTo(Context::Cpu()));
  std::vector<NDArray> host;
  for (const NDArray& a : arrays) {
    MXGRID_ASSIGN_OR_RETURN(NDArray h, a.CopyTo(Context::Cpu()));
    host.push_back(std::move(h));
  }
  PushCpu(kind, step, w, g, host);
  MXGRID_RETURN_IF_ERROR(w.CopyTo(weight));
  for (size_t i = 0; i < arrays.size(); ++i) MXGRID_RETURN_IF_ERROR(host[i].CopyTo(arrays[i]));
  return absl::OkStatus();
}

absl::Status Optimizer::PushGpuSgd(const Step& step, const NDArray& weight, const NDArray& grad,
                                   const std::vector<NDArray>& arrays) const {
  // SGD's CPU kernel is MXNet's multi_sgd(_mom)_update; the registry's CUDA kernel of that
  // operator computes the same rule.
  const bool mom = !arrays.empty();
  MXGRID_ASSIGN_OR_RETURN(
      ops::ParsedOp parsed,
      ops::GlobalRegistry().Parse(
          mom ? "multi_sgd_mom_update" : "multi_sgd_update",
          {{"lrs", absl::StrFormat("(%.17g,)", step.lr)},
           {"wds", absl::StrFormat("(%.17g,)", step.wd)},
           {"momentum", absl::StrFormat("%.17g", step.momentum)},
           {"rescale_grad", absl::StrFormat("%.17g", step.rescale_grad)},
           {"clip_gradient", absl::StrFormat("%.17g", step.clip_gradient)},
           {"num_weights", "1"}}));
  auto op = std::make_shared<const ops::ParsedOp>(std::move(parsed));
  std::vector<engine::VarHandle> writes = {weight.var()};
  for (const NDArray& a : arrays) writes.push_back(a.var());
  const engine::VarHandle reads[] = {grad.var()};
  engine::PushOptions push_options;
  push_options.name = KernelName(options_);
  engine::Get()->PushSync(
      [op, weight, grad, arrays](const engine::RunContext&) {
        auto view = [](const NDArray& a) {
          return ops::TensorView{a.data(), a.shape(), a.dtype(), a.context()};
        };
        std::vector<ops::TensorView> in = {view(weight), view(grad)};
        for (const NDArray& a : arrays) in.push_back(view(a));
        const ops::TensorView out[] = {view(weight)};
        const ops::OpReq reqs[] = {ops::OpReq::kWriteInplace};
        ops::OpContext ctx{false, weight.context(), nullptr};
        return op->Forward(ctx, in, reqs, out);
      },
      weight.context(), reads, writes, push_options);
  return absl::OkStatus();
}

}  // namespace mxgrid::kvstore

namespace mxgrid::kvstore {

size_t Optimizer::NumStateArrays() const { return StateArrays(options_); }

absl::StatusOr<std::vector<OptimizerIndexState>> Optimizer::ExportStates() const {
  std::vector<OptimizerIndexState> out;
  {
    // The copies are pushed under the lock, so the engine orders them after every update
    // pushed before (Update pushes under the same lock); they are waited for outside it.
    base::MutexLock lock(&mu_);
    out.reserve(states_.size());
    for (const auto& [index, state] : states_) {
      OptimizerIndexState copy;
      copy.index = index;
      copy.update_count = state.count;
      for (const NDArray& a : state.arrays) {
        MXGRID_ASSIGN_OR_RETURN(NDArray c, NDArray::Empty(a.shape(), Context::Cpu(), a.dtype()));
        MXGRID_RETURN_IF_ERROR(a.CopyTo(c));
        copy.arrays.push_back(std::move(c));
      }
      out.push_back(std::move(copy));
    }
  }
  for (const OptimizerIndexState& s : out) {
    for (const NDArray& a : s.arrays) MXGRID_RETURN_IF_ERROR(a.WaitToRead());
  }
  return out;
}

absl::Status Optimizer::ImportState(const OptimizerIndexState& state, const Shape& weight_shape,
                                    DType weight_dtype) {
  const size_t want = StateArrays(options_);
  if (state.arrays.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer state of index ", state.index, ": ", name_, " keeps ", want,
        " state array(s) per weight, got ", state.arrays.size()));
  }
  if (state.update_count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("optimizer state of index ", state.index,
                                                   ": update count ", state.update_count,
                                                   " is negative"));
  }
  State fresh;
  fresh.count = state.update_count;
  for (size_t i = 0; i < want; ++i) {
    const NDArray& a = state.arrays[i];
    if (a.is_none()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "optimizer state of index ", state.index, ": array ", i, " is a none array"));
    }
    if (a.shape() != weight_shape || a.dtype() != weight_dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer state of index ", state.index, ": array ", i, " is ", a.shape().ToString(),
          " ", DTypeName(a.dtype()), " but the weight is ", weight_shape.ToString(), " ",
          DTypeName(weight_dtype)));
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray copy, NDArray::Empty(weight_shape, Context::Cpu(),
                                                         weight_dtype));
    MXGRID_RETURN_IF_ERROR(a.CopyTo(copy));
    fresh.arrays.push_back(std::move(copy));
  }
  base::MutexLock lock(&mu_);
  states_[state.index] = std::move(fresh);
  return absl::OkStatus();
}

absl::Status KeyMultipliers::Validate() const {
  for (const auto* m : {&lr, &wd}) {
    for (const auto& [key, mult] : *m) {
      if (!std::isfinite(mult) || mult < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            m == &lr ? "lr_mult" : "wd_mult", " of key ", Quoted(key), " is ", mult,
            "; a multiplier must be finite and >= 0"));
      }
    }
  }
  return absl::OkStatus();
}

void KeyMultipliers::ApplyTo(Optimizer* optimizer, int index, const std::string& key) const {
  auto l = lr.find(key);
  auto w = wd.find(key);
  optimizer->SetLrMult(index, l == lr.end() ? 1.0 : l->second);
  optimizer->SetWdMult(index, w == wd.end() ? 1.0 : w->second);
}

}  // namespace mxgrid::kvstore
