// _linalg_gemm (out = alpha * op(A) * op(B) + beta * C), _linalg_gemm2 (alpha * op(A) *
// op(B)) and _linalg_syrk (alpha * A * A^T, or A^T * A with transpose), batched over the
// leading axes as MXNet 1.9.1's la_op: gemm and gemm2 take the matrix rows along `axis`
// (default -2) and the columns along the last axis. Gradients as MXNet's gemm_backward,
// gemm2_backward and syrk_backward.
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
using linalg_internal::GemmParams;
using linalg_internal::Load;
using linalg_internal::MiscParams;
using linalg_internal::RowAxis;
using linalg_internal::Save;

// The output shape of op(A) * op(B) (rows along `row`, columns last).
absl::StatusOr<Shape> ProductShape(absl::string_view op, const GemmParams& p, const Shape& a,
                                   const Shape& b) {
  if (a.ndim() < 2 || a.ndim() != b.ndim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": A and B must be tensors of matrices with the same ndim, got ", a.ToString(),
        " and ", b.ToString()));
  }
  const int nd = a.ndim();
  MXGRID_ASSIGN_OR_RETURN(int row, RowAxis(op, p.axis, nd));
  for (int i = 0; i < nd - 1; ++i) {
    if (i != row && a[i] != b[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": shapes of A ", a.ToString(), " and B ", b.ToString(),
          " must be the same except on the row/column axes"));
    }
  }
  const int64_t inner_a = p.transpose_a ? a[row] : a[nd - 1];
  const int64_t inner_b = p.transpose_b ? b[nd - 1] : b[row];
  if (inner_a != inner_b) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": incompatible matrix dimensions for multiplication: A ", a.ToString(),
        (p.transpose_a ? " (transposed)" : ""), ", B ", b.ToString(),
        (p.transpose_b ? " (transposed)" : "")));
  }
  Shape out = a;
  out[row] = p.transpose_a ? a[nd - 1] : a[row];
  out[nd - 1] = p.transpose_b ? b[row] : b[nd - 1];
  return out;
}

OpDef GemmOp(bool with_c) {
  const std::string name = with_c ? "gemm" : "gemm2";
  OpDef d = linalg_internal::LinalgOp(
      name, with_c ? std::vector<std::string>{"A", "B", "C"} : std::vector<std::string>{"A", "B"},
      with_c ? "alpha * op(A) * op(B) + beta * C for batches of matrices."
             : "alpha * op(A) * op(B) for batches of matrices.");
  d.params = {{"transpose_a", "boolean", "False", false, "Multiply with A transposed."},
              {"transpose_b", "boolean", "False", false, "Multiply with B transposed."},
              {"alpha", "double", "1.0", false, "Factor of op(A) * op(B)."}};
  if (with_c) d.params.push_back({"beta", "double", "1.0", false, "Factor of C."});
  d.params.push_back({"axis", "int", "-2", false, "Axis of the matrix rows."});
  const std::string op = d.name;
  d.parse = [op, with_c](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<GemmParams>();
    ParamReader r(op, attrs);
    MXGRID_RETURN_IF_ERROR(r.Bool("transpose_a", &p->transpose_a, false));
    MXGRID_RETURN_IF_ERROR(r.Bool("transpose_b", &p->transpose_b, false));
    MXGRID_RETURN_IF_ERROR(r.Float("alpha", &p->alpha, 1.0));
    if (with_c) MXGRID_RETURN_IF_ERROR(r.Float("beta", &p->beta, 1.0));
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, -2));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.infer_shape = [op, with_c](const OpParams& params, std::vector<InferShape>* in,
                               std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0]) || !IsKnown((*in)[1])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(
        Shape s, ProductShape(op, ParamsAs<GemmParams>(params), *(*in)[0], *(*in)[1]));
    MXGRID_RETURN_IF_ERROR(MergeShape(op, "output", s, &(*out)[0]));
    if (with_c) MXGRID_RETURN_IF_ERROR(MergeShape(op, "input C", s, &(*in)[2]));
    return absl::OkStatus();
  };
  d.forward = [op, with_c](const OpContext&, const OpParams& params,
                           absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<GemmParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int row, RowAxis(op, p.axis, in[0].shape.ndim()));
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, in[0], row));
    MXGRID_ASSIGN_OR_RETURN(Batch b, Load(op, in[1], row));
    Batch c = linalg_internal::ZerosLike(out[0], row);
    if (with_c) {
      MXGRID_ASSIGN_OR_RETURN(c, Load(op, in[2], row));
    }
    const int64_t k = p.transpose_a ? a.rows : a.cols;
    for (int64_t i = 0; i < c.count; ++i) {
      linalg_internal::Gemm(a.mat(i), b.mat(i), c.mat(i), c.rows, c.cols, k, p.transpose_a,
                            p.transpose_b, p.alpha, with_c ? p.beta : 0.0);
    }
    return Save(op, c, reqs[0], out[0], row);
  };
  d.backward = [op, with_c](const OpContext&, const OpParams& params,
                            const BackwardArgs& g) -> absl::Status {
    const auto& p = ParamsAs<GemmParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int row, RowAxis(op, p.axis, g.inputs[0].shape.ndim()));
    MXGRID_ASSIGN_OR_RETURN(Batch dd, Load(op, g.out_grads[0], row));
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, g.inputs[0], row));
    MXGRID_ASSIGN_OR_RETURN(Batch b, Load(op, g.inputs[1], row));
    const bool ta = p.transpose_a, tb = p.transpose_b;
    const int64_t m = dd.rows, n = dd.cols, k = ta ? a.rows : a.cols;
    if (g.reqs[0] != OpReq::kNull) {
      Batch da = linalg_internal::ZerosLike(a);
      for (int64_t i = 0; i < da.count; ++i) {
        if (ta) {
          linalg_internal::Gemm(b.mat(i), dd.mat(i), da.mat(i), k, m, n, tb, true, p.alpha, 0);
        } else {
          linalg_internal::Gemm(dd.mat(i), b.mat(i), da.mat(i), m, k, n, false, !tb, p.alpha,
                                0);
        }
      }
      MXGRID_RETURN_IF_ERROR(Save(op, da, g.reqs[0], g.in_grads[0], row));
    }
    if (g.reqs[1] != OpReq::kNull) {
      Batch db = linalg_internal::ZerosLike(b);
      for (int64_t i = 0; i < db.count; ++i) {
        if (tb) {
          linalg_internal::Gemm(dd.mat(i), a.mat(i), db.mat(i), n, k, m, true, ta, p.alpha, 0);
        } else {
          linalg_internal::Gemm(a.mat(i), dd.mat(i), db.mat(i), k, n, m, !ta, false, p.alpha,
                                0);
        }
      }
      MXGRID_RETURN_IF_ERROR(Save(op, db, g.reqs[1], g.in_grads[1], row));
    }
    if (with_c && g.reqs[2] != OpReq::kNull) {
      for (double& v : dd.data) v *= p.beta;
      MXGRID_RETURN_IF_ERROR(Save(op, dd, g.reqs[2], g.in_grads[2], row));
    }
    return absl::OkStatus();
  };
  d.backward_deps = {true, false};
  return d;
}

OpDef SyrkOp() {
  OpDef d = linalg_internal::LinalgOp("syrk", {"A"},
                                      "alpha * A * A^T (A^T * A with transpose) per matrix.");
  d.params = {{"transpose", "boolean", "False", false, "Compute A^T * A instead."},
              {"alpha", "double", "1.0", false, "Factor of the product."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<MiscParams>();
    ParamReader r("_linalg_syrk", attrs);
    MXGRID_RETURN_IF_ERROR(r.Bool("transpose", &p->transpose, false));
    MXGRID_RETURN_IF_ERROR(r.Float("alpha", &p->alpha, 1.0));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    const Shape& a = *(*in)[0];
    MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices("_linalg_syrk", "A", a, false));
    Shape s = a;
    const int nd = a.ndim();
    const int64_t n = ParamsAs<MiscParams>(params).transpose ? a[nd - 1] : a[nd - 2];
    s[nd - 2] = s[nd - 1] = n;
    return MergeShape("_linalg_syrk", "output", s, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<MiscParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load("_linalg_syrk", in[0]));
    Batch c = linalg_internal::ZerosLike(out[0]);
    const int64_t n = c.rows, k = p.transpose ? a.rows : a.cols;
    for (int64_t i = 0; i < c.count; ++i) {
      linalg_internal::Gemm(a.mat(i), a.mat(i), c.mat(i), n, n, k, p.transpose, !p.transpose,
                            p.alpha, 0);
    }
    return Save("_linalg_syrk", c, reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<MiscParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load("_linalg_syrk", g.inputs[0]));
    MXGRID_ASSIGN_OR_RETURN(Batch db, Load("_linalg_syrk", g.out_grads[0]));
    Batch da = linalg_internal::ZerosLike(a);
    const int64_t n = db.rows;
    for (int64_t i = 0; i < a.count; ++i) {
      if (p.transpose) {  // A is k x n: dA = alpha (A dB + A dB^T)
        linalg_internal::Gemm(a.mat(i), db.mat(i), da.mat(i), a.rows, n, n, false, false,
                              p.alpha, 0);
        linalg_internal::Gemm(a.mat(i), db.mat(i), da.mat(i), a.rows, n, n, false, true,
                              p.alpha, 1);
      } else {  // A is n x k: dA = alpha (dB A + dB^T A)
        linalg_internal::Gemm(db.mat(i), a.mat(i), da.mat(i), n, a.cols, n, false, false,
                              p.alpha, 0);
        linalg_internal::Gemm(db.mat(i), a.mat(i), da.mat(i), n, a.cols, n, true, false,
                              p.alpha, 1);
      }
    }
    return Save("_linalg_syrk", da, g.reqs[0], g.in_grads[0]);
  };
  d.backward_deps = {true, false};
  return d;
}

}  // namespace

absl::Status RegisterLinalgGemmOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(GemmOp(true)));
  MXGRID_RETURN_IF_ERROR(registry->Register(GemmOp(false)));
  return registry->Register(SyrkOp());
}

}  // namespace mxgrid::ops
