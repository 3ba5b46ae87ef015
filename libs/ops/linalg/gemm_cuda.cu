// _linalg_gemm, _linalg_gemm2 and _linalg_syrk on the GPU (gemm_ops.cc): the same batches,
// the same float64 products in the same order (cuBLAS strided-batched DGEMM), the same
// gradients (MXNet's gemm_backward, gemm2_backward, syrk_backward).
#include <string>

#include "libs/base/status_macros.h"
#include "libs/ops/cuda_kernels.h"
#include "libs/ops/linalg/linalg_common.h"
#include "libs/ops/linalg/linalg_cuda.cuh"

namespace mxgrid::ops {
namespace linalg_cuda {
namespace {

using linalg_internal::GemmParams;
using linalg_internal::MiscParams;
using linalg_internal::RowAxis;

absl::Status GemmForward(const std::string& op, bool with_c, const OpContext& ctx,
                         const OpParams& params, absl::Span<const TensorView> in,
                         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<GemmParams>(params);
  MXGRID_ASSIGN_OR_RETURN(int row, RowAxis(op, p.axis, in[0].shape.ndim()));
  DevBatch a = Geometry(in[0], row), b = Geometry(in[1], row), c = Geometry(out[0], row);
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s, Scratch(ctx, {a.size(), b.size(), c.size()}));
  a.data = s[0];
  b.data = s[1];
  c.data = s[2];
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, in[0], a, row));
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, in[1], b, row));
  if (with_c) MXGRID_RETURN_IF_ERROR(Load(ctx, op, in[2], c, row));
  const int64_t k = p.transpose_a ? a.rows : a.cols;
  MXGRID_RETURN_IF_ERROR(Gemm(ctx, a.data, b.data, c.data, c.count, c.rows, c.cols, k,
                              p.transpose_a, p.transpose_b, p.alpha, with_c ? p.beta : 0.0));
  return Save(ctx, op, c, reqs[0], out[0], row);
}

absl::Status GemmBackward(const std::string& op, bool with_c, const OpContext& ctx,
                          const OpParams& params, const BackwardArgs& g) {
  const auto& p = ParamsAs<GemmParams>(params);
  MXGRID_ASSIGN_OR_RETURN(int row, RowAxis(op, p.axis, g.inputs[0].shape.ndim()));
  DevBatch dd = Geometry(g.out_grads[0], row), a = Geometry(g.inputs[0], row),
           b = Geometry(g.inputs[1], row);
  DevBatch da = a, db = b;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s,
                          Scratch(ctx, {dd.size(), a.size(), b.size(), a.size(), b.size()}));
  dd.data = s[0];
  a.data = s[1];
  b.data = s[2];
  da.data = s[3];
  db.data = s[4];
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.out_grads[0], dd, row));
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.inputs[0], a, row));
  MXGRID_RETURN_IF_ERROR(Load(ctx, op, g.inputs[1], b, row));
  const bool ta = p.transpose_a, tb = p.transpose_b;
  const int64_t m = dd.rows, n = dd.cols, k = ta ? a.rows : a.cols;
  if (g.reqs[0] != OpReq::kNull) {
    if (ta) {
      MXGRID_RETURN_IF_ERROR(
          Gemm(ctx, b.data, dd.data, da.data, da.count, k, m, n, tb, true, p.alpha, 0));
    } else {
      MXGRID_RETURN_IF_ERROR(
          Gemm(ctx, dd.data, b.data, da.data, da.count, m, k, n, false, !tb, p.alpha, 0));
    }
    MXGRID_RETURN_IF_ERROR(Save(ctx, op, da, g.reqs[0], g.in_grads[0], row));
  }
  if (g.reqs[1] != OpReq::kNull) {
    if (tb) {
      MXGRID_RETURN_IF_ERROR(
          Gemm(ctx, dd.data, a.data, db.data, db.count, n, k, m, true, ta, p.alpha, 0));
    } else {
      MXGRID_RETURN_IF_ERROR(
          Gemm(ctx, a.data, dd.data, db.data, db.count, k, n, m, !ta, false, p.alpha, 0));
    }
    MXGRID_RETURN_IF_ERROR(Save(ctx, op, db, g.reqs[1], g.in_grads[1], row));
  }
  if (with_c && g.reqs[2] != OpReq::kNull) {
    MXGRID_RETURN_IF_ERROR(Scale(ctx, dd.data, dd.size(), p.beta));
    MXGRID_RETURN_IF_ERROR(Save(ctx, op, dd, g.reqs[2], g.in_grads[2], row));
  }
  return absl::OkStatus();
}

constexpr char kSyrk[] = "_linalg_syrk";

absl::Status SyrkForward(const OpContext& ctx, const OpParams& params,
                         absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                         absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<MiscParams>(params);
  DevBatch a = Geometry(in[0]), c = Geometry(out[0]);
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s, Scratch(ctx, {a.size(), c.size()}));
  a.data = s[0];
  c.data = s[1];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kSyrk, in[0], a));
  const int64_t n = c.rows, k = p.transpose ? a.rows : a.cols;
  MXGRID_RETURN_IF_ERROR(Gemm(ctx, a.data, a.data, c.data, c.count, n, n, k, p.transpose,
                              !p.transpose, p.alpha, 0));
  return Save(ctx, kSyrk, c, reqs[0], out[0]);
}

absl::Status SyrkBackward(const OpContext& ctx, const OpParams& params, const BackwardArgs& g) {
  if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<MiscParams>(params);
  DevBatch a = Geometry(g.inputs[0]), db = Geometry(g.out_grads[0]);
  DevBatch da = a;
  MXGRID_ASSIGN_OR_RETURN(std::vector<double*> s, Scratch(ctx, {a.size(), db.size(), a.size()}));
  a.data = s[0];
  db.data = s[1];
  da.data = s[2];
  MXGRID_RETURN_IF_ERROR(Load(ctx, kSyrk, g.inputs[0], a));
  MXGRID_RETURN_IF_ERROR(Load(ctx, kSyrk, g.out_grads[0], db));
  const int64_t n = db.rows;
  if (p.transpose) {  // A is k x n: dA = alpha (A dB + A dB^T)
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, a.data, db.data, da.data, a.count, a.rows, n, n, false,
                                false, p.alpha, 0));
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, a.data, db.data, da.data, a.count, a.rows, n, n, false,
                                true, p.alpha, 1));
  } else {  // A is n x k: dA = alpha (dB A + dB^T A)
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, db.data, a.data, da.data, a.count, n, a.cols, n, false,
                                false, p.alpha, 0));
    MXGRID_RETURN_IF_ERROR(Gemm(ctx, db.data, a.data, da.data, a.count, n, a.cols, n, true,
                                false, p.alpha, 1));
  }
  return Save(ctx, kSyrk, da, g.reqs[0], g.in_grads[0]);
}

}  // namespace

absl::Status RegisterGemmCuda(Registry* registry) {
  for (bool with_c : {true, false}) {
    const std::string op = with_c ? "_linalg_gemm" : "_linalg_gemm2";
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(op));
    d->gpu_forward = [op, with_c](const OpContext& ctx, const OpParams& params,
                                  absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                                  absl::Span<const TensorView> out) {
      return GemmForward(op, with_c, ctx, params, in, reqs, out);
    };
    d->gpu_backward = [op, with_c](const OpContext& ctx, const OpParams& params,
                                   const BackwardArgs& g) {
      return GemmBackward(op, with_c, ctx, params, g);
    };
    d->gpu_dtypes = Dtypes();
  }
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kSyrk));
  d->gpu_forward = SyrkForward;
  d->gpu_backward = SyrkBackward;
  d->gpu_dtypes = Dtypes();
  return absl::OkStatus();
}

}  // namespace linalg_cuda

absl::Status RegisterLinalgCudaKernels(Registry* registry) {
  for (absl::Status (*reg)(Registry*) : {linalg_cuda::RegisterGemmCuda,
                                         linalg_cuda::RegisterTriangularCuda,
                                         linalg_cuda::RegisterDiagCuda,
                                         linalg_cuda::RegisterFactorCuda}) {
    MXGRID_RETURN_IF_ERROR(reg(registry));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
