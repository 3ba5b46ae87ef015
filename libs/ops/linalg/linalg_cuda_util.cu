// linalg_cuda.cuh's helpers: batch loads and stores, cuBLAS float64 calls, triangle masks.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>

#include "libs/base/status_macros.h"
#include "libs/ops/linalg/linalg_cuda.cuh"

namespace mxgrid::ops::linalg_cuda {
namespace {

// Where each element of a tensor (C order) sits in the batch layout (linalg_common.cc's
// BatchPositions): the batch index runs over the axes other than `row` and the last.
struct Layout {
  int ndim = 0;
  int row = 0;
  int64_t dims[Shape::kMaxNdim] = {};
};

Layout MakeLayout(const Shape& s, int row_axis) {
  Layout l;
  l.ndim = s.ndim();
  l.row = row_axis;
  for (int d = 0; d < s.ndim(); ++d) l.dims[d] = s[d];
  return l;
}

__device__ __forceinline__ int64_t Position(const Layout& l, int64_t f) {
  int64_t coord[Shape::kMaxNdim];
  for (int d = l.ndim - 1; d >= 0; --d) {
    coord[d] = f % l.dims[d];
    f /= l.dims[d];
  }
  int64_t b = 0;
  for (int d = 0; d < l.ndim - 1; ++d) {
    if (d != l.row) b = b * l.dims[d] + coord[d];
  }
  return (b * l.dims[l.row] + coord[l.row]) * l.dims[l.ndim - 1] + coord[l.ndim - 1];
}

template <typename T>
__global__ void LoadKernel(const T* x, Layout l, bool direct, int64_t n, double* b) {
  MXGRID_CUDA_KERNEL_LOOP(f, n) { b[direct ? f : Position(l, f)] = static_cast<double>(x[f]); }
}

template <typename T>
__global__ void SaveKernel(const double* b, Layout l, bool direct, int64_t n, bool add, T* y) {
  MXGRID_CUDA_KERNEL_LOOP(f, n) {
    const T v = static_cast<T>(b[direct ? f : Position(l, f)]);
    y[f] = add ? static_cast<T>(y[f] + v) : v;
  }
}

__global__ void KeepTriangleKernel(double* x, int64_t n, bool keep_lower, int64_t total) {
  MXGRID_CUDA_KERNEL_LOOP(e, total) {
    const int64_t ij = e % (n * n), i = ij / n, j = ij - i * n;
    if (keep_lower ? j > i : j < i) x[e] = 0.0;
  }
}

__global__ void SymmetrizeKernel(double* x, int64_t n, bool from_lower, int64_t total) {
  MXGRID_CUDA_KERNEL_LOOP(e, total) {
    const int64_t b = e / (n * n), ij = e - b * n * n, i = ij / n, j = ij - i * n;
    if (j < i) {
      double* m = x + b * n * n;
      if (from_lower) {
        m[j * n + i] = m[i * n + j];
      } else {
        m[i * n + j] = m[j * n + i];
      }
    }
  }
}

__global__ void IdentityKernel(double* x, int64_t n, int64_t total) {
  MXGRID_CUDA_KERNEL_LOOP(e, total) {
    const int64_t ij = e % (n * n), i = ij / n, j = ij - i * n;
    x[e] = i == j ? 1.0 : 0.0;
  }
}

__global__ void ScaleKernel(double* x, int64_t n, double s) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) { x[i] *= s; }
}

absl::Status CheckInt(int64_t v) {
  if (v > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("linalg: matrix dimension ", v, " exceeds cuBLAS's int range"));
  }
  return absl::OkStatus();
}

int Int(int64_t v) { return static_cast<int>(std::max<int64_t>(v, 1)); }

}  // namespace

DevBatch Geometry(const TensorView& t, int row_axis) {
  const Shape& s = t.shape;
  if (row_axis < 0) row_axis = s.ndim() - 2;
  DevBatch b;
  b.rows = s[row_axis];
  b.cols = s[s.ndim() - 1];
  b.count = b.rows * b.cols == 0 ? 0 : s.Size() / (b.rows * b.cols);
  return b;
}

absl::StatusOr<std::vector<double*>> Scratch(const OpContext& ctx,
                                             std::initializer_list<int64_t> counts) {
  auto aligned = [](int64_t n) { return (n * sizeof(double) + 255) / 256 * 256; };
  size_t bytes = 0;
  for (int64_t n : counts) bytes += aligned(n);
  MXGRID_ASSIGN_OR_RETURN(
      void* ws, gpu::ThreadWorkspace(ctx.ctx.device_id, std::max<size_t>(bytes, 256)));
  std::vector<double*> out;
  char* at = static_cast<char*>(ws);
  for (int64_t n : counts) {
    out.push_back(reinterpret_cast<double*>(at));
    at += aligned(n);
  }
  return out;
}

absl::Status Load(const OpContext& ctx, absl::string_view op, const TensorView& t,
                  const DevBatch& b, int row_axis) {
  const int nd = t.shape.ndim();
  if (row_axis < 0) row_axis = nd - 2;
  const int64_t n = t.size();
  if (n == 0) return absl::OkStatus();
  return DispatchRealCuda(op, t.dtype, [&](auto tag) {
    using T = decltype(tag);
    LoadKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        t.as<T>(), MakeLayout(t.shape, row_axis), row_axis == nd - 2, n, b.data);
    return gpu::LaunchStatus(ctx.ctx.device_id, "linalg load");
  });
}

absl::Status Save(const OpContext& ctx, absl::string_view op, const DevBatch& b, OpReq req,
                  const TensorView& t, int row_axis) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const int nd = t.shape.ndim();
  if (row_axis < 0) row_axis = nd - 2;
  const int64_t n = t.size();
  if (n == 0) return absl::OkStatus();
  return DispatchRealCuda(op, t.dtype, [&](auto tag) {
    using T = decltype(tag);
    SaveKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        b.data, MakeLayout(t.shape, row_axis), row_axis == nd - 2, n, req == OpReq::kAddTo,
        t.as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, "linalg save");
  });
}

absl::Status Gemm(const OpContext& ctx, const double* a, const double* b, double* c,
                  int64_t count, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                  double alpha, double beta) {
  if (count == 0 || m == 0 || n == 0) return absl::OkStatus();
  for (int64_t v : {count, m, n, k}) MXGRID_RETURN_IF_ERROR(CheckInt(v));
  MXGRID_ASSIGN_OR_RETURN(cublasHandle_t h, gpu::Cublas(ctx.ctx.device_id));
  // Row-major C (m x n) = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T.
  return gpu::CublasStatus(
      cublasDgemmStridedBatched(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                ta ? CUBLAS_OP_T : CUBLAS_OP_N, Int(n), Int(m),
                                static_cast<int>(k), &alpha, b, Int(tb ? k : n), k * n, a,
                                Int(ta ? m : k), m * k, &beta, c, Int(n), m * n,
                                static_cast<int>(count)),
      "linalg gemm");
}

namespace {

// The column-major form of a row-major triangular operation on B (rows x cols).
struct TriangularCall {
  cublasSideMode_t side;
  cublasFillMode_t uplo;
  cublasOperation_t trans;
  int m, n, lda, ldb;
};

TriangularCall Triangular(int64_t rows, int64_t cols, bool rightside, bool lower,
                          bool transpose) {
  const int64_t an = rightside ? cols : rows;
  return {rightside ? CUBLAS_SIDE_LEFT : CUBLAS_SIDE_RIGHT,
          lower ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER,
          transpose ? CUBLAS_OP_T : CUBLAS_OP_N,
          static_cast<int>(cols),
          static_cast<int>(rows),
          Int(an),
          Int(cols)};
}

}  // namespace

absl::Status Trmm(const OpContext& ctx, const double* a, double* b, int64_t count,
                  int64_t rows, int64_t cols, double alpha, bool rightside, bool lower,
                  bool transpose) {
  if (count == 0 || rows == 0 || cols == 0) return absl::OkStatus();
  for (int64_t v : {rows, cols}) MXGRID_RETURN_IF_ERROR(CheckInt(v));
  MXGRID_ASSIGN_OR_RETURN(cublasHandle_t h, gpu::Cublas(ctx.ctx.device_id));
  const TriangularCall t = Triangular(rows, cols, rightside, lower, transpose);
  const int64_t an = rightside ? cols : rows;
  for (int64_t i = 0; i < count; ++i) {
    double* bi = b + i * rows * cols;
    MXGRID_RETURN_IF_ERROR(gpu::CublasStatus(
        cublasDtrmm(h, t.side, t.uplo, t.trans, CUBLAS_DIAG_NON_UNIT, t.m, t.n, &alpha,
                    a + i * an * an, t.lda, bi, t.ldb, bi, t.ldb),
        "linalg trmm"));
  }
  return absl::OkStatus();
}

absl::Status Trsm(const OpContext& ctx, const double* a, double* b, int64_t count,
                  int64_t rows, int64_t cols, double alpha, bool rightside, bool lower,
                  bool transpose) {
  if (count == 0 || rows == 0 || cols == 0) return absl::OkStatus();
  for (int64_t v : {rows, cols}) MXGRID_RETURN_IF_ERROR(CheckInt(v));
  MXGRID_ASSIGN_OR_RETURN(cublasHandle_t h, gpu::Cublas(ctx.ctx.device_id));
  const TriangularCall t = Triangular(rows, cols, rightside, lower, transpose);
  const int64_t an = rightside ? cols : rows;
  for (int64_t i = 0; i < count; ++i) {
    MXGRID_RETURN_IF_ERROR(gpu::CublasStatus(
        cublasDtrsm(h, t.side, t.uplo, t.trans, CUBLAS_DIAG_NON_UNIT, t.m, t.n, &alpha,
                    a + i * an * an, t.lda, b + i * rows * cols, t.ldb),
        "linalg trsm"));
  }
  return absl::OkStatus();
}

absl::Status KeepTriangle(const OpContext& ctx, double* x, int64_t count, int64_t n,
                          bool keep_lower) {
  const int64_t total = count * n * n;
  if (total == 0) return absl::OkStatus();
  KeepTriangleKernel<<<gpu::Blocks(total), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      x, n, keep_lower, total);
  return gpu::LaunchStatus(ctx.ctx.device_id, "linalg triangle");
}

absl::Status Scale(const OpContext& ctx, double* x, int64_t n, double s) {
  if (n == 0) return absl::OkStatus();
  ScaleKernel<<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(x, n, s);
  return gpu::LaunchStatus(ctx.ctx.device_id, "linalg scale");
}

absl::Status LoadFlat(const OpContext& ctx, absl::string_view op, const TensorView& t,
                      double* v) {
  const int64_t n = t.size();
  if (n == 0) return absl::OkStatus();
  return DispatchRealCuda(op, t.dtype, [&](auto tag) {
    using T = decltype(tag);
    LoadKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        t.as<T>(), Layout{}, true, n, v);
    return gpu::LaunchStatus(ctx.ctx.device_id, "linalg load");
  });
}

absl::Status SaveFlat(const OpContext& ctx, absl::string_view op, const double* v, OpReq req,
                      const TensorView& t) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const int64_t n = t.size();
  if (n == 0) return absl::OkStatus();
  return DispatchRealCuda(op, t.dtype, [&](auto tag) {
    using T = decltype(tag);
    SaveKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
        v, Layout{}, true, n, req == OpReq::kAddTo, t.as<T>());
    return gpu::LaunchStatus(ctx.ctx.device_id, "linalg save");
  });
}

absl::Status Symmetrize(const OpContext& ctx, double* x, int64_t count, int64_t n,
                        bool from_lower) {
  const int64_t total = count * n * n;
  if (total == 0) return absl::OkStatus();
  SymmetrizeKernel<<<gpu::Blocks(total), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      x, n, from_lower, total);
  return gpu::LaunchStatus(ctx.ctx.device_id, "linalg symmetrize");
}

absl::Status Identity(const OpContext& ctx, double* x, int64_t count, int64_t n) {
  const int64_t total = count * n * n;
  if (total == 0) return absl::OkStatus();
  IdentityKernel<<<gpu::Blocks(total), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
      x, n, total);
  return gpu::LaunchStatus(ctx.ctx.device_id, "linalg identity");
}

absl::Status ClearFlag(const OpContext& ctx, unsigned long long* flag) {
  return gpu::Fill(ctx.ctx.device_id, ctx.stream, flag, 1, 8, ~uint64_t{0});
}

absl::StatusOr<uint64_t> ReadFlag(const OpContext& ctx, const unsigned long long* flag) {
  uint64_t host = 0;
  MXGRID_RETURN_IF_ERROR(
      gpu::CopyDeviceToHost(ctx.ctx.device_id, ctx.stream, &host, flag, sizeof(host)));
  return host;
}

absl::Status ReadDoubles(const OpContext& ctx, const double* src, int64_t count, double* dst) {
  return gpu::CopyDeviceToHost(ctx.ctx.device_id, ctx.stream, dst, src,
                               static_cast<size_t>(count) * sizeof(double));
}

}  // namespace mxgrid::ops::linalg_cuda
