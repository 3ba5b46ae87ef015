// Diagonal operators as MXNet 1.9.1's la_op: _linalg_sumlogdiag (sum of the logs of each
// square matrix's diagonal; output the batch shape, (1,) for one matrix),
// _linalg_extractdiag (diagonal `offset` of square matrices: (..., n, n) -> (..., n - |k|))
// and _linalg_makediag (the inverse: (..., n) -> (..., n + |k|, n + |k|) with zeros off the
// diagonal). Each gradient is the other direction's copy (sumlogdiag: dy / A_ii on the
// diagonal).
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/linalg/linalg_common.h"
#include "libs/ops/linalg/linalg_ops.h"
#include "libs/ops/op_util.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {
namespace {

using linalg_internal::LoadFlat;
using linalg_internal::MiscParams;
using linalg_internal::SaveFlat;

// Element t of diagonal k of an n x n matrix: its flat index.
int64_t DiagIndex(int64_t t, int64_t k, int64_t n) {
  const int64_t row = t + (k < 0 ? -k : 0), col = t + (k > 0 ? k : 0);
  return row * n + col;
}

// Copies between the diagonals (`count` matrices of n x n, diagonal k of length len) and
// their packed vectors: to_vector reads `mat` into `vec`, else writes `vec` into `mat`.
void CopyDiagonals(std::vector<double>* mat, std::vector<double>* vec, int64_t count,
                   int64_t n, int64_t k, bool to_vector) {
  const int64_t len = n - std::abs(k);
  for (int64_t b = 0; b < count; ++b) {
    for (int64_t t = 0; t < len; ++t) {
      double& m = (*mat)[b * n * n + DiagIndex(t, k, n)];
      double& v = (*vec)[b * len + t];
      if (to_vector) {
        v = m;
      } else {
        m = v;
      }
    }
  }
}

OpDef SumLogDiag() {
  OpDef d = linalg_internal::LinalgOp("sumlogdiag", {"A"},
                                      "Sum of the logarithms of each matrix's diagonal.");
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    ParamReader r("_linalg_sumlogdiag", attrs);
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::make_shared<MiscParams>());
  };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    const Shape& a = *(*in)[0];
    MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices("_linalg_sumlogdiag", "A", a, true));
    std::vector<int64_t> dims(a.dims().begin(), a.dims().end() - 2);
    return MergeShape("_linalg_sumlogdiag", "output", dims.empty() ? Shape{1} : Shape(dims),
                      &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(std::vector<double> a, LoadFlat("_linalg_sumlogdiag", in[0]));
    const int64_t n = in[0].shape[in[0].shape.ndim() - 1];
    std::vector<double> y(out[0].size(), 0.0);
    for (size_t b = 0; b < y.size() && n > 0; ++b) {
      for (int64_t i = 0; i < n; ++i) y[b] += std::log(a[b * n * n + i * n + i]);
    }
    return SaveFlat("_linalg_sumlogdiag", y, reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(std::vector<double> a, LoadFlat("_linalg_sumlogdiag", g.inputs[0]));
    MXGRID_ASSIGN_OR_RETURN(std::vector<double> dy,
                            LoadFlat("_linalg_sumlogdiag", g.out_grads[0]));
    const int64_t n = g.inputs[0].shape[g.inputs[0].shape.ndim() - 1];
    std::vector<double> dx(a.size(), 0.0);
    for (int64_t b = 0; n > 0 && b < static_cast<int64_t>(a.size()) / (n * n); ++b) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t j = b * n * n + i * n + i;
        dx[j] = dy[b] / a[j];
      }
    }
    return SaveFlat("_linalg_sumlogdiag", dx, g.reqs[0], g.in_grads[0]);
  };
  d.backward_deps = {true, false};
  return d;
}

// extractdiag (extract) or makediag.
OpDef DiagOp(bool extract) {
  OpDef d = linalg_internal::LinalgOp(
      extract ? "extractdiag" : "makediag", {"A"},
      extract ? "Diagonal `offset` of square matrices."
              : "Square matrices with the input vectors as diagonal `offset`.");
  d.params = {{"offset", "int", "0", false,
               "Diagonal: 0 the main one, above it when positive, below when negative."}};
  const std::string op = d.name;
  d.parse = [op](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<MiscParams>();
    ParamReader r(op, attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("offset", &p->offset, 0));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (std::abs(p->offset) > (int64_t{1} << 30)) return r.Error("offset is out of range");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.infer_shape = [op, extract](const OpParams& params, std::vector<InferShape>* in,
                                std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    const Shape& a = *(*in)[0];
    const int64_t k = std::abs(ParamsAs<MiscParams>(params).offset);
    std::vector<int64_t> dims(a.dims().begin(), a.dims().end());
    if (extract) {
      MXGRID_RETURN_IF_ERROR(linalg_internal::CheckMatrices(op, "A", a, true));
      const int64_t len = dims.back() - k;
      if (len <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(op, ": offset ", k, " is too large "
                                                       "for matrices of shape ", a.ToString()));
      }
      dims.pop_back();
      dims.back() = len;
    } else {
      if (dims.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(op, ": A must have at least one dim"));
      }
      dims.back() += k;
      dims.push_back(dims.back());
    }
    return MergeShape(op, "output", Shape(dims), &(*out)[0]);
  };
  // Moves between a matrix tensor `m` and its vectors `v`.
  auto move = [op](const TensorView& from, OpReq req, const TensorView& to, int64_t k,
                   bool to_vector) -> absl::Status {
    const TensorView& mat = to_vector ? from : to;
    const int64_t n = mat.shape[mat.shape.ndim() - 1];
    const int64_t count = n == 0 ? 0 : mat.size() / (n * n);
    MXGRID_ASSIGN_OR_RETURN(std::vector<double> src, LoadFlat(op, from));
    std::vector<double> dst(to.size(), 0.0);
    if (to_vector) {
      CopyDiagonals(&src, &dst, count, n, k, true);
    } else {
      CopyDiagonals(&dst, &src, count, n, k, false);
    }
    return SaveFlat(op, dst, req, to);
  };
  d.forward = [move, extract](const OpContext&, const OpParams& params,
                              absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                              absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return move(in[0], reqs[0], out[0], ParamsAs<MiscParams>(params).offset, extract);
  };
  d.backward = [move, extract](const OpContext&, const OpParams& params,
                               const BackwardArgs& g) -> absl::Status {
    if (g.reqs[0] == OpReq::kNull) return absl::OkStatus();
    return move(g.out_grads[0], g.reqs[0], g.in_grads[0], ParamsAs<MiscParams>(params).offset,
                !extract);
  };
  return d;
}

}  // namespace

absl::Status RegisterLinalgDiagOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(SumLogDiag()));
  MXGRID_RETURN_IF_ERROR(registry->Register(DiagOp(true)));
  return registry->Register(DiagOp(false));
}

}  // namespace mxgrid::ops
