// Helpers shared by the nn operator family (internal to libs/ops/nn).
//
// Shape merging with MXNet's bidirectional fill, OpReq-aware stores, float dtype dispatch
// and the OpDef builders of each op file. Thread-safety: stateless functions.
#ifndef MXGRID_LIBS_OPS_NN_NN_UTIL_H_
#define MXGRID_LIBS_OPS_NN_NN_UTIL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::nn {

// Merges `inferred` (may hold -1 dims) into `*slot`: unknown dims are filled from either
// side; a known dim that differs, or a different ndim, is InvalidArgument
// "<op>: <what> shape (3, 4) conflicts with inferred (3, 5)".
absl::Status MergeShape(absl::string_view op, absl::string_view what, const Shape& inferred,
                        InferShape* slot);

// Checks that the op got `n_in` input and `n_out` output slots (a caller bug otherwise).
absl::Status CheckArity(absl::string_view op, size_t n_in, size_t want_in, size_t n_out,
                        size_t want_out);

// Writes `v` at dst[i] according to `req` (kNull: nothing).
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
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", DTypeName(dtype), " is not supported (float32 or float64)"));
  }
}

// An OpDef with `name`, `description` and one visible output named "output".
OpDef NewOp(std::string name, std::string description);

// A ParamSpec (empty default = required).
ParamSpec Spec(std::string name, std::string type, std::string default_value,
               std::string description);

// Identity shape rule for one input and `n_out` outputs, filled both ways.
absl::Status InferSameShape(absl::string_view op, std::vector<InferShape>* in,
                            std::vector<InferShape>* out);

// The OpDef builders, one per op (each in its own .cc).
OpDef MakeFullyConnectedOp();
OpDef MakeActivationOp();
OpDef MakeLeakyReLUOp();
OpDef MakeSoftmaxOutputOp();
OpDef MakeSoftmaxOp();
OpDef MakeLogSoftmaxOp();
OpDef MakeSoftmaxActivationOp();
OpDef MakeLinearRegressionOutputOp();
OpDef MakeLogisticRegressionOutputOp();
OpDef MakeMAERegressionOutputOp();
OpDef MakeDropoutOp();

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_NN_UTIL_H_
