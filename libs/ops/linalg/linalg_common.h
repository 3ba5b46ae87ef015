// Shared pieces of the linalg operators (internal to libs/ops/linalg): tensors as batches of
// float64 matrices, the parameter structs MXNet's la_op declares, and shape checks.
//
// Every linalg kernel reads its float32/float64 inputs into Batch (float64), computes with
// dense.h, and writes its outputs back in their dtype per OpReq; float16 arrays arrive as
// float32 copies (half_in_float.h). Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_LINALG_LINALG_COMMON_H_
#define MXGRID_LIBS_OPS_LINALG_LINALG_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/ops/op.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::linalg_internal {

// The matrices of a tensor: matrix b's element (i, j) at data[(b * rows + i) * cols + j].
struct Batch {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<double> data;

  double* mat(int64_t b) { return data.data() + b * rows * cols; }
  const double* mat(int64_t b) const { return data.data() + b * rows * cols; }
  int64_t msize() const { return rows * cols; }
};

// A batch of zeros shaped like `like`, or with `t`'s geometry (rows along `row_axis`,
// default ndim - 2) without reading its data.
Batch ZerosLike(const Batch& like);
Batch ZerosLike(const TensorView& t, int row_axis = -1);

// Reads `t` (ndim >= 2) as matrices with rows along `row_axis` (in [0, ndim - 1)) and
// columns along the last axis; the batch runs over the other axes in order.
absl::StatusOr<Batch> Load(absl::string_view op, const TensorView& t, int row_axis);
absl::StatusOr<Batch> Load(absl::string_view op, const TensorView& t);  // rows: ndim - 2

// Writes `b` into `t` (laid out as Load reads it) according to `req`.
absl::Status Save(absl::string_view op, const Batch& b, OpReq req, const TensorView& t,
                  int row_axis);
absl::Status Save(absl::string_view op, const Batch& b, OpReq req, const TensorView& t);

// Every element of `t` in C order, and back.
absl::StatusOr<std::vector<double>> LoadFlat(absl::string_view op, const TensorView& t);
absl::Status SaveFlat(absl::string_view op, const std::vector<double>& v, OpReq req,
                      const TensorView& t);

// InvalidArgument "<op>: <what>" unless `s` has at least `min_ndim` dims and, when
// `square`, equal last two dims.
absl::Status CheckMatrices(absl::string_view op, absl::string_view what, const Shape& s,
                           bool square);

// The row axis of an `ndim`-d tensor for gemm's `axis` parameter; InvalidArgument unless
// in [0, ndim - 1).
absl::StatusOr<int> RowAxis(absl::string_view op, int64_t axis, int ndim);

// MXNet's LaMatrixMacParam (gemm: beta used) and LaMatrixMultParam (gemm2).
struct GemmParams : OpParams {
  bool transpose_a = false, transpose_b = false;
  double alpha = 1.0, beta = 1.0;
  int64_t axis = -2;
};

// MXNet's LaTriangMatrixMultParam (trmm, trsm).
struct TriangularParams : OpParams {
  bool transpose = false, rightside = false, lower = true;
  double alpha = 1.0;
};

// MXNet's LaCholeskyParam (potrf, potri), LaSyrkParam (syrk), LaDiagParam (extractdiag,
// makediag) in one struct: each op reads its own fields.
struct MiscParams : OpParams {
  bool lower = true;
  bool transpose = false;
  double alpha = 1.0;
  int64_t offset = 0;
};

// An OpDef named `_linalg_<name>` with alias `linalg_<name>` and the given input names and
// one output "output"; the caller adds params, parse, shapes and kernels.
OpDef LinalgOp(const std::string& name, std::vector<std::string> inputs,
               std::string description);

}  // namespace mxgrid::ops::linalg_internal

#endif  // MXGRID_LIBS_OPS_LINALG_LINALG_COMMON_H_
