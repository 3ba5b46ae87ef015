// The factorizations on the GPU (triangular_ops.cc's potrf and potri, factor_ops.cc's
// gelqf, inverse, det and slogdet), forward and backward. The per-matrix factorizations
// (Cholesky, LU with partial pivoting, Householder LQ) run one thread per matrix with
// dense.cc's algorithms step for step in float64, so pivots, signs and failures are the
// CPU's; everything else is the CPU's batched cuBLAS steps (linalg_cuda.cuh). A matrix that
// is not positive definite (potrf) or singular (inverse, the det/slogdet gradients) is
// InvalidArgument with the CPU's message, read back from the device after the kernel.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/linalg/linalg_common.h"
#include "libs/ops/linalg/linalg_cuda.cuh"

namespace mxgrid::ops::linalg_cuda {
namespace {

using linalg_internal::MiscParams;

// dense.cc's Cholesky on each matrix in place; the first failing matrix lowers `flag`
// and leaves its pivot index and value in fail_j/fail_s.
__global__ void CholeskyKernel(double* a, int64_t count, int64_t n, bool lower,
                               double* fail_j, double* fail_s, unsigned long long* flag) {
  MXGRID_CUDA_KERNEL_LOOP(b, count) {
    double* m = a + b * n * n;
    auto at = [&](int64_t i, int64_t j) -> double& { return lower ? m[i * n + j] : m[j * n + i]; };
    bool ok = true;
    for (int64_t j = 0; j < n && ok; ++j) {
      double s = at(j, j);
      for (int64_t k = 0; k < j; ++k) s -= at(j, k) * at(j, k);
      if (!(s > 0.0)) {
        fail_j[b] = static_cast<double>(j);
        fail_s[b] = s;
        atomicMin(flag, static_cast<unsigned long long>(b));
        ok = false;
        break;
      }
      at(j, j) = sqrt(s);
      for (int64_t i = j + 1; i < n; ++i) {
        double v = at(i, j);
        for (int64_t k = 0; k < j; ++k) v -= at(i, k) * at(j, k);
        at(i, j) = v / at(j, j);
      }
    }
    if (!ok) continue;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        if (lower ? j > i : j < i) m[i * n + j] = 0.0;
      }
    }
  }
}

// dense.cc's LUInPlace (perm as doubles): the number of row swaps, or -1 when singular.
__device__ int64_t LUInPlace(double* lu, int64_t n, double* perm) {
  for (int64_t i = 0; i < n; ++i) perm[i] = static_cast<double>(i);
  int64_t swaps = 0;
  for (int64_t j = 0; j < n; ++j) {
    int64_t p = j;
    for (int64_t i = j + 1; i < n; ++i) {
      if (fabs(lu[i * n + j]) > fabs(lu[p * n + j])) p = i;
    }
    if (lu[p * n + j] == 0.0) return -1;
    if (p != j) {
      for (int64_t c = 0; c < n; ++c) {
        const double t = lu[p * n + c];
        lu[p * n + c] = lu[j * n + c];
        lu[j * n + c] = t;
      }
      const double t = perm[p];
      perm[p] = perm[j];
      perm[j] = t;
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

// dense.cc's Inverse of `a` into `inv` (lu n*n, perm and x n scratch); false when singular.
__device__ bool InverseOf(const double* a, int64_t n, double* lu, double* perm, double* x,
                          double* inv) {
  for (int64_t i = 0; i < n * n; ++i) lu[i] = a[i];
  if (LUInPlace(lu, n, perm) < 0) return false;
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = 0; i < n; ++i) x[i] = perm[i] == static_cast<double>(c) ? 1.0 : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < i; ++k) x[i] -= lu[i * n + k] * x[k];
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      for (int64_t k = i + 1; k < n; ++k) x[i] -= lu[i * n + k] * x[k];
      x[i] /= lu[i * n + i];
    }
    for (int64_t i = 0; i < n; ++i) inv[i * n + c] = x[i];
  }
  return true;
}

__global__ void InverseKernel(const double* a, int64_t count, int64_t n, double* lu,
                              double* perm, double* x, double* inv, unsigned long long* flag) {
  MXGRID_CUDA_KERNEL_LOOP(b, count) {
    const int64_t nn = b * n * n;
    if (!InverseOf(a + nn, n, lu + nn, perm + b * n, x + b * n, inv + nn)) {
      atomicMin(flag, static_cast<unsigned long long>(b));
    }
  }
}

// dense.cc's SignLogDet per matrix; det (when non-null) = sign * exp(logdet).
__global__ void SignLogDetKernel(const double* a, int64_t count, int64_t n, double* lu,
                                 double* perm, double* sign, double* logdet, double* det) {
  MXGRID_CUDA_KERNEL_LOOP(b, count) {
    double* m = lu + b * n * n;
    for (int64_t i = 0; i < n * n; ++i) m[i] = a[b * n * n + i];
    const int64_t swaps = LUInPlace(m, n, perm + b * n);
    double s = 0.0, log_sum = -CUDART_INF;
    if (swaps >= 0) {
      s = swaps % 2 == 1 ? -1.0 : 1.0;
      log_sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = m[i * n + i];
        s *= d < 0 ? -1.0 : 1.0;
        log_sum += log(fabs(d));
      }
    }
    sign[b] = s;
    logdet[b] = log_sum;
    if (det != nullptr) det[b] = s * exp(log_sum);
  }
}

// det: dA = ddet * det * A^-T (zero where det is 0); slogdet (y null): dA = dlogabsdet * A^-T.
__global__ void DetGradKernel(const double* a, const double* dy, const double* y,
                              int64_t count, int64_t n, double* lu, double* perm, double* x,
                              double* inv, double* dx, unsigned long long* flag) {
  MXGRID_CUDA_KERNEL_LOOP(b, count) {
    const int64_t nn = b * n * n;
    double* out = dx + nn;
    for (int64_t i = 0; i < n * n; ++i) out[i] = 0.0;
    if (y != nullptr && y[b] == 0.0) continue;
    const double scale = y != nullptr ? dy[b] * y[b] : dy[b];
    if (!InverseOf(a + nn, n, lu + nn, perm + b * n, x + b * n, inv + nn)) {
      atomicMin(flag, static_cast<unsigned long long>(b));
      continue;
    }
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = 0; c < n; ++c) out[r * n + c] = scale * inv[nn + c * n + r];
    }
  }
}

// dense.cc's LQ per m x n matrix (w m*n and tau m scratch per matrix).
__global__ void LQKernel(const double* a, int64_t count, int64_t m, int64_t n, double* ws,
                         double* taus, double* qs, double* ls) {
  MXGRID_CUDA_KERNEL_LOOP(b, count) {
    double* w = ws + b * m * n;
    double* tau = taus + b * m;
    double* q = qs + b * m * n;
    double* l = ls + b * m * m;
    for (int64_t i = 0; i < m * n; ++i) w[i] = a[b * m * n + i];
    for (int64_t i = 0; i < m; ++i) {
      double* row = w + i * n;
      double xnorm = 0.0;
      for (int64_t c = i + 1; c < n; ++c) xnorm = hypot(xnorm, row[c]);
      const double alpha = row[i];
      if (xnorm == 0.0) {
        tau[i] = 0.0;
      } else {
        const double beta = -copysign(hypot(alpha, xnorm), alpha);
        tau[i] = (beta - alpha) / beta;
        for (int64_t c = i + 1; c < n; ++c) row[c] /= alpha - beta;
        row[i] = beta;
      }
      if (tau[i] == 0.0) continue;
      for (int64_t r = i + 1; r < m; ++r) {
        double* rr = w + r * n;
        double dot = rr[i];
        for (int64_t c = i + 1; c < n; ++c) dot += rr[c] * row[c];
        rr[i] -= tau[i] * dot;
        for (int64_t c = i + 1; c < n; ++c) rr[c] -= tau[i] * dot * row[c];
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < m; ++j) l[i * m + j] = j <= i ? w[i * n + j] : 0.0;
    }
    for (int64_t i = 0; i < m * n; ++i) q[i] = 0.0;
    for (int64_t i = 0; i < m; ++i) q[i * n + i] = 1.0;
    for (int64_t i = m - 1; i >= 0; --i) {
      if (tau[i] == 0.0) continue;
      const double* v = w + i * n;
      for (int64_t r = 0; r < m; ++r) {
        double* qr = q + r * n;
        double dot = qr[i];
        for (int64_t c = i + 1; c < n; ++c) dot += qr[c] * v[c];
        qr[i] -= tau[i] * dot;
        for (int64_t c = i + 1; c < n; ++c) qr[c] -= tau[i] * dot * v[c];
      }
    }
  }
}

unsigned long long* AsFlag(double* p) { return reinterpret_cast<unsigned long long*>(p); }

constexpr char kPotrf[] = "_linalg_potrf";
constexpr char kPotri[] = "_linalg_potri";
constexpr char kInverse[] = "_linalg_inverse";
constexpr char kGelqf[] = "_linalg_gelqf";

absl::Status Launched(const OpContext& ctx, const char* op) {
  return gpu::LaunchStatus(ctx.ctx.device_id, op);
}

absl::Status PotrfForward(const OpContext& ctx, const OpParams& params,
                          absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const bool lower = ParamsAs<MiscParams>(params).lower;
  DevBatch a = Geometry(in[0]);
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {a.size(), a.count, a.count, 1}));
  a.data = s[0];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotrf, in[0], a));
  if (a.count > 0) {
    MXGRID_RETURN_IF_ERROR(ClearFlag(ctx, AsFlag(s[3])));
    CholeskyKernel<<<gpu::Blocks(a.count), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.data, a.count, a.rows, lower, s[1], s[2], AsFlag(s[3]));
    MXGRID_RETURN_IF_ERROR(Launched(ctx, kPotrf));
    MXGRID_ASSIGN_OR_RETURN(const uint64_t bad, ReadFlag(ctx, AsFlag(s[3])));
    if (bad != ~uint64_t{0}) {
      double j = 0, v = 0;
      MXGRID_RETURN_IF_ERROR(ReadDoubles(ctx, s[1] + bad, 1, &j));
      MXGRID_RETURN_IF_ERROR(ReadDoubles(ctx, s[2] + bad, 1, &v));
      return absl::InvalidArgumentError(
          absl::StrCat(kPotrf, ": the matrix is not positive definite (Cholesky pivot ",
                       static_cast<int64_t>(j), " is ", v, ")"));
    }
  }
  return Save(ctx, kPotrf, a, reqs[0], out[0]);
}

// dA = 0.5 L^-T sym(L^T dL) L^-1 (lower; the mirror image for upper), MXNet's
// potrf_backward.
absl::Status PotrfBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const bool lower = ParamsAs<MiscParams>(params).lower;
  DevBatch x = Geometry(g.out_grads[0]), l = x;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s, Scratch(ctx, {x.size(), x.size()}));
  x.data = s[0];
  l.data = s[1];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotrf, g.out_grads[0], x));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotrf, g.outputs[0], l));
  const int64_t n = x.rows;
  MXGRID_RETURN_IF_ERROR(Trmm(ctx, l.data, x.data, x.count, n, n, 1.0, !lower, lower, true));
  MXGRID_RETURN_IF_ERROR(Symmetrize(ctx, x.data, x.count, n, lower));
  MXGRID_RETURN_IF_ERROR(Trsm(ctx, l.data, x.data, x.count, n, n, 1.0, false, lower, lower));
  MXGRID_RETURN_IF_ERROR(Trsm(ctx, l.data, x.data, x.count, n, n, 0.5, true, lower, !lower));
  return Save(ctx, kPotrf, x, g.reqs[0], g.in_grads[0]);
}

// X = L^-1 (U^-1); then A^-1 = X^T X (X X^T).
absl::Status PotriForward(const OpContext& ctx, const OpParams& params,
                          absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const bool lower = ParamsAs<MiscParams>(params).lower;
  DevBatch a = Geometry(in[0]), x = a, inv = a;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s, Scratch(ctx, {a.size(), a.size(), a.size()}));
  a.data = s[0];
  x.data = s[1];
  inv.data = s[2];
  const int64_t n = a.rows;
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotri, in[0], a));
  MXGRID_RETURN_IF_ERROR(Identity(ctx, x.data, x.count, n));
  MXGRID_RETURN_IF_ERROR(Trsm(ctx, a.data, x.data, x.count, n, n, 1.0, false, lower, false));
  MXGRID_RETURN_IF_ERROR(
      Gemm(ctx, x.data, x.data, inv.data, inv.count, n, n, n, lower, !lower, 1.0, 0));
  return Save(ctx, kPotri, inv, reqs[0], out[0]);
}

// lower: dL = -(A dY + A dY^T) L^-T on the lower triangle; upper: -U^-T (dY A + dY^T A) on
// the upper (MXNet's potri_backward).
absl::Status PotriBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const bool lower = ParamsAs<MiscParams>(params).lower;
  DevBatch dy = Geometry(g.out_grads[0]), f = dy, a = dy, x = dy;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {dy.size(), dy.size(), dy.size(), dy.size()}));
  dy.data = s[0];
  f.data = s[1];
  a.data = s[2];
  x.data = s[3];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotri, g.out_grads[0], dy));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotri, g.inputs[0], f));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kPotri, g.outputs[0], a));
  const int64_t n = dy.rows, c = dy.count;
  if (lower) {
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, a.data, dy.data, x.data, c, n, n, n, false, false, 1.0, 0));
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, a.data, dy.data, x.data, c, n, n, n, false, true, 1.0, 1.0));
  } else {
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, dy.data, a.data, x.data, c, n, n, n, false, false, 1.0, 0));
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, dy.data, a.data, x.data, c, n, n, n, true, false, 1.0, 1.0));
  }
  MXGRID_RETURN_IF_ERROR(Trsm(ctx, f.data, x.data, c, n, n, -1.0, lower, lower, true));
  MXGRID_RETURN_IF_ERROR(KeepTriangle(ctx, x.data, c, n, lower));
  return Save(ctx, kPotri, x, g.reqs[0], g.in_grads[0]);
}

absl::Status InverseForward(const OpContext& ctx, const OpParams&,
                            absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                            absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  DevBatch a = Geometry(in[0]), inv = a;
  const int64_t n = a.rows;
  MXGRID_ASSIGN_OR_RETURN(
      std::vector<double*> s,
      Scratch(ctx, {a.size(), a.size(), a.count * n, a.count * n, a.size(), 1}));
  a.data = s[0];
  inv.data = s[4];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kInverse, in[0], a));
  if (a.count > 0) {
    MXGRID_RETURN_IF_ERROR(ClearFlag(ctx, AsFlag(s[5])));
    InverseKernel<<<gpu::Blocks(a.count), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.data, a.count, n, s[1], s[2], s[3], inv.data, AsFlag(s[5]));
    MXGRID_RETURN_IF_ERROR(Launched(ctx, kInverse));
    MXGRID_ASSIGN_OR_RETURN(const uint64_t bad, ReadFlag(ctx, AsFlag(s[5])));
    if (bad != ~uint64_t{0}) {
      return absl::InvalidArgumentError(absl::StrCat(kInverse, ": the matrix is singular"));
    }
  }
  return Save(ctx, kInverse, inv, reqs[0], out[0]);
}

// dA = -B^T dB B^T with B = A^-1.
absl::Status InverseBackward(const OpContext& ctx, const OpParams&, const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  DevBatch dy = Geometry(g.out_grads[0]), b = dy, t = dy, dx = dy;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {dy.size(), dy.size(), dy.size(), dy.size()}));
  dy.data = s[0];
  b.data = s[1];
  t.data = s[2];
  dx.data = s[3];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kInverse, g.out_grads[0], dy));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kInverse, g.outputs[0], b));
  const int64_t n = b.rows;
  MXGRID_RETURN_IF_ERROR(Gemm(ctx, dy.data, b.data, t.data, b.count, n, n, n, false, true, 1.0, 0));
  MXGRID_RETURN_IF_ERROR(
      Gemm(ctx, b.data, t.data, dx.data, b.count, n, n, n, true, false, -1.0, 0));
  return Save(ctx, kInverse, dx, g.reqs[0], g.in_grads[0]);
}

absl::Status DetForward(const std::string& op, bool log, const OpContext& ctx,
                        absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) {
  DevBatch a = Geometry(in[0]);
  const int64_t n = a.rows, c = a.count;
  // As the CPU: matrices of no elements leave the outputs unwritten.
  if (c == 0) return absl::OkStatus();
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {a.size(), a.size(), c * n, c, c, c}));
  a.data = s[0];
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, in[0], a));
  SignLogDetKernel<<<gpu::Blocks(c), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      a.data, c, n, s[1], s[2], s[3], s[4], log ? nullptr : s[5]);
  MXGRID_RETURN_IF_ERROR(Launched(ctx, op.c_str()));
  if (log) {
    MXGRID_RETURN_IF_ERROR(SaveFlat(ctx, op, s[3], reqs[0], out[0]));
    return SaveFlat(ctx, op, s[4], reqs[1], out[1]);
  }
  return SaveFlat(ctx, op, s[5], reqs[0], out[0]);
}

absl::Status DetBackward(const std::string& op, bool log, const OpContext& ctx,
                         const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  DevBatch a = Geometry(g.inputs[0]), dx = a;
  const int64_t n = a.rows, c = a.count;
  if (c == 0) return absl::OkStatus();
  MXGRID_ASSIGN_OR_RETURN(
      std::vector<double*> s,
      Scratch(ctx, {a.size(), c, c, a.size(), c * n, c * n, a.size(), a.size(), 1}));
  a.data = s[0];
  dx.data = s[7];
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.inputs[0], a));
  MXGRID_RETURN_IF_ERROR(LoadFlat(ctx, op, g.out_grads[log ? 1 : 0], s[1]));
  if (!log) MXGRID_RETURN_IF_ERROR(LoadFlat(ctx, op, g.outputs[0], s[2]));
  MXGRID_RETURN_IF_ERROR(ClearFlag(ctx, AsFlag(s[8])));
  DetGradKernel<<<gpu::Blocks(c), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      a.data, s[1], log ? nullptr : s[2], c, n, s[3], s[4], s[5], s[6], dx.data, AsFlag(s[8]));
  MXGRID_RETURN_IF_ERROR(Launched(ctx, op.c_str()));
  MXGRID_ASSIGN_OR_RETURN(const uint64_t bad, ReadFlag(ctx, AsFlag(s[8])));
  if (bad != ~uint64_t{0}) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": the matrix is singular"));
  }
  return Save(ctx, op, dx, g.reqs[0], g.in_grads[0]);
}

absl::Status GelqfForward(const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                          absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  DevBatch a = Geometry(in[0]), q = a, l = Geometry(out[1]);
  const int64_t m = a.rows, n = a.cols, c = a.count;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {a.size(), a.size(), c * m, q.size(), l.size()}));
  a.data = s[0];
  q.data = s[3];
  l.data = s[4];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kGelqf, in[0], a));
  if (c > 0) {
    LQKernel<<<gpu::Blocks(c), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        a.data, c, m, n, s[1], s[2], q.data, l.data);
    MXGRID_RETURN_IF_ERROR(Launched(ctx, kGelqf));
  }
  MXGRID_RETURN_IF_ERROR(Save(ctx, kGelqf, q, reqs[0], out[0]));
  return Save(ctx, kGelqf, l, reqs[1], out[1]);
}

// dA = L^-T (dQ + copyltu(M) Q), M = L^T dL - dQ Q^T (MXNet's gelqf_backward).
absl::Status GelqfBackward(const OpContext& ctx, const OpParams&, const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  DevBatch da = Geometry(g.out_grads[0]), q = da, t = Geometry(g.out_grads[1]), l = t;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {da.size(), q.size(), t.size(), l.size()}));
  da.data = s[0];
  q.data = s[1];
  t.data = s[2];
  l.data = s[3];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kGelqf, g.out_grads[0], da));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kGelqf, g.outputs[0], q));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kGelqf, g.out_grads[1], t));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kGelqf, g.outputs[1], l));
  const int64_t m = q.rows, n = q.cols, c = da.count;
  MXGRID_RETURN_IF_ERROR(Trmm(ctx, l.data, t.data, c, m, m, 1.0, false, true, true));
  MXGRID_RETURN_IF_ERROR(Gemm(ctx, da.data, q.data, t.data, c, m, m, n, false, true, -1.0, 1.0));
  MXGRID_RETURN_IF_ERROR(Symmetrize(ctx, t.data, c, m, true));
  MXGRID_RETURN_IF_ERROR(Gemm(ctx, t.data, q.data, da.data, c, m, n, m, false, false, 1.0, 1.0));
  MXGRID_RETURN_IF_ERROR(Trsm(ctx, l.data, da.data, c, m, n, 1.0, false, true, true));
  return Save(ctx, kGelqf, da, g.reqs[0], g.in_grads[0]);
}

}  // namespace

absl::Status RegisterFactorCuda(Registry* registry) {
  struct Kernels {
    const char* op;
    decltype(OpDef::gpu_forward) forward;
    decltype(OpDef::gpu_backward) backward;
  };
  std::vector<Kernels> kernels = {
      {kPotrf, PotrfForward, PotrfBackward},
      {kPotri, PotriForward, PotriBackward},
      {kInverse, InverseForward, InverseBackward},
      {kGelqf, GelqfForward, GelqfBackward},
  };
  for (bool log : {false, true}) {
    const std::string op = log ? "_linalg_slogdet" : "_linalg_det";
    kernels.push_back(
        {log ? "_linalg_slogdet" : "_linalg_det",
         [op, log](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                   absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
           return DetForward(op, log, ctx, in, reqs, out);
         },
         [op, log](const OpContext& ctx, const OpParams&, const BackwardArgs& g) {
           return DetBackward(op, log, ctx, g);
         }});
  }
  for (Kernels& k : kernels) {
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(k.op));
    d->gpu_forward = std::move(k.forward);
    d->gpu_backward = std::move(k.backward);
    d->gpu_dtypes = Dtypes();
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::linalg_cuda
