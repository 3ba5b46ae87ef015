// dot and batch_dot (transpose_a, transpose_b) on ops::Gemm (blas.h).
//
// dot views lhs as (M, K) (or stored (K, M) with transpose_a: its first axis is contracted)
// and rhs as (K, N) (stored (N, K) with transpose_b); the output keeps the uncontracted
// axes of both, (1,) for vector.vector. batch_dot does the same per batch of 3-d inputs.
#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>

#include "libs/ops/blas.h"
#include "libs/ops/tensor/dot_params.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

absl::StatusOr<DotShape> DotDims(const char* op, const DotParams& p, const Shape& l,
                                 const Shape& r, bool batched) {
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": lhs ", l.ToString(), " and rhs ",
                                                   r.ToString(), " ", why));
  };
  if (batched && (l.ndim() != 3 || r.ndim() != 3)) return bad("must both be 3-d");
  if (batched && l[0] != r[0]) return bad("have different batch sizes");
  if (l.ndim() == 0 || r.ndim() == 0) return bad("must not be scalars");
  const int s = batched ? 1 : 0;
  DotShape d;
  d.batch = batched ? l[0] : 1;
  d.k = p.transpose_a ? l[s] : l[l.ndim() - 1];
  d.m = l.ProdRange(s, l.ndim()) / std::max<int64_t>(d.k, 1);
  const int64_t rk = p.transpose_b ? r[r.ndim() - 1] : r[s];
  if (rk != d.k) {
    return bad(absl::StrCat("do not match (contracted lengths ", d.k, " and ", rk, ")"));
  }
  d.n = r.ProdRange(s, r.ndim()) / std::max<int64_t>(d.k, 1);
  if (d.k == 0) {
    d.m = p.transpose_a ? l.ProdRange(s + 1, l.ndim()) : l.ProdRange(s, l.ndim() - 1);
    d.n = p.transpose_b ? r.ProdRange(s, r.ndim() - 1) : r.ProdRange(s + 1, r.ndim());
  }
  return d;
}

}  // namespace tensor_internal

namespace {

using tensor_internal::DispatchReal;
using tensor_internal::Unify;

using tensor_internal::DotDims;
using tensor_internal::DotParams;
using Dims = tensor_internal::DotShape;

// C(M, N) (=|+=) op(A) op(B); A stored (M, K) or, with ta, (K, M); B stored (K, N) or (N, K).
template <typename T>
void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c,
          OpReq req) {
  if (req == OpReq::kNull) return;
  const T beta = req == OpReq::kAddTo ? T(1) : T(0);
  if (k == 0) {
    if (beta == T(0)) std::fill(c, c + m * n, T(0));
    return;
  }
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  ops::Gemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, n);
}

// The output shape of dot / batch_dot when some input dims are unknown (-1), as MXNet's
// DotShape / BatchDotShape infer it: the kept dims pass through, known or not; the
// contracted dims are checked when known. batch_dot infers nothing until the last dim of lhs
// and the second last of rhs are known (MXNet's rule). Nullopt: nothing to infer yet.
absl::StatusOr<std::optional<Shape>> PartialDotShape(const std::string& name, const DotParams& p,
                                                     const Shape& l, const Shape& r,
                                                     bool batched) {
  auto mismatch = [&] {
    return absl::InvalidArgumentError(absl::StrCat(name, ": shape mismatch ", l.ToString(),
                                                   " x ", r.ToString()));
  };
  if (batched) {
    if (l.ndim() != 3 || r.ndim() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " needs 3-d inputs, got ", l.ToString(), " and ", r.ToString()));
    }
    if (l[2] < 0 || r[1] < 0) return std::optional<Shape>();
    const int64_t lk = p.transpose_a ? l[1] : l[2], rk = p.transpose_b ? r[2] : r[1];
    if (lk >= 0 && rk >= 0 && lk != rk) return mismatch();
    if (l[0] >= 0 && r[0] >= 0 && l[0] != r[0]) return mismatch();
    const int64_t batch = l[0] >= 0 ? l[0] : r[0];
    return std::optional<Shape>(
        Shape{batch, p.transpose_a ? l[2] : l[1], p.transpose_b ? r[1] : r[2]});
  }
  if (l.ndim() == 0 || r.ndim() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": scalar inputs are not supported"));
  }
  if (l.ndim() == 1 && r.ndim() == 1) {
    if (l[0] >= 0 && r[0] >= 0 && l[0] != r[0]) return mismatch();
    return std::optional<Shape>(Shape{1});
  }
  // The contracted dim: lhs's first when transposed, else its last; rhs's last when
  // transposed, else its first.
  const int64_t lk = p.transpose_a ? l[0] : l[l.ndim() - 1];
  const int64_t rk = p.transpose_b ? r[r.ndim() - 1] : r[0];
  if (lk >= 0 && rk >= 0 && lk != rk) return mismatch();
  std::vector<int64_t> dims;
  if (l.ndim() > 1) {
    for (int i = p.transpose_a ? 1 : 0; i < l.ndim() - (p.transpose_a ? 0 : 1); ++i) {
      dims.push_back(l[i]);
    }
  }
  if (r.ndim() > 1) {
    for (int i = p.transpose_b ? 0 : 1; i < r.ndim() - (p.transpose_b ? 1 : 0); ++i) {
      dims.push_back(r[i]);
    }
  }
  return std::optional<Shape>(Shape(dims));
}

OpDef DotOp(const char* name, bool batched) {
  OpDef d;
  d.name = name;
  d.description = batched ? "Batched matrix product of 3-d arrays." : "Dot product.";
  d.params = {{"transpose_a", "boolean", "0", false, "Transpose lhs before the product."},
              {"transpose_b", "boolean", "0", false, "Transpose rhs before the product."}};
  d.parse = [name](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<DotParams>();
    ParamReader r(name, attrs);
    MXGRID_RETURN_IF_ERROR(r.Bool("transpose_a", &p->transpose_a, false));
    MXGRID_RETURN_IF_ERROR(r.Bool("transpose_b", &p->transpose_b, false));
    std::string stype;
    MXGRID_RETURN_IF_ERROR(r.Enum("forward_stype", &stype, {"None", "default"}, "None"));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, batched](const OpParams& params, std::vector<InferShape>* in,
                                  std::vector<InferShape>* out) -> absl::Status {
    if (!(*in)[0] || !(*in)[1]) return absl::OkStatus();
    const auto& p = ParamsAs<DotParams>(params);
    const Shape &l = *(*in)[0], &r = *(*in)[1];
    if (!IsKnown((*in)[0]) || !IsKnown((*in)[1])) {
      // Partial shapes, as MXNet: unknown dims (-1) pass to the output.
      MXGRID_ASSIGN_OR_RETURN(std::optional<Shape> partial,
                              PartialDotShape(name, p, l, r, batched));
      if (!partial) return absl::OkStatus();
      return Unify(name, "output 0", *partial, &(*out)[0]);
    }
    MXGRID_RETURN_IF_ERROR(DotDims(name, p, l, r, batched).status());
    std::vector<int64_t> dims;
    if (batched) {
      dims = {l[0], p.transpose_a ? l[2] : l[1], p.transpose_b ? r[1] : r[2]};
    } else {
      for (int i = p.transpose_a ? 1 : 0; i < l.ndim() - (p.transpose_a ? 0 : 1); ++i) {
        dims.push_back(l[i]);
      }
      for (int i = p.transpose_b ? 0 : 1; i < r.ndim() - (p.transpose_b ? 1 : 0); ++i) {
        dims.push_back(r[i]);
      }
      if (dims.empty()) dims = {1};
    }
    return Unify(name, "output 0", Shape(dims), &(*out)[0]);
  };
  d.forward = [name, batched](const OpContext&, const OpParams& params,
                              absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                              absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<DotParams>(params);
    MXGRID_ASSIGN_OR_RETURN(Dims dm, DotDims(name, p, in[0].shape, in[1].shape, batched));
    return DispatchReal(name, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t b = 0; b < dm.batch; ++b) {
        Gemm(p.transpose_a, p.transpose_b, dm.m, dm.n, dm.k, in[0].as<T>() + b * dm.m * dm.k,
             in[1].as<T>() + b * dm.k * dm.n, out[0].as<T>() + b * dm.m * dm.n, reqs[0]);
      }
      return absl::OkStatus();
    });
  };
  d.backward = [name, batched](const OpContext&, const OpParams& params,
                               const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<DotParams>(params);
    const bool ta = p.transpose_a, tb = p.transpose_b;
    MXGRID_ASSIGN_OR_RETURN(Dims dm, DotDims(name, p, a.inputs[0].shape, a.inputs[1].shape,
                                             batched));
    const bool want_l = a.reqs[0] != OpReq::kNull, want_r = a.reqs[1] != OpReq::kNull;
    return DispatchReal(name, a.out_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const int64_t m = dm.m, n = dm.n, k = dm.k;
      for (int64_t b = 0; b < dm.batch; ++b) {
        const T* lhs = a.inputs[0].as<T>() + b * m * k;
        const T* rhs = a.inputs[1].as<T>() + b * k * n;
        const T* dc = a.out_grads[0].as<T>() + b * m * n;
        // A kNull gradient's data may be null: no GEMM and no pointer into it.
        if (want_l) {
          T* dl = a.in_grads[0].as<T>() + b * m * k;
          if (!ta) {
            Gemm(false, !tb, m, k, n, dc, rhs, dl, a.reqs[0]);  // dA = dC op(B)^T
          } else {
            Gemm(tb, true, k, m, n, rhs, dc, dl, a.reqs[0]);  // dA^T = op(B) dC^T
          }
        }
        if (want_r) {
          T* dr = a.in_grads[1].as<T>() + b * k * n;
          if (!tb) {
            Gemm(!ta, false, k, n, m, lhs, dc, dr, a.reqs[1]);  // dB = op(A)^T dC
          } else {
            Gemm(true, ta, n, k, m, dc, lhs, dr, a.reqs[1]);  // dB^T = dC^T op(A)
          }
        }
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = tensor_internal::kInputDeps;
  return d;
}

}  // namespace

absl::Status RegisterDotOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(DotOp("dot", /*batched=*/false)));
  return registry->Register(DotOp("batch_dot", /*batched=*/true));
}

}  // namespace mxgrid::ops
