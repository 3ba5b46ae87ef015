// Helpers shared by the nn operator family (internal to libs/ops/nn).
//
// Arity checks, the identity shape rule and the OpDef builders of each op file (shape
// merging, stores and dispatch are in libs/ops/op_util.h). Thread-safety: stateless functions.
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
#include "libs/ops/op_util.h"

namespace mxgrid::ops::nn {

// Checks that the op got `n_in` input and `n_out` output slots (a caller bug otherwise).
absl::Status CheckArity(absl::string_view op, size_t n_in, size_t want_in, size_t n_out,
                        size_t want_out);

// An OpDef with `name`, `description` and one visible output named "output".
OpDef NewOp(std::string name, std::string description);

// NewOp for an op with one input "data" whose output has its shape (inferred both ways).
// `name` must be a literal (it is captured for error messages).
OpDef NewUnaryOp(const char* name, std::string description);

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
OpDef MakeSoftminOp();
OpDef MakeSoftmaxActivationOp();
OpDef MakeLinearRegressionOutputOp();
OpDef MakeLogisticRegressionOutputOp();
OpDef MakeMAERegressionOutputOp();
OpDef MakeDropoutOp();
OpDef MakeLayerNormOp();
OpDef MakeMakeLossOp();
OpDef MakeSmoothL1Op();
OpDef MakeSequenceMaskOp();
OpDef MakeSequenceLastOp();
OpDef MakeSequenceReverseOp();
OpDef MakeInstanceNormOp();
OpDef MakeL2NormalizationOp();
OpDef MakePadOp();
OpDef MakeUpSamplingOp();
OpDef MakeLRNOp();
OpDef MakeRNNOp();

}  // namespace mxgrid::ops::nn

#endif  // MXGRID_LIBS_OPS_NN_NN_UTIL_H_
