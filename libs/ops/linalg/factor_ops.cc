// _linalg_gelqf (A = L * Q for m x n matrices with m <= n: Q with orthonormal rows and L
// lower triangular, by LAPACK-style Householder reflections so that L's diagonal signs are
// MXNet's), _linalg_inverse, _linalg_det and _linalg_slogdet (sign and log|det|), batched
// over the leading axes as MXNet 1.9.1's la_op. det and slogdet of a singular matrix are
// 0 (sign 0, log|det| -inf) and their gradients there are zero for det. Gradients as
// MXNet's gelqf_backward, inverse_backward, det_backward and slogdet_backward.
#include <cmath>
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
using linalg_internal::LoadFlat;
using linalg_internal::Save;
using linalg_internal::SaveFlat;
using linalg_internal::ZerosLike;

absl::StatusOr<std::shared_ptr<const OpParams>> NoParams(const std::string& op,
                                                         const AttrMap& attrs) {
  ParamReader r(op, attrs);
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::make_shared<OpParams>());
}

// The batch shape of a tensor of matrices ((1,) for a single matrix), MXNet's LaReduceShape.
Shape ReducedShape(const Shape& s) {
  std::vector<int64_t> dims(s.dims().begin(), s.dims().end() - 2);
  return dims.empty() ? Shape{1} : Shape(dims);
}

OpDef Gelqf() {
  OpDef d = linalg_internal::LinalgOp("gelqf", {"A"},
                                      "LQ factorization A = L * Q (Q, L) of m x n matrices, "
                                      "m <= n.");
  d.parse = [](const AttrMap& attrs) { return NoParams("_linalg_gelqf", attrs); };
  d.output_names = [](const OpParams&) {
    return std::vector<std::string>{"output0", "output1"};
  };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    const Shape& a = *(*in)[0];
    MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices("_linalg_gelqf", "A", a, false));
    const int nd = a.ndim();
    if (a[nd - 2] > a[nd - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "_linalg_gelqf: A must have at most as many rows as columns, got shape ",
          a.ToString()));
    }
    Shape l = a;
    l[nd - 1] = a[nd - 2];
    MXGRID_RETURN_IF_ERROR(MergeShape("_linalg_gelqf", "output Q", a, &(*out)[0]));
    return MergeShape("_linalg_gelqf", "output L", l, &(*out)[1]);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load("_linalg_gelqf", in[0]));
    Batch q = ZerosLike(a), l = ZerosLike(out[1]);
    for (int64_t i = 0; i < a.count; ++i) {
      linalg_internal::LQ(a.mat(i), a.rows, a.cols, q.mat(i), l.mat(i));
    }
    MXGRID_RETURN_IF_ERROR(Save("_linalg_gelqf", q, reqs[0], out[0]));
    return Save("_linalg_gelqf", l, reqs[1], out[1]);
  };
  // dA = L^-T (dQ + copyltu(M) Q), M = L^T dL - dQ Q^T (MXNet's gelqf_backward).
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const char* op = "_linalg_gelqf";
    MXGRID_ASSIGN_OR_RETURN(Batch dq, Load(op, g.out_grads[0]));
    MXGRID_ASSIGN_OR_RETURN(Batch dl, Load(op, g.out_grads[1]));
    MXGRID_ASSIGN_OR_RETURN(Batch q, Load(op, g.outputs[0]));
    MXGRID_ASSIGN_OR_RETURN(Batch l, Load(op, g.outputs[1]));
    const int64_t m = q.rows, n = q.cols;
    Batch da = dq;
    for (int64_t i = 0; i < da.count; ++i) {
      std::vector<double> t(dl.mat(i), dl.mat(i) + m * m);
      linalg_internal::Trmm(l.mat(i), t.data(), m, m, 1.0, false, true, true);
      linalg_internal::Gemm(da.mat(i), q.mat(i), t.data(), m, m, n, false, true, -1.0, 1.0);
      linalg_internal::Symmetrize(t.data(), m, true);
      linalg_internal::Gemm(t.data(), q.mat(i), da.mat(i), m, n, m, false, false, 1.0, 1.0);
      linalg_internal::Trsm(l.mat(i), da.mat(i), m, n, 1.0, false, true, true);
    }
    return Save(op, da, g.reqs[0], g.in_grads[0]);
  };
  d.backward_deps = {false, true};
  return d;
}

OpDef InverseOp() {
  OpDef d = linalg_internal::LinalgOp("inverse", {"A"}, "The inverse of square matrices.");
  d.parse = [](const AttrMap& attrs) { return NoParams("_linalg_inverse", attrs); };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_RETURN_IF_ERROR(
        linalg_internal::CheckMatrices("_linalg_inverse", "A", *(*in)[0], true));
    return MergeShape("_linalg_inverse", "output", *(*in)[0], &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load("_linalg_inverse", in[0]));
    Batch inv = ZerosLike(a);
    for (int64_t i = 0; i < a.count; ++i) {
      MXGRID_RETURN_IF_ERROR(
          linalg_internal::Inverse("_linalg_inverse", a.mat(i), inv.mat(i), a.rows));
    }
    return Save("_linalg_inverse", inv, reqs[0], out[0]);
  };
  // dA = -B^T dB B^T with B = A^-1.
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Batch dy, Load("_linalg_inverse", g.out_grads[0]));
    MXGRID_ASSIGN_OR_RETURN(Batch b, Load("_linalg_inverse", g.outputs[0]));
    const int64_t n = b.rows;
    Batch dx = ZerosLike(b);
    std::vector<double> t(n * n);
    for (int64_t i = 0; i < b.count; ++i) {
      linalg_internal::Gemm(dy.mat(i), b.mat(i), t.data(), n, n, n, false, true, 1.0, 0);
      linalg_internal::Gemm(b.mat(i), t.data(), dx.mat(i), n, n, n, true, false, -1.0, 0);
    }
    return Save("_linalg_inverse", dx, g.reqs[0], g.in_grads[0]);
  };
  d.backward_deps = {false, true};
  return d;
}

// det (one output) or slogdet (sign, log|det|).
OpDef DetOp(bool log) {
  const std::string op = log ? "_linalg_slogdet" : "_linalg_det";
  OpDef d = linalg_internal::LinalgOp(
      log ? "slogdet" : "det", {"A"},
      log ? "sign(det(A)) and log|det(A)| of square matrices." : "det(A) of square matrices.");
  d.parse = [op](const AttrMap& attrs) { return NoParams(op, attrs); };
  if (log) {
    d.output_names = [](const OpParams&) {
      return std::vector<std::string>{"output0", "output1"};
    };
  }
  d.infer_shape = [op](const OpParams&, std::vector<InferShape>* in,
                       std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices(op, "A", *(*in)[0], true));
    const Shape s = ReducedShape(*(*in)[0]);
    for (size_t i = 0; i < out->size(); ++i) {
      MXGRID_RETURN_IF_ERROR(MergeShape(op, absl::StrCat("output ", i), s, &(*out)[i]));
    }
    return absl::OkStatus();
  };
  d.forward = [op, log](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                        absl::Span<const OpReq> reqs,
                        absl::Span<const TensorView> out) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, in[0]));
    std::vector<double> sign(a.count), logdet(a.count);
    for (int64_t i = 0; i < a.count; ++i) {
      linalg_internal::SignLogDet(a.mat(i), a.rows, &sign[i], &logdet[i]);
    }
    if (log) {
      MXGRID_RETURN_IF_ERROR(SaveFlat(op, sign, reqs[0], out[0]));
      return SaveFlat(op, logdet, reqs[1], out[1]);
    }
    std::vector<double> det(a.count);
    for (int64_t i = 0; i < a.count; ++i) det[i] = sign[i] * std::exp(logdet[i]);
    return SaveFlat(op, det, reqs[0], out[0]);
  };
  // det: dA = ddet * det * A^-T (zero where det is 0); slogdet: dA = dlogabsdet * A^-T.
  d.backward = [op, log](const OpContext&, const OpParams&,
                         const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Batch a, Load(op, g.inputs[0]));
    MXGRID_ASSIGN_OR_RETURN(std::vector<double> dy, LoadFlat(op, g.out_grads[log ? 1 : 0]));
    std::vector<double> y;
    if (!log) {
      MXGRID_ASSIGN_OR_RETURN(y, LoadFlat(op, g.outputs[0]));
    }
    const int64_t n = a.rows;
    Batch dx = ZerosLike(a);
    std::vector<double> inv(n * n);
    for (int64_t i = 0; i < a.count; ++i) {
      const double scale = log ? dy[i] : dy[i] * y[i];
      if (!log && y[i] == 0.0) continue;
      MXGRID_RETURN_IF_ERROR(linalg_internal::Inverse(op, a.mat(i), inv.data(), n));
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t c = 0; c < n; ++c) dx.mat(i)[r * n + c] = scale * inv[c * n + r];
      }
    }
    return Save(op, dx, g.reqs[0], g.in_grads[0]);
  };
  d.backward_deps = {true, !log};
  return d;
}

}  // namespace

absl::Status RegisterLinalgFactorOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(Gelqf()));
  MXGRID_RETURN_IF_ERROR(registry->Register(InverseOp()));
  MXGRID_RETURN_IF_ERROR(registry->Register(DetOp(false)));
  return registry->Register(DetOp(true));
}

}  // namespace mxgrid::ops
