// Indexing ops: one_hot (indices → depth-wide rows, no gradient), Embedding (rows of weight
// picked by data; the gradient goes to weight only) and where (condition ? x : y).
#include <algorithm>
#include <cmath>
#include <optional>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/index_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::DispatchReal;
using ops::Store;
using tensor_internal::EmbeddingParams;
using tensor_internal::OneHotParams;
using tensor_internal::Unify;

// Integer value of index element i of `v` (any numeric dtype), truncated toward zero.
absl::StatusOr<std::vector<int64_t>> Indices(const char* op, const TensorView& v) {
  std::vector<int64_t> idx(v.size());
  MXGRID_RETURN_IF_ERROR(DispatchNumeric(op, v.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (size_t i = 0; i < idx.size(); ++i) {
      idx[i] = static_cast<int64_t>(std::trunc(static_cast<double>(v.as<T>()[i])));
    }
    return absl::OkStatus();
  }));
  return idx;
}

// `s` with `last` appended.
Shape Append(const Shape& s, int64_t last) {
  std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
  dims.push_back(last);
  return Shape(dims);
}


OpDef OneHot() {
  OpDef d;
  d.name = "one_hot";
  d.description = "Rows of depth off_value with on_value at each index (none if outside).";
  d.params = {{"depth", "int", "", true, "Depth of the one hot dimension."},
              {"on_value", "double", "1", false, "Value at the index."},
              {"off_value", "double", "0", false, "Value elsewhere."},
              {"dtype", "{'float32', ...}", "float32", false, "Output dtype."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<OneHotParams>();
    ParamReader r("one_hot", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("depth", &p->depth));
    MXGRID_RETURN_IF_ERROR(r.Float("on_value", &p->on_value, 1.0));
    MXGRID_RETURN_IF_ERROR(r.Float("off_value", &p->off_value, 0.0));
    MXGRID_RETURN_IF_ERROR(r.DTypeName("dtype", &p->dtype));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->depth < 1) return r.Error("parameter 'depth' must be positive");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"indices"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& p, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    return Unify("one_hot", "output 0", Append(*(*in)[0], ParamsAs<OneHotParams>(p).depth),
                 &(*out)[0]);
  };
  d.infer_type = [](const OpParams& p, std::vector<InferType>* in, std::vector<InferType>* out) {
    (*out)[0] = ParamsAs<OneHotParams>(p).dtype;
    if (!(*in)[0]) (*in)[0] = DType::kFloat32;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<OneHotParams>(params);
    MXGRID_ASSIGN_OR_RETURN(auto idx, Indices("one_hot", in[0]));
    return DispatchNumeric("one_hot", out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* y = out[0].as<T>();
      for (size_t i = 0; i < idx.size(); ++i) {
        for (int64_t j = 0; j < p.depth; ++j) {
          const double v = idx[i] == j ? p.on_value : p.off_value;
          Store(reqs[0], y, i * p.depth + j, FromDouble<T>(v));
        }
      }
      return absl::OkStatus();
    });
  };
  return d;  // No gradient.
}


// Embedding, or (sparse_contrib) MXNet's _contrib_SparseEmbedding: the same lookup whose
// weight gradient MXNet keeps row_sparse (here dense, as the executor's arrays are), with
// `deterministic` in place of `sparse_grad`.
OpDef Embedding(bool sparse_contrib = false) {
  OpDef d;
  d.name = sparse_contrib ? "_contrib_SparseEmbedding" : "Embedding";
  d.description = "Maps indices to rows of weight (input_dim, output_dim); indices clip.";
  d.params = {{"input_dim", "int", "", true, "Vocabulary size."},
              {"output_dim", "int", "", true, "Embedding width."},
              {"dtype", "{'float32', ...}", "float32", false, "Weight dtype."}};
  if (sparse_contrib) {
    d.params.push_back({"deterministic", "boolean", "0", false,
                        "Deterministic gradient (the gradient here always is)."});
  } else {
    d.params.push_back(
        {"sparse_grad", "boolean", "0", false, "Row-sparse gradient (dense here)."});
  }
  d.parse = [sparse_contrib](const AttrMap& attrs)
      -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<EmbeddingParams>();
    ParamReader r(sparse_contrib ? "_contrib_SparseEmbedding" : "Embedding", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("input_dim", &p->input_dim));
    MXGRID_RETURN_IF_ERROR(r.Int("output_dim", &p->output_dim));
    MXGRID_RETURN_IF_ERROR(r.DTypeName("dtype", &p->dtype));
    bool unused = false;
    MXGRID_RETURN_IF_ERROR(r.Bool(sparse_contrib ? "deterministic" : "sparse_grad",
                                  sparse_contrib ? &unused : &p->sparse_grad, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->input_dim < 1 || p->output_dim < 1) {
      return r.Error("'input_dim' and 'output_dim' must be positive");
    }
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data", "weight"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    const auto& p = ParamsAs<EmbeddingParams>(params);
    MXGRID_RETURN_IF_ERROR(
        Unify("Embedding", "input 1", Shape{p.input_dim, p.output_dim}, &(*in)[1]));
    if (!(*in)[0]) return absl::OkStatus();  // unknown dims of data stay unknown
    return Unify("Embedding", "output 0", Append(*(*in)[0], p.output_dim), &(*out)[0]);
  };
  d.infer_type = [](const OpParams& p, std::vector<InferType>* in, std::vector<InferType>* out) {
    const InferType t = ParamsAs<EmbeddingParams>(p).dtype;
    (*in)[1] = t;
    (*out)[0] = t;
    if (!(*in)[0]) (*in)[0] = t;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<EmbeddingParams>(params);
    MXGRID_ASSIGN_OR_RETURN(auto idx, Indices("Embedding", in[0]));
    return DispatchReal("Embedding", in[1].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* w = in[1].as<T>();
      T* y = out[0].as<T>();
      for (size_t i = 0; i < idx.size(); ++i) {
        const int64_t row = std::clamp<int64_t>(idx[i], 0, p.input_dim - 1);
        for (int64_t j = 0; j < p.output_dim; ++j) {
          Store(reqs[0], y, i * p.output_dim + j, w[row * p.output_dim + j]);
        }
      }
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    const auto& p = ParamsAs<EmbeddingParams>(params);
    if (a.reqs[0] != OpReq::kNull && a.reqs[0] != OpReq::kAddTo) {
      const TensorView& g = a.in_grads[0];
      std::fill_n(static_cast<uint8_t*>(g.data), g.size() * DTypeSize(g.dtype), 0);
    }
    if (a.reqs[1] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(auto idx, Indices("Embedding", a.inputs[0]));
    return DispatchReal("Embedding", a.in_grads[1].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* dw = a.in_grads[1].as<T>();
      const T* dy = a.out_grads[0].as<T>();
      if (a.reqs[1] != OpReq::kAddTo) std::fill(dw, dw + a.in_grads[1].size(), T(0));
      for (size_t i = 0; i < idx.size(); ++i) {
        const int64_t row = std::clamp<int64_t>(idx[i], 0, p.input_dim - 1);
        for (int64_t j = 0; j < p.output_dim; ++j) {
          dw[row * p.output_dim + j] += dy[i * p.output_dim + j];
        }
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = tensor_internal::kInputDeps;
  return d;
}

}  // namespace


absl::Status RegisterIndexOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(OneHot()));
  MXGRID_RETURN_IF_ERROR(registry->Register(Embedding()));
  MXGRID_RETURN_IF_ERROR(registry->Register(Embedding(/*sparse_contrib=*/true)));
  return RegisterWhere(registry);
}

}  // namespace mxgrid::ops
