// Imperative autograd (MXNet's mx.autograd): a tape of the operator calls made while
// recording, and the backward pass over it.
//
//   Tape tape;                                                  // one per session
//   MXGRID_RETURN_IF_ERROR(tape.MarkVariables({x}, {x_grad}, {GradReq::kWrite}));
//   std::vector<NDArray> all;                                   // hidden outputs too
//   InvokeOptions o;  o.all_outputs = &all;  o.is_train = true;
//   MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> y, Invoke(mul, {x, x}, o));
//   MXGRID_RETURN_IF_ERROR(tape.Record(mul, {x, x}, all, /*is_train=*/true));
//   MXGRID_RETURN_IF_ERROR(tape.Backward({y[0]}, {}));        // x_grad = 2 x (pushed)
//
// Array identity. MXNet attaches autograd information to an array's entry; here an entry
// is the (storage, byte offset, shape, dtype) of an NDArray, so every copy of one NDArray
// object (and every session handle naming it) is the same entry, while views of other parts
// or shapes are different entries. The latest recorded operator that wrote an entry (also
// through out= or in place, `a += b`) produces it from then on; MarkVariables makes an entry
// a fresh variable. Operations that are not recorded do not change an entry's producer (an
// optimizer updating a weight in place leaves it a variable).
//
// Lifetime. The tape keeps every array a recorded call read or wrote (the client may free its
// handles), as MXNet's graph nodes do. Nodes that nothing outside the tape can reach any more
// (no array of theirs, or of a node computed from them, is held elsewhere) are dropped from
// time to time, so recording without ever calling Backward does not grow without bound.
// Backward without retain_graph frees the arrays of the nodes it ran through; another
// backward through them is FailedPrecondition, as in MXNet.
//
// Backward is asynchronous like Invoke: each node's backward kernel and each sum of
// gradients is pushed to the engine, ordered by the arrays it reads and writes, and an error
// inside a kernel surfaces at the next read of a gradient.
//
// Thread-safety: thread-safe (one mutex); calls are applied in the order they take it.
#ifndef MXGRID_LIBS_EXECUTOR_AUTOGRAD_H_
#define MXGRID_LIBS_EXECUTOR_AUTOGRAD_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/base/mutex.h"
#include "libs/executor/executor.h"
#include "libs/ops/op.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::executor {

struct BackwardOptions {
  // One per head, or empty for all ones; a none array also means ones (MXNet's
  // head_grads=None). Each must have its head's shape, dtype and context.
  absl::Span<const tensor::NDArray> head_grads;
  // Keep the recorded graph for another backward pass (MXNet's retain_graph).
  bool retain_graph = false;
  // OpContext::is_train of the backward kernels (MXNet's train_mode).
  bool is_train = true;
};

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Records one imperative call made while recording: `op` read `inputs` (arguments then
  // auxiliary states) and wrote `outputs` (all of them, hidden ones included: Invoke's
  // InvokeOptions::all_outputs). InvalidArgument for counts that do not match the operator
  // or a none array.
  absl::Status Record(std::shared_ptr<const ops::ParsedOp> op,
                      absl::Span<const tensor::NDArray> inputs,
                      absl::Span<const tensor::NDArray> outputs, bool is_train)
      ABSL_LOCKS_EXCLUDED(mu_);

  // MXNet's mark_variables / attach_grad: each of `variables` becomes a variable whose
  // gradient Backward writes into grads[i] per reqs[i] (kWrite overwrites, kAdd
  // accumulates, kNull skips; a kNull variable may have a none gradient). InvalidArgument
  // for different counts, a none variable, or a gradient whose shape, dtype or context
  // differs from its variable's.
  absl::Status MarkVariables(absl::Span<const tensor::NDArray> variables,
                             absl::Span<const tensor::NDArray> grads,
                             absl::Span<const GradReq> reqs) ABSL_LOCKS_EXCLUDED(mu_);

  // MXNet's autograd.backward: the gradients of `heads` with respect to every marked
  // variable they depend on, written into the variables' gradient arrays. InvalidArgument
  // for a head no recorded operator computed (and that is not a variable), head_grads of
  // the wrong count, shape, dtype or context, or heads that depend on no variable whose
  // gradient is wanted; FailedPrecondition when a previous backward without retain_graph
  // freed part of the graph.
  absl::Status Backward(absl::Span<const tensor::NDArray> heads, const BackwardOptions& options)
      ABSL_LOCKS_EXCLUDED(mu_);

  // MXNet's autograd.grad: new arrays holding the gradients of `heads` with respect to
  // `variables` (entries on the tape: marked variables or outputs of recorded calls; zeros
  // for one the heads do not depend on). The variables' own gradient arrays are left
  // alone. Errors as Backward; InvalidArgument for a variable not on the tape. When
  // `reached` is not null it receives, per variable, whether any head depends on it.
  absl::StatusOr<std::vector<tensor::NDArray>> Grad(absl::Span<const tensor::NDArray> heads,
                                                    absl::Span<const tensor::NDArray> variables,
                                                    const BackwardOptions& options,
                                                    std::vector<bool>* reached = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Recorded calls and variables the tape holds (freed ones included until dropped).
  int64_t num_nodes() const ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the nodes nothing outside the tape can reach (see the file comment); how many.
  int64_t Collect() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // An array entry (see the file comment).
  struct Key {
    engine::VarHandle var;
    size_t offset;
    std::vector<int64_t> dims;
    DType dtype;
    bool operator<(const Key& o) const {
      return std::tie(var, offset, dims, dtype) < std::tie(o.var, o.offset, o.dims, o.dtype);
    }
  };
  // Output `index` of node `node`; node -1: an array no recorded call produced (a constant).
  struct Ref {
    int64_t node = -1;
    int index = 0;
    bool operator<(const Ref& o) const {
      return std::tie(node, index) < std::tie(o.node, o.index);
    }
    bool operator==(const Ref& o) const { return node == o.node && index == o.index; }
  };
  // A recorded call, or a variable (op null, outputs {the variable}).
  struct Node {
    std::shared_ptr<const ops::ParsedOp> op;
    bool is_train = false;
    // Set by a backward without retain_graph: inputs and hidden outputs are dropped (the
    // visible outputs stay only to keep their entries from being reused).
    bool freed = false;
    std::vector<tensor::NDArray> inputs;
    std::vector<Ref> input_refs;  // the producer of each input
    std::vector<tensor::NDArray> outputs;
    tensor::NDArray grad;  // a variable's gradient array
    GradReq req = GradReq::kNull;
  };

  static Key KeyOf(const tensor::NDArray& a);
  // Backward and Grad: with `targets` empty, into the marked variables; else into new
  // arrays returned in *target_grads (and whether each was reached in *reached).
  absl::Status Run(absl::Span<const tensor::NDArray> heads,
                   absl::Span<const tensor::NDArray> targets, const BackwardOptions& options,
                   std::vector<tensor::NDArray>* target_grads, std::vector<bool>* reached)
      ABSL_LOCKS_EXCLUDED(mu_);
  int64_t Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t AddNode(Node node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable base::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Node> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<Key, Ref> entries_ ABSL_GUARDED_BY(mu_);
  // Record sweeps when the tape reaches this many nodes.
  size_t sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
};

}  // namespace mxgrid::executor

#endif  // MXGRID_LIBS_EXECUTOR_AUTOGRAD_H_
