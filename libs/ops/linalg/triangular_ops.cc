// Triangular-matrix operators as MXNet 1.9.1's la_op: _linalg_trmm (alpha * op(A) * B, or
// B * op(A) with rightside), _linalg_trsm (solves op(A) * X = alpha * B, or
// X * op(A) = alpha * B), _linalg_potrf (the Cholesky factor of a symmetric positive
// definite A: A = L L^T, or U^T U with lower=False) and _linalg_potri (the inverse of
// A = L L^T from its factor L). A triangular input is read from its `lower` (or upper)
// triangle only, and its gradient is zero on the other triangle; potrf's gradient is the
// symmetric one MXNet returns (potrf_backward).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/linalg/dense.h"
#include "libs/ops/linalg/linalg_common.h"
#include "libs/ops/linalg/linalg_ops.h"
#include "libs/ops/op_util.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

using linalg_internal::Batch;
using linalg_internal::Load;
using linalg_internal::MiscParams;
using linalg_internal::Save;
using linalg_internal::TriangularParams;
using linalg_internal::ZerosLike;

// trmm/trsm shapes: A square, batch dims equal, B's rows (cols with rightside) A's size;
// the output has B's shape.
absl::Status TriangularShapes(const std::string& op, const TriangularParams& p,
                              std::vector<InferShape>* in, std::vector<InferShape>* out) {
  if (!IsKnown((*in)[0]) || !IsKnown((*in)[1])) return absl::OkStatus();
  const Shape& a = *(*in)[0];
  const Shape& b = *(*in)[1];
  MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices(op, "A", a, true));
  const int nd = a.ndim();
  bool ok = b.ndim() == nd;
  for (int i = 0; ok && i < nd - 2; ++i) ok = a[i] == b[i];
  if (ok) ok = (p.rightside ? b[nd - 1] : b[nd - 2]) == a[nd - 1];
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": incompatible shapes of A ", a.ToString(), " and B ", b.ToString(),
        p.rightside ? " (B * op(A))" : " (op(A) * B)"));
  }
  return MergeShape(op, "output", b, &(*out)[0]);
}

absl::StatusOr<std::shared_ptr<const OpParams>> ParseTriangular(const std::string& op,
                                                                const AttrMap& attrs) {
  auto p = std::make_shared<TriangularParams>();
  ParamReader r(op, attrs);
  MXGRID_RETURN_IF_ERROR(r.Bool("transpose", &p->transpose, false));
  MXGRID_RETURN_IF_ERROR(r.Bool("rightside", &p->rightside, false));
  MXGRID_RETURN_IF_ERROR(r.Bool("lower", &p->lower, true));
  MXGRID_RETURN_IF_ERROR(r.Float("alpha", &p->alpha, 1.0));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

// dA (n x n) = scale * op(X, t1) * op(Y, t2) for the r x c matrices X, Y: the gradient
// product of trmm and trsm. `x_first` picks op(X, transpose) * op(Y, !transpose), else
// op(Y, !transpose) * op(X, transpose).
void TriangularGradient(const double* x, const double* y, double* da, int64_t n, int64_t r,
                        int64_t c, bool transpose, bool x_first, double scale) {
  if (x_first) {
    linalg_internal::Gemm(x, y, da, n, n, transpose ? r : c, transpose, !transpose, scale, 0);
  } else {
    linalg_internal::Gemm(y, x, da, n, n, transpose ? c : r, !transpose, transpose, scale, 0);
  }
}

OpDef TriangularOp(bool solve) {
  const std::string name = solve ? "trsm" : "trmm";
  OpDef d = linalg_internal::LinalgOp(
      name, {"A", "B"},
      solve ? "Solves op(A) * X = alpha * B (X * op(A) = alpha * B with rightside) for "
              "triangular A."
            : "alpha * op(A) * B (B * op(A) with rightside) for triangular A.");
  d.params = {{"transpose", "boolean", "False", false, "Use A transposed."},
              {"rightside", "boolean", "False", false, "A on the right of B."},
              {"lower", "boolean", "True", false, "A is lower (else upper) triangular."},
              {"alpha", "double", "1.0", false, "Scalar factor."}};
  const std::string op = d.name;
  d.parse = [op](const AttrMap& attrs) { return ParseTriangular(op, attrs); };
  d.infer_shape = [op](const OpParams& params, std::vector<InferShape>* in,
                       std::vector<InferShape>* out) {
    return TriangularShapes(op, ParamsAs<TriangularParams>(params), in, out);
  };
  d.forward = [op, solve](const OpContext&, const OpParams& params,
                          absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                          absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<TriangularParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, in[0]));
    MXGRID_ASSIGN_OR_RETURN(Batch c, Load(op, in[1]));
    for (int64_t i = 0; i < c.count; ++i) {
      (solve ? linalg_internal::Trsm : linalg_internal::Trmm)(
          a.mat(i), c.mat(i), c.rows, c.cols, p.alpha, p.rightside, p.lower, p.transpose);
    }
    return Save(op, c, reqs[0], out[0]);
  };
  d.backward = [op, solve](const OpContext&, const OpParams& params,
                           const BackwardArgs& g) -> absl::Status {
    const auto& p = ParamsAs<TriangularParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, g.inputs[0]));
    MXGRID_ASSIGN_OR_RETURN(Batch dc, Load(op, g.out_grads[0]));
    const int64_t n = a.rows, r = dc.rows, c = dc.cols;
    // dB = alpha op(A)^-T dC (trsm) or alpha op(A)^T dC (trmm), sides as the forward.
    Batch db = dc;
    for (int64_t i = 0; i < db.count; ++i) {
      (solve ? linalg_internal::Trsm : linalg_internal::Trmm)(
          a.mat(i), db.mat(i), r, c, p.alpha, p.rightside, p.lower, !p.transpose);
    }
    if (g.reqs[0] != OpReq::kNull) {
      Batch da = ZerosLike(a);
      const bool x_first = p.rightside == p.transpose;
      if (solve) {  // dA = -1/alpha * (dB, C) product
        MXGRID_ASSIGN_OR_RETURN(Batch out, Load(op, g.outputs[0]));
        for (int64_t i = 0; i < da.count; ++i) {
          TriangularGradient(db.mat(i), out.mat(i), da.mat(i), n, r, c, p.transpose, x_first,
                             -1.0 / p.alpha);
        }
      } else {  // dA = alpha * (dC, B) product
        MXGRID_ASSIGN_OR_RETURN(Batch b, Load(op, g.inputs[1]));
        for (int64_t i = 0; i < da.count; ++i) {
          TriangularGradient(dc.mat(i), b.mat(i), da.mat(i), n, r, c, p.transpose, x_first,
                             p.alpha);
        }
      }
      for (int64_t i = 0; i < da.count; ++i) linalg_internal::KeepTriangle(da.mat(i), n, p.lower);
      MXGRID_RETURN_IF_ERROR(Save(op, da, g.reqs[0], g.in_grads[0]));
    }
    if (g.reqs[1] != OpReq::kNull) MXGRID_RETURN_IF_ERROR(Save(op, db, g.reqs[1], g.in_grads[1]));
    return absl::OkStatus();
  };
  d.backward_deps = {true, solve};
  return d;
}

absl::StatusOr<std::shared_ptr<const OpParams>> ParseLower(const std::string& op,
                                                           const AttrMap& attrs) {
  auto p = std::make_shared<MiscParams>();
  ParamReader r(op, attrs);
  MXGRID_RETURN_IF_ERROR(r.Bool("lower", &p->lower, true));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

// potrf (factor) or potri (inverse from the factor): square in, same shape out.
OpDef CholeskyOp(bool inverse) {
  OpDef d = linalg_internal::LinalgOp(
      inverse ? "potri" : "potrf", {"A"},
      inverse ? "The inverse of L * L^T (U^T * U with lower=False) from its triangular "
                "factor."
              : "The Cholesky factor L (A = L * L^T; U with A = U^T * U when lower=False).");
  d.params = {{"lower", "boolean", "True", false,
               "The factor is lower (else upper) triangular."}};
  const std::string op = d.name;
  d.parse = [op](const AttrMap& attrs) { return ParseLower(op, attrs); };
  d.infer_shape = [op](const OpParams&, std::vector<InferShape>* in,
                       std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices(op, "A", *(*in)[0], true));
    return MergeShape(op, "output", *(*in)[0], &(*out)[0]);
  };
  d.forward = [op, inverse](const OpContext&, const OpParams& params,
                            absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                            absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const bool lower = ParamsAs<MiscParams>(params).lower;
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, in[0]));
    const int64_t n = a.rows;
    for (int64_t i = 0; i < a.count; ++i) {
      if (!inverse) {
        MXGRID_RETURN_IF_ERROR(linalg_internal::Cholesky(op, a.mat(i), n, lower));
        continue;
      }
      // X = L^-1 (U^-1); then A^-1 = X^T X (X X^T).
      std::vector<double> x(n * n, 0.0), inv(n * n);
      for (int64_t j = 0; j < n; ++j) x[j * n + j] = 1.0;
      linalg_internal::Trsm(a.mat(i), x.data(), n, n, 1.0, false, lower, false);
      linalg_internal::Gemm(x.data(), x.data(), inv.data(), n, n, n, lower, !lower, 1.0, 0);
      std::copy(inv.begin(), inv.end(), a.mat(i));
    }
    return Save(op, a, reqs[0], out[0]);
  };
  d.backward = [op, inverse](const OpContext&, const OpParams& params,
                             const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const bool lower = ParamsAs<MiscParams>(params).lower;
    MXGRID_ASSIGN_OR_RETURN(Batch dy, Load(op, g.out_grads[0]));
    const int64_t n = dy.rows;
    Batch dx = ZerosLike(dy);
    if (!inverse) {
      // dA = 0.5 L^-T sym(L^T dL) L^-1 (lower; the mirror image for upper), MXNet's
      // potrf_backward.
      MXGRID_ASSIGN_OR_RETURN(Batch l, Load(op, g.outputs[0]));
      dx = dy;
      for (int64_t i = 0; i < dx.count; ++i) {
        double* x = dx.mat(i);
        linalg_internal::Trmm(l.mat(i), x, n, n, 1.0, !lower, lower, true);
        linalg_internal::Symmetrize(x, n, lower);
        linalg_internal::Trsm(l.mat(i), x, n, n, 1.0, false, lower, lower);
        linalg_internal::Trsm(l.mat(i), x, n, n, 0.5, true, lower, !lower);
      }
    } else {
      // lower: dL = -(A dY + A dY^T) L^-T on the lower triangle; upper: -U^-T (dY A +
      // dY^T A) on the upper (MXNet's potri_backward).
      MXGRID_ASSIGN_OR_RETURN(Batch f, Load(op, g.inputs[0]));
      MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, g.outputs[0]));
      for (int64_t i = 0; i < dx.count; ++i) {
        double* x = dx.mat(i);
        if (lower) {
          linalg_internal::Gemm(a.mat(i), dy.mat(i), x, n, n, n, false, false, 1.0, 0);
          linalg_internal::Gemm(a.mat(i), dy.mat(i), x, n, n, n, false, true, 1.0, 1.0);
        } else {
          linalg_internal::Gemm(dy.mat(i), a.mat(i), x, n, n, n, false, false, 1.0, 0);
          linalg_internal::Gemm(dy.mat(i), a.mat(i), x, n, n, n, true, false, 1.0, 1.0);
        }
        linalg_internal::Trsm(f.mat(i), x, n, n, -1.0, lower, lower, true);
        linalg_internal::KeepTriangle(x, n, lower);
      }
    }
    return Save(op, dx, g.reqs[0], g.in_grads[0]);
  };
  d.backward_deps = {inverse, true};
  return d;
}

}  // namespace

absl::Status RegisterLinalgTriangularOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(TriangularOp(false)));
  MXGRID_RETURN_IF_ERROR(registry->Register(TriangularOp(true)));
  MXGRID_RETURN_IF_ERROR(registry->Register(CholeskyOp(false)));
  return registry->Register(CholeskyOp(true));
}

}  // namespace mxgrid::ops
