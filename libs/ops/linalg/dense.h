// Dense float64 matrix kernels of the linalg family (internal to libs/ops/linalg).
//
// Every matrix is row-major and contiguous. The kernels follow BLAS/LAPACK's conventions as
// MXNet's la_op uses them: op(X) is X or X^T; a triangular operand is read from the
// triangle `lower` names only (the other triangle is never read); Trmm and Trsm work in
// place on B. The factorizations return InvalidArgument naming `op` where LAPACK reports a
// failure (a matrix that is not positive definite, or singular).
//
//   std::vector<double> c(m * n);
//   linalg_internal::Gemm(a, b, c.data(), m, n, k, false, true, 1.0, 0.0);
//
// Thread-safety: pure functions over their arguments.
#ifndef MXGRID_LIBS_OPS_LINALG_DENSE_H_
#define MXGRID_LIBS_OPS_LINALG_DENSE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mxgrid::ops::linalg_internal {

// C (m x n) = alpha * op(A) * op(B) + beta * C, op(A) m x k, op(B) k x n. A is stored
// k x m when tA, else m x k; B n x k when tB, else k x n. beta 0 ignores C's contents.
void Gemm(const double* a, const double* b, double* c, int64_t m, int64_t n, int64_t k,
          bool ta, bool tb, double alpha, double beta);

// B (rows x cols) = alpha * op(A) * B, or alpha * B * op(A) when `rightside`, with A square
// and triangular (the `lower` or upper triangle of `a`, diagonal included).
void Trmm(const double* a, double* b, int64_t rows, int64_t cols, double alpha,
          bool rightside, bool lower, bool transpose);

// B = alpha * op(A)^-1 * B, or alpha * B * op(A)^-1 when `rightside` (A as in Trmm). A zero
// on the diagonal gives inf/NaN, as BLAS's trsm.
void Trsm(const double* a, double* b, int64_t rows, int64_t cols, double alpha,
          bool rightside, bool lower, bool transpose);

// In place: the Cholesky factor of the symmetric n x n matrix whose `lower` (or upper)
// triangle `a` holds: L with A = L L^T, or U with A = U^T U; the other triangle is zeroed.
absl::Status Cholesky(absl::string_view op, double* a, int64_t n, bool lower);

// The n x n inverse of `a` by LU with partial pivoting; InvalidArgument when singular.
absl::Status Inverse(absl::string_view op, const double* a, double* inv, int64_t n);

// sign(det(A)) and log|det(A)| by LU with partial pivoting (sign 0 and -inf when singular).
void SignLogDet(const double* a, int64_t n, double* sign, double* logabsdet);

// X (n x n): the triangle opposite `from_lower`'s copied from it (X becomes symmetric).
void Symmetrize(double* x, int64_t n, bool from_lower);

// X (n x n): the strict upper triangle zeroed when `keep_lower`, else the strict lower.
void KeepTriangle(double* x, int64_t n, bool keep_lower);

// A (m x n, m <= n) = L * Q with L lower triangular (m x m) and Q (m x n) with orthonormal
// rows, by Householder reflections as LAPACK's gelqf/orglq (so L's diagonal signs match
// MXNet's); Q has m * n and L m * m elements.
void LQ(const double* a, int64_t m, int64_t n, double* q, double* l);

}  // namespace mxgrid::ops::linalg_internal

#endif  // MXGRID_LIBS_OPS_LINALG_DENSE_H_
