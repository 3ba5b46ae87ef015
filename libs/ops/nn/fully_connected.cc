// FullyConnected: out = data · weightᵀ + bias (MXNet src/operator/nn/fully_connected.cc).
#include <memory>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/blas.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "FullyConnected";


absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const AttrMap& attrs) {
  auto p = std::make_shared<FCParams>();
  ParamReader r(kOp, attrs);
  MXGRID_RETURN_IF_ERROR(r.Int("num_hidden", &p->num_hidden));
  MXGRID_RETURN_IF_ERROR(r.Bool("no_bias", &p->no_bias, false));
  MXGRID_RETURN_IF_ERROR(r.Bool("flatten", &p->flatten, true));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (p->num_hidden < 1) return r.Error("num_hidden must be at least 1");
  return std::shared_ptr<const OpParams>(std::move(p));
}

// (rows, num_input) of the data as the kernel sees it.
std::pair<int64_t, int64_t> DataMatrix(const FCParams& p, const Shape& d) {
  int64_t k = p.flatten ? d.ProdRange(1, d.ndim()) : d[d.ndim() - 1];
  return {k == 0 ? 0 : d.Size() / k, k};
}

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<FCParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), p.no_bias ? 2 : 3, out->size(), 1));
  InferShape& data = (*in)[0];
  // As MXNet: nothing is inferred (not even the bias) until the data's rank is known.
  if (!data) return absl::OkStatus();
  if (!p.no_bias) {
    InferShape& bias = (*in)[2];
    if (!(bias && bias->ndim() == 2)) {
      MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "bias", Shape{p.num_hidden}, &bias));
    } else {
      MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "bias", Shape{p.num_hidden, 1}, &bias));
    }
  }
  const Shape& d = *data;
  if (d.ndim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": data must have at least 1 dim"));
  }
  int64_t num_input = -1;
  if (!p.flatten) {
    num_input = d[d.ndim() - 1];
  } else {
    num_input = 1;
    for (int i = 1; i < d.ndim(); ++i) num_input = d[i] < 0 ? -1 : num_input * d[i];
    if (num_input < 0) num_input = -1;
  }
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "weight", Shape{p.num_hidden, num_input}, &(*in)[1]));
  Shape result = d;
  if (p.flatten) {
    result = Shape{d[0], p.num_hidden};
  } else {
    result[d.ndim() - 1] = p.num_hidden;
  }
  MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "output", result, &(*out)[0]));
  // Back-infer the batch (flatten) or leading dims (not flatten) from the output.
  Shape back = d;
  const Shape& o = *(*out)[0];
  if (p.flatten) {
    back[0] = o[0];
  } else {
    for (int i = 0; i + 1 < d.ndim(); ++i) back[i] = o[i];
  }
  return MergeShape(kOp, "data", back, &data);
}

template <typename T>
absl::Status ForwardT(const FCParams& p, absl::Span<const TensorView> in, OpReq req,
                      const TensorView& out) {
  if (req == OpReq::kNull) return absl::OkStatus();
  auto [m, k] = DataMatrix(p, in[0].shape);
  const int64_t n = p.num_hidden;
  T* o = out.as<T>();
  const T beta = req == OpReq::kAddTo ? T(1) : T(0);
  if (m > 0 && k > 0) {
    Gemm(false, true, m, n, k, in[0].as<T>(), k, in[1].as<T>(), k, beta, o, n);
  } else if (beta == T(0)) {
    for (int64_t i = 0; i < m * n; ++i) o[i] = T(0);
  }
  if (!p.no_bias) {
    const T* b = in[2].as<T>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) o[i * n + j] += b[j];
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status BackwardT(const FCParams& p, const BackwardArgs& a) {
  auto [m, k] = DataMatrix(p, a.inputs[0].shape);
  const int n = p.num_hidden;
  const T* og = a.out_grads[0].as<T>();
  auto beta = [](OpReq r) { return r == OpReq::kAddTo ? T(1) : T(0); };
  if (a.reqs[0] != OpReq::kNull && m * k > 0) {  // dX = dY · W
    Gemm(false, false, m, k, n, og, n, a.inputs[1].as<T>(), k, beta(a.reqs[0]),
         a.in_grads[0].as<T>(), k);
  }
  if (a.reqs[1] != OpReq::kNull) {  // dW = dYᵀ · X
    if (m > 0) {
      Gemm(true, false, n, k, m, og, n, a.inputs[0].as<T>(), k, beta(a.reqs[1]),
           a.in_grads[1].as<T>(), k);
    } else if (a.reqs[1] != OpReq::kAddTo) {
      for (int64_t i = 0; i < n * k; ++i) a.in_grads[1].as<T>()[i] = T(0);
    }
  }
  if (!p.no_bias && a.reqs[2] != OpReq::kNull) {
    T* gb = a.in_grads[2].as<T>();
    for (int j = 0; j < n; ++j) {
      T s = 0;
      for (int64_t i = 0; i < m; ++i) s += og[i * n + j];
      Store(a.reqs[2], gb, j, s);
    }
  }
  return absl::OkStatus();
}

}  // namespace

OpDef MakeFullyConnectedOp() {
  OpDef d = NewOp(kOp, "Applies a linear transformation: out = data * weight^T + bias.");
  d.params = {Spec("num_hidden", "int (non-negative)", "", "Number of hidden nodes."),
              Spec("no_bias", "boolean", "False", "Whether to disable bias."),
              Spec("flatten", "boolean", "True", "Whether to collapse all but the first axis.")};
  d.parse = Parse;
  d.input_names = [](const OpParams& params) {
    if (ParamsAs<FCParams>(params).no_bias) return std::vector<std::string>{"data", "weight"};
    return std::vector<std::string>{"data", "weight", "bias"};
  };
  d.infer_shape = Infer;
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    const auto& p = ParamsAs<FCParams>(params);
    return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
      return ForwardT<typename decltype(tag)::type>(p, in, reqs[0], out[0]);
    });
  };
  d.backward = [](const OpContext&, const OpParams& params, const BackwardArgs& a) {
    const auto& p = ParamsAs<FCParams>(params);
    return DispatchFloat(kOp, a.inputs[0].dtype,
                         [&](auto tag) { return BackwardT<typename decltype(tag)::type>(p, a); });
  };
  d.backward_deps.inputs = true;
  return d;
}

}  // namespace mxgrid::ops::nn
