// Optimizer::UpdatePieces: row_sparse updates of a parameter-server part, whose rows may be
// cut at its ends (part_rows.h).
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/internal/optimizer_kernels.h"
#include "libs/kvstore/optimizer.h"

namespace mxgrid::kvstore {

using internal::Step;
using tensor::NDArray;

absl::Status Optimizer::CheckPieces(int index, const NDArray& weight,
                                    const std::vector<RowPiece>& pieces, const NDArray& grad) {
  const std::string where = absl::StrCat("optimizer piece update of index ", index, ": ");
  if (weight.is_none() || grad.is_none()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "the ", weight.is_none() ? "weight" : "gradient", " is an empty (none) array"));
  }
  if ((weight.dtype() != DType::kFloat32 && weight.dtype() != DType::kFloat64) ||
      !weight.context().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "the weight must be float32 or float64 on the CPU, got ",
        DTypeName(weight.dtype()), " on ", weight.context().ToString()));
  }
  int64_t end = 0, total = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const RowPiece& p = pieces[i];
    if (p.offset < end || p.length < 1 || p.offset + p.length > weight.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "piece ", i, " [", p.offset, ", ", p.offset + p.length,
          ") is empty, out of order, overlapping or outside the weight's ", weight.size(),
          " elements"));
    }
    end = p.offset + p.length;
    total += p.length;
  }
  if (grad.shape() != Shape{total} || grad.dtype() != weight.dtype() ||
      !grad.context().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "the gradient must be the pieces' ", total, " elements, 1-D ",
        DTypeName(weight.dtype()), " on the CPU; got ", grad.shape().ToString(), " ",
        DTypeName(grad.dtype()), " on ", grad.context().ToString()));
  }
  return absl::OkStatus();
}

absl::Status Optimizer::UpdatePieces(int index, const NDArray& weight,
                                     std::vector<RowPiece> pieces, const NDArray& grad) {
  MXGRID_RETURN_IF_ERROR(CheckPieces(index, weight, pieces, grad));
  if (!internal::RowsOnly(options_)) {
    // The dense update with the gradient spread over the weight's elements.
    MXGRID_ASSIGN_OR_RETURN(NDArray dense,
                            NDArray::Zeros(weight.shape(), Context::Cpu(), weight.dtype()));
    const engine::VarHandle reads[] = {grad.var()};
    const engine::VarHandle writes[] = {dense.var()};
    engine::PushOptions push_options;
    push_options.name = "spread_pieces";
    engine::Get()->PushSync(
        [pieces, grad, dense](const engine::RunContext&) {
          const size_t esize = DTypeSize(dense.dtype());
          const char* src = static_cast<const char*>(grad.data());
          for (const RowPiece& p : pieces) {
            std::memcpy(static_cast<char*>(dense.data()) + p.offset * esize, src,
                        p.length * esize);
            src += p.length * esize;
          }
          return absl::OkStatus();
        },
        Context::Cpu(), reads, writes, push_options);
    return Update(index, weight, dense);
  }
  // Held across the push, as in Update.
  base::MutexLock lock(&mu_);
  Step step{};
  MXGRID_ASSIGN_OR_RETURN(State * state, BeginRowsUpdate(index, weight, &step));
  if (pieces.empty()) return absl::OkStatus();  // no rows: nothing else moves
  std::vector<engine::VarHandle> writes = {weight.var()};
  for (const NDArray& a : state->arrays) writes.push_back(a.var());
  const engine::VarHandle reads[] = {grad.var()};
  engine::PushOptions push_options;
  push_options.name = internal::RowsKernelName(options_);
  // The closure holds the arrays so that their storage outlives the kernel.
  engine::Get()->PushSync(
      [kind = options_.kind, step, weight, pieces = std::move(pieces), grad,
       arrays = state->arrays](const engine::RunContext&) {
        if (weight.dtype() == DType::kFloat32) {
          internal::RunPiecesKernel<float>(kind, step, weight, pieces, grad, arrays);
        } else {
          internal::RunPiecesKernel<double>(kind, step, weight, pieces, grad, arrays);
        }
        return absl::OkStatus();
      },
      Context::Cpu(), reads, writes, push_options);
  return absl::OkStatus();
}

}  // namespace mxgrid::kvstore
