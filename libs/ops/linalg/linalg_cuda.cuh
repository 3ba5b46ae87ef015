// Device side of the linalg family's CUDA kernels (included by libs/ops/linalg/*.cu only;
// nvcc compiles it). The GPU kernels follow the CPU ones step for step: inputs are read
// into float64 batches of row-major matrices (linalg_common.h's Batch layout, rows along a
// chosen axis) in scratch memory, computed on with cuBLAS in float64 (dense.h's operations
// with the same arguments), and written back in the outputs' dtype per OpReq. So float32
// results round once from float64, as on the CPU.
//
// cuBLAS is column-major: a row-major r x c matrix is its c x r transpose there, so a
// row-major product C = op(A) op(B) runs as C^T = op(B)^T op(A)^T, and a triangular
// operation swaps its side and triangle (trans unchanged).
//
// Every launch and cuBLAS call goes on the call's stream; nothing synchronizes.
// Thread-safety: pure functions over their arguments.
#ifndef MXGRID_LIBS_OPS_LINALG_LINALG_CUDA_CUH_
#define MXGRID_LIBS_OPS_LINALG_LINALG_CUDA_CUH_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/cuda_dispatch.h"
#include "libs/ops/op.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::linalg_cuda {

// Registration of each .cu file's kernels (called by RegisterLinalgCudaKernels).
absl::Status RegisterGemmCuda(Registry* registry);        // gemm_cuda.cu
absl::Status RegisterTriangularCuda(Registry* registry);  // triangular_cuda.cu
absl::Status RegisterDiagCuda(Registry* registry);        // diag_cuda.cu
absl::Status RegisterFactorCuda(Registry* registry);      // factor_cuda.cu

// The dtypes of every linalg CUDA kernel (float16 runs on the CPU fallback).
inline std::vector<DType> Dtypes() { return {DType::kFloat32, DType::kFloat64}; }

// A batch of row-major matrices in device memory (linalg_common.h's Batch).
struct DevBatch {
  double* data = nullptr;
  int64_t count = 0, rows = 0, cols = 0;
  double* mat(int64_t b) const { return data + b * rows * cols; }
  int64_t size() const { return count * rows * cols; }
};

// The geometry of `t` read with rows along `row_axis` (default ndim - 2); no data.
DevBatch Geometry(const TensorView& t, int row_axis = -1);

// Scratch float64 arrays of the given element counts, carved from one thread workspace
// (valid until the thread's next gpu::ThreadWorkspace call).
absl::StatusOr<std::vector<double*>> Scratch(const OpContext& ctx,
                                             std::initializer_list<int64_t> counts);

// `t` (float32/float64) into `b` (Geometry(t, row_axis), with data), and back per `req`.
absl::Status Load(const OpContext& ctx, absl::string_view op, const TensorView& t,
                  const DevBatch& b, int row_axis = -1);
absl::Status Save(const OpContext& ctx, absl::string_view op, const DevBatch& b, OpReq req,
                  const TensorView& t, int row_axis = -1);

// Every element of `t` in C order into `v`, and back per `req` (linalg_common.h's LoadFlat,
// SaveFlat).
absl::Status LoadFlat(const OpContext& ctx, absl::string_view op, const TensorView& t,
                      double* v);
absl::Status SaveFlat(const OpContext& ctx, absl::string_view op, const double* v, OpReq req,
                      const TensorView& t);

// dense.h's operations on `count` matrices at once (matrix strides: their sizes).
// C = alpha op(A) op(B) + beta C: A m x k (k x m when ta), B k x n (n x k when tb).
absl::Status Gemm(const OpContext& ctx, const double* a, const double* b, double* c,
                  int64_t count, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                  double alpha, double beta);
// B (rows x cols) = alpha op(A) B (B op(A) when rightside), A triangular, n x n.
absl::Status Trmm(const OpContext& ctx, const double* a, double* b, int64_t count,
                  int64_t rows, int64_t cols, double alpha, bool rightside, bool lower,
                  bool transpose);
// B = alpha op(A)^-1 B (B op(A)^-1 when rightside).
absl::Status Trsm(const OpContext& ctx, const double* a, double* b, int64_t count,
                  int64_t rows, int64_t cols, double alpha, bool rightside, bool lower,
                  bool transpose);
// X (n x n each): strict upper triangle zeroed when keep_lower, else the strict lower.
absl::Status KeepTriangle(const OpContext& ctx, double* x, int64_t count, int64_t n,
                          bool keep_lower);
// X (n x n each): the triangle opposite from_lower's copied from it (dense.h's Symmetrize).
absl::Status Symmetrize(const OpContext& ctx, double* x, int64_t count, int64_t n,
                        bool from_lower);
// X (n x n each) = I.
absl::Status Identity(const OpContext& ctx, double* x, int64_t count, int64_t n);
// x[i] *= s.
absl::Status Scale(const OpContext& ctx, double* x, int64_t n, double s);

// A flag for ReadFlag in scratch memory: *flag = UINT64_MAX on the stream. REQUIRES: `flag`
// is device memory the caller owns until ReadFlag returns.
absl::Status ClearFlag(const OpContext& ctx, unsigned long long* flag);
// The flag a kernel lowered with atomicMin (UINT64_MAX: never). Waits for the stream: the
// factorizations' only host synchronisation, because whether a matrix is singular or not
// positive definite decides the call's status (InvalidArgument, as on the CPU).
absl::StatusOr<uint64_t> ReadFlag(const OpContext& ctx, const unsigned long long* flag);
// `count` doubles from device memory (a blocking copy; error paths only).
absl::Status ReadDoubles(const OpContext& ctx, const double* src, int64_t count, double* dst);

}  // namespace mxgrid::ops::linalg_cuda

#endif  // MXGRID_LIBS_OPS_LINALG_LINALG_CUDA_CUH_
