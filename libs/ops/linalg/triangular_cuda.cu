// _linalg_trmm and _linalg_trsm on the GPU (triangular_ops.cc): float64 batches and cuBLAS
// DTRMM/DTRSM with the CPU's arguments, forward and backward (dB by the transposed
// operation, dA by the CPU's product restricted to A's triangle).
#include <string>

#include "libs/base/status_macros.h"
#include "libs/ops/linalg/linalg_common.h"
#include "libs/ops/linalg/linalg_cuda.cuh"

namespace mxgrid::ops::linalg_cuda {
namespace {

using linalg_internal::TriangularParams;

// triangular_ops.cc's TriangularGradient on a batch: dA (n x n) = scale * op(X, t) *
// op(Y, !t) when x_first, else scale * op(Y, !t) * op(X, t), X and Y r x c.
absl::Status TriangularGradient(const OpContext& ctx, const double* x, const double* y,
                                double* da, int64_t count, int64_t n, int64_t r, int64_t c,
                                bool transpose, bool x_first, double scale) {
  if (x_first) {
    return Gemm(ctx, x, y, da, count, n, n, transpose ? r : c, transpose, !transpose, scale, 0);
  }
  return Gemm(ctx, y, x, da, count, n, n, transpose ? c : r, !transpose, transpose, scale, 0);
}

absl::Status Forward(const std::string& op, bool solve, const OpContext& ctx,
                     const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<TriangularParams>(params);
  DevBatch a = Geometry(in[0]), c = Geometry(in[1]);
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s, Scratch(ctx, {a.size(), c.size()}));
  a.data = s[0];
  c.data = s[1];
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, in[0], a));
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, in[1], c));
  MXGRID_RETURN_IF_ERROR((solve ? Trsm : Trmm)(ctx, a.data, c.data, c.count, c.rows, c.cols,
                                                p.alpha, p.rightside, p.lower, p.transpose));
  return Save(ctx, op, c, reqs[0], out[0]);
}

absl::Status Backward(const std::string& op, bool solve, const OpContext& ctx,
                      const OpParams& params, const BackwardArgs& g) {
  const auto& p = ParamsAs<TriangularParams>(params);
  DevBatch a = Geometry(g.inputs[0]), dc = Geometry(g.out_grads[0]);
  DevBatch db = dc, x = dc, da = a;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {a.size(), dc.size(), dc.size(), dc.size(), a.size()}));
  a.data = s[0];
  dc.data = s[1];
  db.data = s[2];
  x.data = s[3];
  da.data = s[4];
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.inputs[0], a));
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.out_grads[0], dc));
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.out_grads[0], db));
  const int64_t n = a.rows, r = dc.rows, c = dc.cols;
  // dB = alpha op(A)^-T dC (trsm) or alpha op(A)^T dC (trmm), sides as the forward.
  MXGRID_RETURN_IF_ERROR((solve ? Trsm : Trmm)(ctx, a.data, db.data, db.count, r, c, p.alpha,
                                                p.rightside, p.lower, !p.transpose));
  if (g.reqs[0] != OpReq::kNull) {
    const bool x_first = p.rightside == p.transpose;
    if (solve) {  // dA = -1/alpha * (dB, C) product
      MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.outputs[0], x));
      MXGRID_RETURN_IF_ERROR(TriangularGradient(ctx, db.data, x.data, da.data, da.count, n, r,
                                                c, p.transpose, x_first, -1.0 / p.alpha));
    } else {  // dA = alpha * (dC, B) product
      MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.inputs[1], x));
      MXGRID_RETURN_IF_ERROR(TriangularGradient(ctx, dc.data, x.data, da.data, da.count, n, r,
                                                c, p.transpose, x_first, p.alpha));
    }
    MXGRID_RETURN_IF_ERROR(KeepTriangle(ctx, da.data, da.count, n, p.lower));
    MXGRID_RETURN_IF_ERROR(Save(ctx, op, da, g.reqs[0], g.in_grads[0]));
  }
  if (g.reqs[1] != OpReq::kNull) {
    MXGRID_RETURN_IF_ERROR(Save(ctx, op, db, g.reqs[1], g.in_grads[1]));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterTriangularCuda(Registry* registry) {
  for (bool solve : {false, true}) {
    const std::string op = solve ? "_linalg_trsm" : "_linalg_trmm";
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(op));
    d->gpu_forward = [op, solve](const OpContext& ctx, const OpParams& params,
                                 absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                                 absl::Span<const TensorView> out) {
      return Forward(op, solve, ctx, params, in, reqs, out);
    };
    d->gpu_backward = [op, solve](const OpContext& ctx, const OpParams& params,
                                  const BackwardArgs& g) {
      return Backward(op, solve, ctx, params, g);
    };
    d->gpu_dtypes = Dtypes();
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::linalg_cuda
