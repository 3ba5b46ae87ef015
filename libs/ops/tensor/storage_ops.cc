// Storage-type operators as MXNet 1.9.1 (src/operator/tensor/cast_storage.cc,
// sparse_retain.cc), on dense arrays. The worker runs them on row_sparse and csr arrays
// through libs/executor/sparse_invoke; these kernels are their dense forms, which graphs and
// dense arguments use:
// - cast_storage(data, stype): the values unchanged (a dense array is its own dense form;
//   the sparse forms hold the same values). Gradient: the head gradient.
// - _sparse_retain(data, indices): data's rows at `indices` (row ids, any numeric dtype),
//   every other row zero. Gradient: the head gradient's rows at `indices`; none for indices.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::CopyWithReq;
using tensor_internal::DispatchNumeric;
using tensor_internal::ElemwiseShapes;
using tensor_internal::kNoDeps;
using tensor_internal::Unify;

struct CastStorageParams : OpParams {
  std::string stype;
};

OpDef CastStorage() {
  OpDef d;
  d.name = "cast_storage";
  d.description = "The data in storage type stype (default, row_sparse or csr); the same "
                  "values.";
  d.params.push_back({"stype", "{'csr', 'default', 'row_sparse'}", "", true,
                      "Output storage type."});
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<CastStorageParams>();
    ParamReader r("cast_storage", attrs);
    MXGRID_RETURN_IF_ERROR(r.Enum("stype", &p->stype, {"csr", "default", "row_sparse"}));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(ElemwiseShapes("cast_storage", in, out));
    const InferShape& s = (*in)[0] ? (*in)[0] : (*out)[0];
    if (s && ParamsAs<CastStorageParams>(params).stype == "csr" && s->ndim() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("cast_storage: csr arrays are 2-D, got shape ", s->ToString()));
    }
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return CopyWithReq("cast_storage", in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return CopyWithReq("cast_storage", a.out_grads[0], a.reqs[0], a.in_grads[0]);
  };
  d.backward_deps = kNoDeps;
  d.inplace = {{0, 0}};
  return d;
}

// Which of `rows` rows `indices` names; InvalidArgument for an id outside [0, rows).
absl::StatusOr<std::vector<char>> Kept(const TensorView& indices, int64_t rows) {
  std::vector<char> keep(static_cast<size_t>(rows), 0);
  MXGRID_RETURN_IF_ERROR(DispatchNumeric("_sparse_retain", indices.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < indices.size(); ++i) {
      const double v = ToDouble(indices.as<T>()[i]);
      if (!(v >= 0 && v < static_cast<double>(rows))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "_sparse_retain: row id ", v, " is outside [0, ", rows, ")"));
      }
      keep[static_cast<size_t>(v)] = 1;
    }
    return absl::OkStatus();
  }));
  return keep;
}

// dst = (or +=) the rows of src that `keep` marks, zeros elsewhere.
absl::Status RetainRows(const TensorView& src, const std::vector<char>& keep, OpReq req,
                        const TensorView& dst) {
  if (req == OpReq::kNull) return absl::OkStatus();
  const int64_t row = src.shape.ndim() > 0 ? src.shape.ProdRange(1, src.shape.ndim()) : 1;
  return DispatchNumeric("_sparse_retain", src.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* s = src.as<T>();
    T* d = dst.as<T>();
    for (size_t r = 0; r < keep.size(); ++r) {
      for (int64_t j = 0; j < row; ++j) {
        const int64_t i = static_cast<int64_t>(r) * row + j;
        const T v = keep[r] ? s[i] : T(0);
        if (req == OpReq::kAddTo) {
          d[i] += v;
        } else {
          d[i] = v;
        }
      }
    }
    return absl::OkStatus();
  });
}

OpDef SparseRetain() {
  OpDef d;
  d.name = "_sparse_retain";
  d.description = "data's rows at the row ids `indices`; every other row zero (row_sparse "
                  "data keeps exactly those rows).";
  d.parse = [](const AttrMap& attrs) {
    return tensor_internal::ParseNoParams("_sparse_retain", attrs);
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data", "indices"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if ((*in)[0] && (*in)[0]->ndim() < 1) {
      return absl::InvalidArgumentError("_sparse_retain: data needs ndim >= 1");
    }
    if ((*in)[1] && (*in)[1]->ndim() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("_sparse_retain: indices must be 1-D, got ",
                                                     (*in)[1]->ToString()));
    }
    if ((*out)[0] && !(*in)[0]) (*in)[0] = (*out)[0];
    if (!(*in)[0]) return absl::OkStatus();
    return Unify("_sparse_retain", "output 0", *(*in)[0], &(*out)[0]);
  };
  d.infer_type = [](const OpParams&, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    if (!(*in)[0]) (*in)[0] = (*out)[0];
    if (!(*out)[0]) (*out)[0] = (*in)[0];
    if (!(*in)[1]) (*in)[1] = DType::kInt64;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::vector<char> keep, Kept(in[1], in[0].shape[0]));
    return RetainRows(in[0], keep, reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::vector<char> keep, Kept(a.inputs[1], a.out_grads[0].shape[0]));
    MXGRID_RETURN_IF_ERROR(RetainRows(a.out_grads[0], keep, a.reqs[0], a.in_grads[0]));
    if (a.reqs[1] != OpReq::kNull && a.reqs[1] != OpReq::kAddTo && a.in_grads[1].size() > 0) {
      std::memset(a.in_grads[1].data, 0, a.in_grads[1].size() * DTypeSize(a.in_grads[1].dtype));
    }
    return absl::OkStatus();
  };
  d.backward_deps = tensor_internal::kInputDeps;
  return d;
}

}  // namespace

absl::Status RegisterStorageOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(CastStorage()));
  return registry->Register(SparseRetain());
}

}  // namespace mxgrid::ops
