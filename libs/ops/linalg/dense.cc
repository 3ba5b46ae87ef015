#include "libs/ops/linalg/dense.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/ops/blas.h"

namespace mxgrid::ops::linalg_internal {
namespace {

// op(A) of the triangular n x n `a` as a full matrix (zeros outside the triangle).
std::vector<double> FullTriangular(const double* a, int64_t n, bool lower, bool transpose) {
  std::vector<double> t(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const bool in = lower ? j <= i : j >= i;
      if (!in) continue;
      if (transpose) {
        t[j * n + i] = a[i * n + j];
      } else {
        t[i * n + j] = a[i * n + j];
      }
    }
  }
  return t;
}

std::vector<double> Transposed(const double* x, int64_t rows, int64_t cols) {
  std::vector<double> t(rows * cols);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = x[i * cols + j];
  }
  return t;
}

// Solves T X = B in place (B n x cols) for a full triangular T (lower or upper).
void SolveTriangular(const std::vector<double>& t, bool t_lower, double* b, int64_t n,
                     int64_t cols) {
  for (int64_t c = 0; c < cols; ++c) {
    if (t_lower) {
      for (int64_t i = 0; i < n; ++i) {
        double s = b[i * cols + c];
        for (int64_t k = 0; k < i; ++k) s -= t[i * n + k] * b[k * cols + c];
        b[i * cols + c] = s / t[i * n + i];
      }
    } else {
      for (int64_t i = n - 1; i >= 0; --i) {
        double s = b[i * cols + c];
        for (int64_t k = i + 1; k < n; ++k) s -= t[i * n + k] * b[k * cols + c];
        b[i * cols + c] = s / t[i * n + i];
      }
    }
  }
}

// LU with partial pivoting (largest |pivot|) in place; returns the number of row swaps,
// or -1 when a pivot is exactly zero (singular).
int64_t LUInPlace(double* lu, int64_t n, std::vector<int64_t>* perm) {
  perm->resize(n);
  for (int64_t i = 0; i < n; ++i) (*perm)[i] = i;
  int64_t swaps = 0;
  for (int64_t j = 0; j < n; ++j) {
    int64_t p = j;
    for (int64_t i = j + 1; i < n; ++i) {
      if (std::abs(lu[i * n + j]) > std::abs(lu[p * n + j])) p = i;
    }
    if (lu[p * n + j] == 0.0) return -1;
    if (p != j) {
      for (int64_t c = 0; c < n; ++c) std::swap(lu[p * n + c], lu[j * n + c]);
      std::swap((*perm)[p], (*perm)[j]);
      ++swaps;
    }
    for (int64_t i = j + 1; i < n; ++i) {
      const double f = lu[i * n + j] / lu[j * n + j];
      lu[i * n + j] = f;
      for (int64_t c = j + 1; c < n; ++c) lu[i * n + c] -= f * lu[j * n + c];
    }
  }
  return swaps;
}

}  // namespace

void Gemm(const double* a, const double* b, double* c, int64_t m, int64_t n, int64_t k,
          bool ta, bool tb, double alpha, double beta) {
  if (m == 0 || n == 0) return;
  std::vector<double> prod(m * n, 0.0);
  if (k > 0) {
    ops::Gemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, 0.0, prod.data(), n);
  }
  for (int64_t i = 0; i < m * n; ++i) {
    c[i] = alpha * prod[i] + (beta == 0.0 ? 0.0 : beta * c[i]);
  }
}

void Trmm(const double* a, double* b, int64_t rows, int64_t cols, double alpha,
          bool rightside, bool lower, bool transpose) {
  const int64_t n = rightside ? cols : rows;
  const std::vector<double> t = FullTriangular(a, n, lower, transpose);
  const std::vector<double> src(b, b + rows * cols);
  if (rightside) {
    Gemm(src.data(), t.data(), b, rows, cols, n, false, false, alpha, 0.0);
  } else {
    Gemm(t.data(), src.data(), b, rows, cols, n, false, false, alpha, 0.0);
  }
}

void Trsm(const double* a, double* b, int64_t rows, int64_t cols, double alpha,
          bool rightside, bool lower, bool transpose) {
  for (int64_t i = 0; i < rows * cols; ++i) b[i] *= alpha;
  if (!rightside) {
    // op(A) is lower triangular exactly when `lower` and `transpose` differ.
    SolveTriangular(FullTriangular(a, rows, lower, transpose), lower != transpose, b, rows,
                    cols);
    return;
  }
  // X op(A) = B  <=>  op(A)^T X^T = B^T.
  std::vector<double> bt = Transposed(b, rows, cols);
  SolveTriangular(FullTriangular(a, cols, lower, !transpose), lower == transpose, bt.data(),
                  cols, rows);
  const std::vector<double> x = Transposed(bt.data(), cols, rows);
  std::copy(x.begin(), x.end(), b);
}

absl::Status Cholesky(absl::string_view op, double* a, int64_t n, bool lower) {
  // Work on the lower view: element (i, j), i >= j, of L (or of U^T).
  auto at = [&](int64_t i, int64_t j) -> double& { return lower ? a[i * n + j] : a[j * n + i]; };
  for (int64_t j = 0; j < n; ++j) {
    double s = at(j, j);
    for (int64_t k = 0; k < j; ++k) s -= at(j, k) * at(j, k);
    if (!(s > 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": the matrix is not positive definite (Cholesky pivot ", j, " is ", s, ")"));
    }
    at(j, j) = std::sqrt(s);
    for (int64_t i = j + 1; i < n; ++i) {
      double v = at(i, j);
      for (int64_t k = 0; k < j; ++k) v -= at(i, k) * at(j, k);
      at(i, j) = v / at(j, j);
    }
  }
  KeepTriangle(a, n, lower);
  return absl::OkStatus();
}

absl::Status Inverse(absl::string_view op, const double* a, double* inv, int64_t n) {
  std::vector<double> lu(a, a + n * n);
  std::vector<int64_t> perm;
  if (LUInPlace(lu.data(), n, &perm) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": the matrix is singular"));
  }
  // Column c of the inverse solves L U x = P e_c.
  std::vector<double> x(n);
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = 0; i < n; ++i) x[i] = perm[i] == c ? 1.0 : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < i; ++k) x[i] -= lu[i * n + k] * x[k];
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      for (int64_t k = i + 1; k < n; ++k) x[i] -= lu[i * n + k] * x[k];
      x[i] /= lu[i * n + i];
    }
    for (int64_t i = 0; i < n; ++i) inv[i * n + c] = x[i];
  }
  return absl::OkStatus();
}

void SignLogDet(const double* a, int64_t n, double* sign, double* logabsdet) {
  std::vector<double> lu(a, a + n * n);
  std::vector<int64_t> perm;
  const int64_t swaps = LUInPlace(lu.data(), n, &perm);
  if (swaps < 0) {
    *sign = 0.0;
    *logabsdet = -std::numeric_limits<double>::infinity();
    return;
  }
  double s = swaps % 2 == 1 ? -1.0 : 1.0, log_sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = lu[i * n + i];
    s *= d < 0 ? -1.0 : 1.0;
    log_sum += std::log(std::abs(d));
  }
  *sign = s;
  *logabsdet = log_sum;
}

void Symmetrize(double* x, int64_t n, bool from_lower) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) {
      if (from_lower) {
        x[j * n + i] = x[i * n + j];
      } else {
        x[i * n + j] = x[j * n + i];
      }
    }
  }
}

void KeepTriangle(double* x, int64_t n, bool keep_lower) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (keep_lower ? j > i : j < i) x[i * n + j] = 0.0;
    }
  }
}

void LQ(const double* a, int64_t m, int64_t n, double* q, double* l) {
  std::vector<double> w(a, a + m * n);
  std::vector<double> tau(m, 0.0);
  // Row i of w right of the diagonal holds reflector i's v (v_i = 1 implied).
  for (int64_t i = 0; i < m; ++i) {
    double* row = w.data() + i * n;
    double xnorm = 0.0;
    for (int64_t c = i + 1; c < n; ++c) xnorm = std::hypot(xnorm, row[c]);
    const double alpha = row[i];
    if (xnorm == 0.0) {
      tau[i] = 0.0;
    } else {
      const double beta = -std::copysign(std::hypot(alpha, xnorm), alpha);
      tau[i] = (beta - alpha) / beta;
      for (int64_t c = i + 1; c < n; ++c) row[c] /= alpha - beta;
      row[i] = beta;
    }
    if (tau[i] == 0.0) continue;
    // Rows below: r <- r (I - tau v v^T).
    for (int64_t r = i + 1; r < m; ++r) {
      double* rr = w.data() + r * n;
      double dot = rr[i];
      for (int64_t c = i + 1; c < n; ++c) dot += rr[c] * row[c];
      rr[i] -= tau[i] * dot;
      for (int64_t c = i + 1; c < n; ++c) rr[c] -= tau[i] * dot * row[c];
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) l[i * m + j] = j <= i ? w[i * n + j] : 0.0;
  }
  // Q = [I 0] H(m-1) ... H(0).
  for (int64_t i = 0; i < m * n; ++i) q[i] = 0.0;
  for (int64_t i = 0; i < m; ++i) q[i * n + i] = 1.0;
  for (int64_t i = m - 1; i >= 0; --i) {
    if (tau[i] == 0.0) continue;
    const double* v = w.data() + i * n;
    for (int64_t r = 0; r < m; ++r) {
      double* qr = q + r * n;
      double dot = qr[i];
      for (int64_t c = i + 1; c < n; ++c) dot += qr[c] * v[c];
      qr[i] -= tau[i] * dot;
      for (int64_t c = i + 1; c < n; ++c) qr[c] -= tau[i] * dot * v[c];
    }
  }
}

}  // namespace mxgrid::ops::linalg_internal
