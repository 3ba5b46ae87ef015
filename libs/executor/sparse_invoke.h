// Imperative operator calls on arrays of any storage type (MXNet's FComputeEx dispatch and
// storage fallback). Invoke (imperative.h) runs dense arrays; InvokeAny takes row_sparse and
// csr arrays too:
// - cast_storage, _sparse_retain, dot(csr, dense), zeros_like and the optimizer updates with
//   a row_sparse gradient (sgd_update, sgd_mom_update, adam_update, ftrl_update,
//   _sparse_adagrad_update) run sparse kernels. An update is lazy — only the gradient's rows
//   of the weight and states move — when the op says so (ftrl, adagrad) or lazy_update is
//   true and the states have the weight's storage type; otherwise it is MXNet's standard
//   update (the gradient densified). Weights must store every row (as MXNet requires);
//   states that store none are filled first.
// - Any other operator densifies its sparse inputs, runs the dense kernel and converts what
//   it writes into sparse arrays back to their storage types (MXNet's storage fallback):
//   the values MXNet computes, in dense time and memory.
//
//   MXGRID_ASSIGN_OR_RETURN(SparseInvokeResult r,
//                           InvokeAny(sgd, {weight, rsp_grad}, /*out=*/{weight}));
//
// A SparseNDArray is a value: a call that writes one returns its new value (outputs and
// replaced_inputs), which the caller stores in place of the old one.
//
// Thread-safety: as Invoke.
#ifndef MXGRID_LIBS_EXECUTOR_SPARSE_INVOKE_H_
#define MXGRID_LIBS_EXECUTOR_SPARSE_INVOKE_H_

#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/executor/imperative.h"
#include "libs/ops/op.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/sparse.h"

namespace mxgrid::executor {

// An array of any storage type.
using AnyArray = std::variant<tensor::NDArray, tensor::SparseNDArray>;

inline bool IsSparse(const AnyArray& a) {
  return std::holds_alternative<tensor::SparseNDArray>(a);
}

struct SparseInvokeResult {
  // The visible outputs: new arrays, or (with `out`) the arrays written, sparse ones with
  // their new values.
  std::vector<AnyArray> outputs;
  // Sparse inputs the call wrote (optimizer states), by input index, with their new values.
  std::vector<std::pair<size_t, tensor::SparseNDArray>> replaced_inputs;
};

// True when `op` makes sparse outputs from dense inputs (cast_storage to row_sparse or
// csr): such a call needs InvokeAny although it names no sparse array.
bool WritesSparse(const ops::ParsedOp& op);

// Runs `op` as the file comment says. `options.out` and `options.all_outputs` are ignored
// (`out` names the arrays to write). Errors as Invoke's; InvalidArgument also for storage
// types an operator cannot write (cast_storage into an array of another storage type).
absl::StatusOr<SparseInvokeResult> InvokeAny(std::shared_ptr<const ops::ParsedOp> op,
                                             absl::Span<const AnyArray> inputs,
                                             absl::Span<const AnyArray> out,
                                             const InvokeOptions& options = {});

}  // namespace mxgrid::executor

#endif  // MXGRID_LIBS_EXECUTOR_SPARSE_INVOKE_H_
