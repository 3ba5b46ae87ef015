// Imperative operator calls: what `mx.nd.FullyConnected(x, w, b, num_hidden=4)` or `a + b`
// does in MXNet. Invoke infers the outputs' shapes and types, allocates them (or checks the
// arrays given for `out=`), pushes the kernel to the engine and returns at once (a call on
// at most 16 KiB whose inputs are ready runs in the calling thread first); the outputs
// are valid to use immediately (later work on them is ordered after this kernel), and an
// error inside the kernel surfaces at the next read of an output.
//
//   MXGRID_ASSIGN_OR_RETURN(ops::ParsedOp op, registry.Parse("FullyConnected", attrs));
//   auto shared = std::make_shared<const ops::ParsedOp>(std::move(op));  // reusable
//   MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> out, Invoke(shared, {x, w, b}));
//
// Thread-safety: thread-safe; calls on shared arrays are ordered by the engine in push order.
#ifndef MXGRID_LIBS_EXECUTOR_IMPERATIVE_H_
#define MXGRID_LIBS_EXECUTOR_IMPERATIVE_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/executor/random_source.h"
#include "libs/ops/op.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::executor {

struct InvokeOptions {
  // Training mode (Dropout masks, BatchNorm batch statistics and moving-average updates).
  bool is_train = false;
  // Arrays to write the visible outputs into (MXNet's `out=`; `a += b` passes `a`): empty
  // for new outputs, else one per visible output with the inferred shape and dtype. An
  // output may be one of the inputs (elementwise operators read each element before writing
  // it).
  absl::Span<const tensor::NDArray> out;
  // Where a random operator (OpDef::random) draws its per-call seed, at the call: the
  // session's generators; null: RandomSource::Default().
  RandomSource* random = nullptr;
  // The device of an operator without inputs when neither `out` nor its `ctx` attribute
  // (MXNet's ctx="cpu(0)") names one.
  Context default_ctx = Context::Cpu();
  // When not null, receives every output, hidden ones included (Dropout's mask, BatchNorm's
  // batch statistics), which autograd keeps for the backward pass.
  std::vector<tensor::NDArray>* all_outputs = nullptr;
};

// Runs `op` on `inputs` (arguments then auxiliary states, none of them none; all on one
// context, where the outputs go too) and returns its visible outputs. An operator without
// inputs (the samplers) runs on the context of `out`, else that of its `ctx` attribute, else
// options.default_ctx, as MXNet's imperative calls choose. InvalidArgument for a wrong input
// count, mixed contexts, a malformed `ctx` attribute, shapes or types the operator rejects
// or cannot infer, or `out` arrays of the wrong count, shape, dtype or context;
// FailedPrecondition for a device this build lacks. `op` is shared with the pushed work (a
// caller that repeats a call keeps one parsed operator instead of copying it each time).
absl::StatusOr<std::vector<tensor::NDArray>> Invoke(std::shared_ptr<const ops::ParsedOp> op,
                                                    absl::Span<const tensor::NDArray> inputs,
                                                    const InvokeOptions& options = {});

}  // namespace mxgrid::executor

#endif  // MXGRID_LIBS_EXECUTOR_IMPERATIVE_H_
