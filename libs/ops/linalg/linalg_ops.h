// The linear-algebra operators of MXNet 1.9.1's la_op, registered as `_linalg_<name>` with
// the alias `linalg_<name>` (mx.nd.linalg.gemm, mx.nd.linalg_gemm): gemm, gemm2, syrk,
// trmm, trsm, potrf, potri, gelqf, inverse, det, slogdet, sumlogdiag, extractdiag and
// makediag, each batched over the leading axes, float32/float64 (float16 through
// half_in_float.h), with gradients. Kernels compute in float64 (dense.h).
//
//   Registry registry;
//   MXGRID_RETURN_IF_ERROR(RegisterLinalgOps(&registry));
//   registry.Parse("linalg_gemm2", {{"transpose_b", "True"}});
//
// Errors: shapes that do not fit (non-square where a square matrix is needed, mismatched
// batch dims) are InvalidArgument at shape inference; a matrix potrf cannot factor (not
// positive definite) or that inverse cannot invert is InvalidArgument from the kernel.
#ifndef MXGRID_LIBS_OPS_LINALG_LINALG_OPS_H_
#define MXGRID_LIBS_OPS_LINALG_LINALG_OPS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

absl::Status RegisterLinalgOps(Registry* registry);

// The parts, one per source file.
absl::Status RegisterLinalgGemmOps(Registry* registry);
absl::Status RegisterLinalgTriangularOps(Registry* registry);
absl::Status RegisterLinalgFactorOps(Registry* registry);
absl::Status RegisterLinalgDiagOps(Registry* registry);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_LINALG_LINALG_OPS_H_
