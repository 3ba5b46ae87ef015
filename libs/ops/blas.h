// Row-major GEMM for the operators: C = op(A) * op(B) + beta * C.
//
// float32 runs on oneDNN's sgemm, which threads through the same OpenMP pool as every other
// kernel here. float64 (the finite-difference checks) runs on OpenBLAS pinned to the calling
// thread: OpenBLAS's own pthreads spin after each call and, next to OpenMP's threads on a
// small machine, slowed convolution backward ten-fold.
//
// Thread-safety: re-entrant.
#ifndef MXGRID_LIBS_OPS_BLAS_H_
#define MXGRID_LIBS_OPS_BLAS_H_

#include <cstdint>

namespace mxgrid::ops {

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_BLAS_H_
