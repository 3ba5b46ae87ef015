// Optimizer: MXNet 1.9.1's training optimizers (mx.optimizer.create + get_updater) — SGD, NAG,
// Adam, RMSProp and AdaGrad — applying each update as one fused kernel on the dependency
// engine.
//
//   MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> opt,
//                           Optimizer::Create("sgd", {{"learning_rate", "0.1"},
//                                                     {"momentum", "0.9"}, {"wd", "1e-4"}}));
//   MXGRID_RETURN_IF_ERROR(opt->Update(/*index=*/0, weight, grad));   // returns at once
//   MXGRID_RETURN_IF_ERROR(weight.WaitToRead());                       // weight is updated
//   // A row_sparse gradient: rows 2 and 7 of `weight` (and of the momentum) move.
//   MXGRID_RETURN_IF_ERROR(opt->UpdateRows(/*index=*/1, embedding, row_ids, grad_rows));
//
// As in MXNet's Updater, each parameter index has its own optimizer state (momentum, Adam's
// mean and variance, ...), created as zeros of the weight's shape on first use, and its own
// update count (Adam's bias correction uses the index's count t, starting at
// begin_num_update + 1). The update formulas are MXNet's operators (sgd_mom_update,
// multi_sgd_update, nag_mom_update, adam_update, rmsprop_update, rmspropalex_update) and the
// Python AdaGrad dense update; hyperparameters are rounded to float32 before use, as MXNet's
// operator parameters are floats. Row_sparse gradients (UpdateRows) follow MXNet's
// row_sparse kernels and lazy_update.
//
// Deliberate differences from MXNet: hyperparameters are range-checked (see
// OptimizerOptions; MXNet accepts e.g. a negative learning rate or beta1 = 1.5 and silently
// trains garbage); float32 and float64 only (no float16 / multi_precision
// master copies); RMSProp and AdaGrad keep their state in the weight's dtype (MXNet creates
// float32 state and so cannot update float64 weights with them); dense weights and states
// (gradients dense, or row_sparse through UpdateRows); on GPU arrays, SGD's dense update runs
// its CUDA kernel and every other update runs the CPU kernel on host copies; no lr_scheduler.
//
// Thread-safety: every method is thread-safe. Updates of one index from several threads run
// in the order their Update (or UpdateRows) calls took the optimizer's lock.
#ifndef MXGRID_LIBS_KVSTORE_OPTIMIZER_H_
#define MXGRID_LIBS_KVSTORE_OPTIMIZER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/part_rows.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore {

class Optimizer;
namespace internal {
struct Step;
}  // namespace internal

// Per-key learning-rate and weight-decay multipliers, by key as the client names it
// (MXNet's lr_mult / wd_mult resolved per kvstore key by the client: set_lr_mult,
// set_wd_mult, the symbol's __lr_mult__ / __wd_mult__, and a Module's wd_mult 0 for
// parameters not named *_weight or *_gamma). A key not named has multiplier 1.
struct KeyMultipliers {
  std::map<std::string, double> lr;
  std::map<std::string, double> wd;

  bool empty() const { return lr.empty() && wd.empty(); }
  bool operator==(const KeyMultipliers& o) const { return lr == o.lr && wd == o.wd; }
  bool operator!=(const KeyMultipliers& o) const { return !(*this == o); }
  // InvalidArgument naming the key for a multiplier that is not finite or is negative.
  absl::Status Validate() const;
  // Sets `key`'s multipliers (1 where not named) as those of optimizer index `index`.
  void ApplyTo(Optimizer* optimizer, int index, const std::string& key) const;
};

enum class OptimizerKind { kSGD, kNAG, kAdam, kRMSProp, kAdaGrad };

// One parameter index's optimizer state, as Optimizer::ExportStates copies it out and
// Optimizer::ImportState puts it back (save_optimizer_states / load_optimizer_states,
// snapshots).
struct OptimizerIndexState {
  int index = 0;
  int64_t update_count = 0;           // MXNet's _index_update_count of the index
  std::vector<tensor::NDArray> arrays;  // in the optimizer's order (see NumStateArrays)
};

// "sgd", "nag", "adam", "rmsprop", "adagrad": the names mx.optimizer.create accepts.
absl::string_view OptimizerKindName(OptimizerKind kind);

// Every hyperparameter, with MXNet 1.9.1's Python defaults and the range Create accepts
// (InvalidArgument, naming the parameter and its range, outside it). Fields that an optimizer
// does not use are ignored by it and not checked (Create refuses them by name).
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kSGD;

  // ---- all optimizers (mx.optimizer.Optimizer) ----
  // Unset: 0.01 for sgd, nag and adagrad; 0.001 for adam and rmsprop. Finite, >= 0.
  std::optional<double> learning_rate;
  double wd = 0.0;            // L2 weight decay coefficient; finite, >= 0
  double rescale_grad = 1.0;  // gradients are multiplied by this first (often 1/batch_size);
                              // finite
  // Unset: no clipping. Finite when set. A negative value means none (the operators' off
  // switch; MXNet's Python AdaGrad would clip to the empty range [|c|, -|c|] instead). For
  // sgd, nag, adam and rmsprop, 0 also means none (MXNet passes only a truthy value to the
  // operator); adagrad clips to [-c, c] for any set c >= 0, as its Python update does.
  std::optional<double> clip_gradient;
  int64_t begin_num_update = 0;  // update count each index starts from; >= 0

  // ---- sgd, nag ----
  double momentum = 0.0;  // in [0, 1); 0: plain SGD, no state

  // ---- sgd, adam ----
  // For UpdateRows (row_sparse gradients): true moves only the gradient's rows of the weight
  // and of the state (MXNet's lazy update); false applies the dense update with the gradient
  // densified (MXNet's standard update). No effect on Update.
  bool lazy_update = true;

  // ---- adam ----
  double beta1 = 0.9;    // in [0, 1)
  double beta2 = 0.999;  // in [0, 1)

  // ---- adam, rmsprop ----
  double epsilon = 1e-8;  // finite, > 0

  // ---- rmsprop ----
  double gamma1 = 0.9;    // decay of the squared-gradient average; in [0, 1)
  double gamma2 = 0.9;    // "momentum" of the centered (Graves) variant; in [0, 1)
  bool centered = false;  // false: Tieleman & Hinton; true: Graves 2013 (Eq. 38-45)
  // Clip weights to [-c, c]; unset, 0 or negative: none. Finite when set.
  std::optional<double> clip_weights;

  // ---- adagrad ----
  // MXNet's AdaGrad(eps=...): added to the history inside the sqrt; finite, > 0.
  double eps = 1e-7;

  // The learning rate in effect (learning_rate or the optimizer's default).
  double EffectiveLearningRate() const;
};

// Parses mx.optimizer.create's arguments: `name` case-insensitively, `params` as the Python
// kwargs written as strings ("0.1", "True", "None"). Besides the fields above it accepts
// multi_precision (no effect on float32/float64). InvalidArgument, naming it, for an unknown
// optimizer, a parameter the optimizer does not take, or a malformed value (ranges are
// Create's to check).
absl::StatusOr<OptimizerOptions> ParseOptimizerOptions(
    absl::string_view name, const std::map<std::string, std::string>& params);

class Optimizer {
 public:
  // Create(ParseOptimizerOptions(name, params)): the one path of the worker's
  // SetExecutorOptimizer and of every Store::SetOptimizer.
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(
      absl::string_view name, const std::map<std::string, std::string>& params);
  // InvalidArgument, naming the parameter and its range, for a value outside the range
  // OptimizerOptions documents.
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(const OptimizerOptions& options);

  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  ~Optimizer();

  // Applies one update to `weight` with `grad` for parameter `index` (MXNet's
  // updater(index, grad, weight)). Asynchronous: the kernel is pushed to the engine reading
  // `grad` and writing `weight` and the index's state; read `weight` to wait. `weight` and
  // `grad` need the same shape, dtype (float32 or float64) and device, and the weight's
  // shape and dtype must match those the index's state was created with: InvalidArgument
  // otherwise; FailedPrecondition for a none array. A failed call changes nothing (neither
  // state nor update count).
  absl::Status Update(int index, const tensor::NDArray& weight, const tensor::NDArray& grad);

  // Applies a row_sparse gradient (MXNet's updater(index, grad, weight) with grad.stype ==
  // 'row_sparse'): `rows` int64 (k,) row ids, strictly increasing, in [0, weight.shape[0]);
  // `grad_rows` (k, weight.shape[1:]) those rows' gradient (weight's dtype and device; rows
  // on the CPU or weight's device). Every other row's gradient is zero.
  // - sgd (with or without momentum) and adam with lazy_update, and adagrad: only those k
  //   rows of the weight and of the state arrays change, by MXNet's row_sparse kernels
  //   (sgd_update, sgd_mom_update, adam_update with lazy_update=True; _sparse_adagrad_update):
  //   the dense formulas restricted to those rows (weight decay too). Other rows: weight and
  //   state untouched.
  // - nag, rmsprop, and sgd / adam with lazy_update=false: Update with the gradient densified
  //   (zeros in the other rows; MXNet's standard update and storage fallback): every row moves.
  // As Update: the index's update count increments once per call (also for k == 0; Adam's
  // bias correction uses it), the index's lr_mult / wd_mult apply, and the index's state is
  // created (zeros of the weight's shape) on first use. Waits for `rows` (the ids are checked
  // on the host), then returns with the update pushed to the engine (reading grad_rows,
  // writing weight and state); read `weight` to wait.
  // Errors, after which nothing has changed (neither state nor update count):
  // FailedPrecondition for a none array; InvalidArgument for rows not int64 1-D, grad_rows
  // not (k, weight.shape[1:]) or of another dtype or device, rows on a GPU not the weight's,
  // a weight not float32/float64 or 0-d, a weight whose shape or dtype differs from the
  // index's state, a row id out of range or not strictly increasing (naming the first), and
  // adagrad with wd * wd_mult != 0 (MXNet's _sparse_adagrad_update has no weight decay); the
  // error of a failed operation that wrote `rows`.
  absl::Status UpdateRows(int index, const tensor::NDArray& weight, const tensor::NDArray& rows,
                          const tensor::NDArray& grad_rows);

  // UpdateRows on pieces of the flattened weight (a parameter-server part holds rows cut at
  // its ends; part_rows.h): `pieces` are element ranges of `weight`, increasing and
  // disjoint; `grad` (1-D, the weight's dtype) their gradients concatenated; every other
  // element's gradient is zero. The same updates as UpdateRows, element by element (lazy:
  // only the pieces' elements of the weight and state move; otherwise the dense update),
  // the same count, multipliers and state. CPU arrays only. Errors, after which nothing has
  // changed: FailedPrecondition for a none array; InvalidArgument for a weight not
  // float32/float64 or not on the CPU, pieces outside the weight, overlapping or out of
  // order, a gradient not of their total length and the weight's dtype on the CPU,
  // adagrad's weight decay (as UpdateRows).
  absl::Status UpdatePieces(int index, const tensor::NDArray& weight,
                            std::vector<RowPiece> pieces, const tensor::NDArray& grad);

  OptimizerKind kind() const { return options_.kind; }

  // The name and parameters it was created from: Create(name, params)'s, lower-cased name;
  // Create(options) gives OptimizerKindName(kind) and no parameters. For SetOptimizer's
  // equal-config check and for snapshots.
  absl::string_view name() const { return name_; }
  const std::map<std::string, std::string>& params() const { return params_; }

  // How many state arrays it keeps per index (sgd/nag: 1 with momentum, else 0; adam: 2;
  // rmsprop: 1, centered 3; adagrad: 1), each of the weight's shape and dtype.
  size_t NumStateArrays() const;

  // Copies of every index's state (CPU arrays, waited for: the copies are ordered after
  // every update pushed before the call), in index order. An index appears once an update
  // (or ImportState) created its state. Errors: the failure of an update that wrote a state.
  absl::StatusOr<std::vector<OptimizerIndexState>> ExportStates() const;

  // Replaces one index's state (arrays copied; update count set). InvalidArgument when the
  // arrays' count, shape or dtype differ from what this optimizer keeps for a weight of
  // `weight_shape` / `weight_dtype`, or update_count < 0; FailedPrecondition for a none
  // array.
  absl::Status ImportState(const OptimizerIndexState& state, const Shape& weight_shape,
                           DType weight_dtype);

  // The base learning rate, used by updates pushed afterwards (MXNet's set_learning_rate).
  // REQUIRES: lr finite and >= 0 (as Create checks).
  double learning_rate() const;
  void set_learning_rate(double lr);

  // Per-index multipliers of the learning rate and weight decay (MXNet's set_lr_mult and
  // set_wd_mult keyed by index; 1 when never set). E.g. wd_mult 0 for biases.
  void SetLrMult(int index, double mult);
  void SetWdMult(int index, double mult);

  // Updates applied to `index` so far plus begin_num_update (MXNet's _index_update_count).
  int64_t UpdateCount(int index) const;

 private:
  // Per-index state: up to three arrays (momentum; mean, var; n, g, delta; history).
  struct State {
    std::vector<tensor::NDArray> arrays;
    int64_t count = 0;
  };

  explicit Optimizer(const OptimizerOptions& options);

  // Pushes one update: the CPU kernel on CPU arrays; on GPU arrays, SGD's CUDA kernel
  // (multi_sgd(_mom)_update from the operator registry) or, for the other kinds, the CPU
  // kernel on host copies of the arrays (every copy an engine operation).
  void PushCpu(OptimizerKind kind, const internal::Step& step, const tensor::NDArray& weight,
               const tensor::NDArray& grad, const std::vector<tensor::NDArray>& arrays) const;
  absl::Status PushStaged(OptimizerKind kind, const internal::Step& step,
                          const tensor::NDArray& weight, const tensor::NDArray& grad,
                          const std::vector<tensor::NDArray>& arrays) const;
  absl::Status PushGpuSgd(const internal::Step& step, const tensor::NDArray& weight,
                          const tensor::NDArray& grad,
                          const std::vector<tensor::NDArray>& arrays) const;

  // UpdateRows' lazy kernels (sgd, adam, adagrad) on the rows `ids` (a CPU int64 array of
  // checked row ids): on CPU arrays, or on host copies of GPU arrays.
  void PushRowsCpu(const internal::Step& step, const tensor::NDArray& weight,
                   const tensor::NDArray& ids, const tensor::NDArray& grad_rows,
                   const std::vector<tensor::NDArray>& arrays) const;
  // Checks for UpdatePieces (the arrays and the pieces).
  static absl::Status CheckPieces(int index, const tensor::NDArray& weight,
                                  const std::vector<RowPiece>& pieces,
                                  const tensor::NDArray& grad);
  absl::Status PushRowsStaged(const internal::Step& step, const tensor::NDArray& weight,
                              const tensor::NDArray& ids, const tensor::NDArray& grad_rows,
                              const std::vector<tensor::NDArray>& arrays) const;

  // The hyperparameters of `index`'s update number t (its lr_mult and wd_mult applied;
  // Adam's learning rate bias-corrected for t).
  internal::Step MakeStep(int index, int64_t t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // A lazy row (or piece) update's start: the step of the index's next update count, the
  // adagrad weight-decay refusal, the state (created on first use) with its count advanced.
  absl::StatusOr<State*> BeginRowsUpdate(int index, const tensor::NDArray& weight,
                                         internal::Step* step)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The index's state, created on first use (pushing the zero fills).
  absl::StatusOr<State*> GetOrCreateState(int index, const tensor::NDArray& weight)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OptimizerOptions options_;  // learning_rate lives in learning_rate_
  std::string name_;                         // set by Create, then constant
  std::map<std::string, std::string> params_;  // set by Create, then constant
  mutable base::Mutex mu_;
  double learning_rate_ ABSL_GUARDED_BY(mu_);
  std::map<int, double> lr_mult_ ABSL_GUARDED_BY(mu_);
  std::map<int, double> wd_mult_ ABSL_GUARDED_BY(mu_);
  std::map<int, State> states_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_OPTIMIZER_H_
