// Helpers every operator family uses: MXNet's bidirectional shape merge, OpReq-aware stores
// and float dtype dispatch. Thread-safety: stateless functions.
#ifndef MXGRID_LIBS_OPS_OP_UTIL_H_
#define MXGRID_LIBS_OPS_OP_UTIL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops {

// Merges `inferred` (may hold -1 dims) into `*slot`: unknown dims are filled from either
// side; a known dim that differs, or a different ndim, is InvalidArgument
// "<op>: <what> shape (3, 4) conflicts with inferred (3, 5)" and leaves `*slot` unchanged.
// The most inputs or outputs a variadic operator (add_n, Concat, SliceChannel) may declare:
// far beyond any real network, small enough that a hostile num_args cannot exhaust memory.
inline constexpr int64_t kMaxArity = 16384;

absl::Status MergeShape(absl::string_view op, absl::string_view what, const Shape& inferred,
                        InferShape* slot);

// Writes `v` at dst[i] according to `req` (kNull: nothing; kAddTo: accumulate).
template <typename T>
inline void Store(OpReq req, T* dst, int64_t i, T v) {
  if (req == OpReq::kNull) return;
  if (req == OpReq::kAddTo) {
    dst[i] += v;
  } else {
    dst[i] = v;
  }
}

// Calls fn(TypeTag<float>) or fn(TypeTag<double>); other dtypes are InvalidArgument.
template <typename Fn>
absl::Status DispatchFloat(absl::string_view op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(TypeTag<float>());
    case DType::kFloat64:
      return fn(TypeTag<double>());
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": dtype ", DTypeName(dtype), " is not supported (float32 or float64)"));
  }
}

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_OP_UTIL_H_
