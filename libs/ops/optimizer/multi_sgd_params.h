// The multi_*sgd*_update operators' parameters and call check (private to
// libs/ops/optimizer): shared by their CPU kernels (multi_sgd_ops.cc) and CUDA kernels
// (multi_sgd_ops.cu). Kept free of OpenMP so that nvcc can include it.
#ifndef MXGRID_LIBS_OPS_OPTIMIZER_MULTI_SGD_PARAMS_H_
#define MXGRID_LIBS_OPS_OPTIMIZER_MULTI_SGD_PARAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::optimizer {

struct MultiSgdParams : OpParams {
  std::vector<double> lrs, wds;
  double momentum = 0, rescale_grad = 1, clip_gradient = -1;
  int64_t num_weights = 1;
};

// One variant: whether it keeps momentum and/or a float32 master copy.
struct MultiSgdVariant {
  std::string name;
  bool momentum;
  bool mixed;
  // Inputs per weight: weight, grad, then mom and/or weight32.
  int group() const { return 2 + (momentum ? 1 : 0) + (mixed ? 1 : 0); }
};

// What the forward checks before updating anything: lrs and wds have num_weights values;
// each group's inputs have its weight's element count and dtype (the states their own,
// mixed); each requested output matches its weight. InvalidArgument otherwise.
absl::Status CheckMultiSgdCall(const MultiSgdVariant& v, const MultiSgdParams& p,
                               absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> out);

}  // namespace mxgrid::ops::optimizer

#endif  // MXGRID_LIBS_OPS_OPTIMIZER_MULTI_SGD_PARAMS_H_
