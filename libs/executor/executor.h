// Executor: a Symbol bound to arrays, run on the dependency engine (MXNet's GraphExecutor).
//
//   MXGRID_ASSIGN_OR_RETURN(auto exec, Executor::SimpleBind(net, Context::Cpu(),
//       {{"data", Shape{128, 784}}, {"softmax_label", Shape{128}}}, GradReq::kWrite));
//   MXGRID_RETURN_IF_ERROR(exec->Forward(/*is_train=*/true, {{"data", batch}}));
//   MXGRID_RETURN_IF_ERROR(exec->Backward());     // loss heads need no head gradient
//   exec->grad_dict().at("fc1_weight");          // gradients, as MXNet's grad_dict
//
// Bind makes a graph::Plan (shapes, gradient graph, memory plan) and allocates every
// intermediate array from it at once: arrays whose lifetimes do not overlap share a block.
// Forward and Backward push one engine operation per step, so independent branches run in
// parallel; they return at once and reading an output (or gradient) waits, as in MXNet.
// Errors inside an operation surface at the next read of what it wrote.
//
// Thread-safety: thread-compatible — calls on one Executor must not overlap, nor with an
// executor made from it by Reshape (they share memory). The arrays it hands out follow
// NDArray's rules.
#ifndef MXGRID_LIBS_EXECUTOR_EXECUTOR_H_
#define MXGRID_LIBS_EXECUTOR_EXECUTOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/context.h"
#include "libs/graph/plan.h"
#include "libs/executor/random_source.h"
#include "libs/graph/symbol.h"
#include "libs/ops/op.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::executor {

using tensor::NDArray;

namespace internal {
struct StepData;  // what one plan step needs each time it runs (executor.cc)
}  // namespace internal

// One operator output a monitored run copied (what MXNet's monitor callback receives).
struct MonitoredArray {
  // MXNet's names: "<node>_<output>" ("fc1_output") for a forward output;
  // "<node>_backward_output" for the input gradient of a one-input node and
  // "<node>_backward_output<i>" for input i's otherwise.
  std::string name;
  // A new array with the value the operator wrote; zeros for a gradient nobody requested
  // (MXNet shows whatever its buffer held).
  NDArray value;
};

// MXNet's grad_req values ('null', 'write', 'add').
enum class GradReq { kNull, kWrite, kAdd };
// "null" / "write" / "add"; InvalidArgument otherwise.
absl::StatusOr<GradReq> ParseGradReq(absl::string_view text);
// The operator request a gradient is written with (null, write-to, add-to).
ops::OpReq ToOpReq(GradReq req);

class Executor {
 public:
  // sym.bind: `args` in list_arguments() order; `arg_grads` the same length or empty (a none
  // array means no gradient for that argument, whatever its request); `grad_reqs` one per
  // argument or a single one for all (empty: write); `aux` in list_auxiliary_states() order.
  // InvalidArgument for a missing, none or mis-shaped array, naming it.
  static absl::StatusOr<std::unique_ptr<Executor>> Bind(const graph::Symbol& symbol,
                                                        Context ctx, std::vector<NDArray> args,
                                                        std::vector<NDArray> arg_grads,
                                                        std::vector<GradReq> grad_reqs,
                                                        std::vector<NDArray> aux);

  // Bind with a plan made elsewhere (the compiler service; rpc::FromProto has validated it
  // against its graph). Arrays as for Bind; each must have the shape and dtype the plan
  // gives, and exactly the arguments the plan computes gradients for need a gradient array
  // (with request write or add, matching the plan). InvalidArgument otherwise.
  static absl::StatusOr<std::unique_ptr<Executor>> BindPlan(graph::Plan plan, Context ctx,
                                                            std::vector<NDArray> args,
                                                            std::vector<NDArray> arg_grads,
                                                            std::vector<NDArray> aux);

  // simple_bind with a plan made elsewhere: allocates zero-filled arguments, the gradients
  // the plan computes and auxiliary states with the plan's shapes and dtypes, then BindPlan.
  static absl::StatusOr<std::unique_ptr<Executor>> SimpleBindPlan(graph::Plan plan, Context ctx);

  // sym.simple_bind: allocates zero-filled arguments, gradients (for requests other than
  // null) and auxiliary states from the given input shapes and dtypes (float32 otherwise).
  // `grad_reqs` by argument name overrides `grad_req` for the names it has.
  static absl::StatusOr<std::unique_ptr<Executor>> SimpleBind(
      const graph::Symbol& symbol, Context ctx, const std::map<std::string, Shape>& shapes,
      GradReq grad_req = GradReq::kWrite, const std::map<std::string, GradReq>& grad_reqs = {},
      const std::map<std::string, DType>& dtypes = {});

  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  // Copies `inputs` (by argument name; shapes must match) into the arguments, then runs the
  // forward steps. is_train selects training behaviour (Dropout, BatchNorm batch stats).
  // With `monitored`, every operator's outputs are also copied right after it runs
  // (Executor.set_monitor_callback): appended in execution order. Gradient sums and zero
  // fills of the backward pass are not operators of the graph and are not reported.
  absl::Status Forward(bool is_train, const std::map<std::string, NDArray>& inputs = {},
                       std::vector<MonitoredArray>* monitored = nullptr);
  // Runs the gradient steps. `out_grads`: one per output in list_outputs() order, required
  // for outputs not produced by a loss operator (none arrays allowed for loss outputs).
  // FailedPrecondition when no gradient was requested at bind.
  absl::Status Backward(const std::vector<NDArray>& out_grads = {},
                        std::vector<MonitoredArray>* monitored = nullptr);

  // A new executor for new input shapes sharing this one's memory (MXNet's reshape):
  // arrays that shrink become views; growth needs allow_up_sizing; arguments not named whose
  // shape changes need partial_shaping. InvalidArgument otherwise.
  absl::StatusOr<std::unique_ptr<Executor>> Reshape(const std::map<std::string, Shape>& shapes,
                                                    bool partial_shaping = false,
                                                    bool allow_up_sizing = false) const;

  const graph::Symbol& symbol() const { return symbol_; }
  const graph::Plan& plan() const { return plan_; }
  Context context() const { return ctx_; }
  // Overwritten by each Forward, in list_outputs() order.
  const std::vector<NDArray>& outputs() const { return outputs_; }
  const std::vector<NDArray>& arg_arrays() const { return args_; }
  // None arrays for arguments without gradient.
  const std::vector<NDArray>& grad_arrays() const { return grads_; }
  const std::vector<NDArray>& aux_arrays() const { return aux_; }
  const std::vector<GradReq>& grad_reqs() const { return reqs_; }
  std::map<std::string, NDArray> arg_dict() const;
  std::map<std::string, NDArray> grad_dict() const;  // arguments with a gradient only
  std::map<std::string, NDArray> aux_dict() const;
  std::map<std::string, NDArray> output_dict() const;

  // Where forward steps of random operators (Dropout, samplers) draw their per-run seeds,
  // when Forward pushes them: a session's generators (shared with its other executors and
  // imperative calls). Null (the default): RandomSource::Default(). Reshape keeps it.
  void set_random_source(std::shared_ptr<RandomSource> random) { random_ = std::move(random); }

  // Bytes of the planned intermediate blocks (excluding bound arrays).
  int64_t planned_bytes() const { return plan_.planned_bytes(); }

 private:
  Executor(graph::Symbol symbol, Context ctx);

  // The one way every bind ends: an executor for `plan` (of whose graph it runs) over arrays
  // already checked against it; blocks reuse `reuse` where large enough.
  static absl::StatusOr<std::unique_ptr<Executor>> Create(
      graph::Plan plan, Context ctx, std::vector<NDArray> args, std::vector<NDArray> grads,
      std::vector<NDArray> aux, std::vector<GradReq> reqs, const std::vector<NDArray>* reuse);

  // Allocates the plan's blocks (reusing `reuse` where large enough), wires entries and
  // prepares every step's arrays, engine variables and operator once.
  absl::Status Init(const std::vector<NDArray>* reuse);
  void PushStep(int index, bool is_train);
  // Steps [begin, end): one engine operation each on a CPU, one for all of them on a GPU.
  void PushSteps(int begin, int end, bool is_train);
  // Appends copies of step `index`'s outputs (executor_monitor.cc); pushed after the step,
  // so a later step reusing the memory waits for the copy.
  absl::Status CopyStepOutputs(int index, std::vector<MonitoredArray>* monitored) const;

  graph::Symbol symbol_;
  std::vector<std::string> arg_names_, output_names_;  // of symbol_, listed once
  Context ctx_;
  graph::Plan plan_;
  std::vector<NDArray> args_, grads_, aux_, outputs_;
  std::vector<GradReq> reqs_;
  std::vector<NDArray> blocks_;   // one per planned storage id
  std::vector<NDArray> entries_;  // one per plan entry (none where unused)
  // Per plan step; shared with the engine operations pushed for it.
  std::vector<std::shared_ptr<internal::StepData>> steps_;
  std::shared_ptr<RandomSource> random_;  // null: RandomSource::Default()
};

}  // namespace mxgrid::executor

#endif  // MXGRID_LIBS_EXECUTOR_EXECUTOR_H_
