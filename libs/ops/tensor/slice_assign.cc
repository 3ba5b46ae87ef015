// The slice-assign family, as MXNet 1.9.1 defines it: _slice_assign [_crop_assign] writes
// `rhs` into the strided region lhs[begin:end:step] of a copy of `lhs`;
// _slice_assign_scalar [_crop_assign_scalar] writes `scalar` (cast to the array's dtype as
// MXNet's DType(scalar)) there. Everything outside the region is lhs's. Both are meant to
// run with out=lhs (NDArray.__setitem__), which the in-place option allows without a copy.
// The region's geometry is slice's (slice_util.h). As in MXNet, neither has a gradient.
// Every numeric dtype; output requests kWriteTo/kWriteInplace (kAddTo is refused).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/int_math.h"
#include "libs/ops/tensor/slice_util.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::ComputeSliceRanges;
using tensor_internal::DispatchNumeric;
using tensor_internal::ForEachSliced;
using tensor_internal::SliceAssignScalarParams;
using tensor_internal::SliceParams;
using tensor_internal::SliceRanges;
using tensor_internal::Unify;

constexpr char kAssign[] = "_slice_assign";
constexpr char kAssignScalar[] = "_slice_assign_scalar";

absl::StatusOr<std::shared_ptr<const OpParams>> ParseAssign(const AttrMap& attrs) {
  auto p = std::make_shared<SliceParams>();
  AttrMap rest;
  MXGRID_RETURN_IF_ERROR(tensor_internal::ReadSliceParams(kAssign, attrs, p.get(), &rest));
  MXGRID_RETURN_IF_ERROR(ParamReader(kAssign, rest).Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::StatusOr<std::shared_ptr<const OpParams>> ParseAssignScalar(const AttrMap& attrs) {
  auto p = std::make_shared<SliceAssignScalarParams>();
  AttrMap rest;
  MXGRID_RETURN_IF_ERROR(
      tensor_internal::ReadSliceParams(kAssignScalar, attrs, p.get(), &rest));
  ParamReader r(kAssignScalar, rest);
  MXGRID_RETURN_IF_ERROR(r.Float("scalar", &p->scalar, 0.0));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

const std::vector<ParamSpec>& SliceParamSpecs() {
  static const auto* specs = new std::vector<ParamSpec>{
      {"begin", "Shape(tuple)", "", true, "Starting indices (int or None per axis)."},
      {"end", "Shape(tuple)", "", true, "Ending indices, exclusive (int or None per axis)."},
      {"step", "Shape(tuple)", "[]", false, "Step per axis (int or None; default 1)."}};
  return *specs;
}

// Copies `lhs` into `out` unless they are the same memory; InvalidArgument for kAddTo.
absl::Status CopyBase(const char* op, const TensorView& lhs, OpReq req, const TensorView& out) {
  if (req == OpReq::kAddTo) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": the output cannot be accumulated into (grad_req 'add'); write it instead"));
  }
  if (out.data != lhs.data && out.size() > 0) {
    std::memmove(out.data, lhs.data, out.size() * DTypeSize(out.dtype));
  }
  return absl::OkStatus();
}

OpDef SliceAssign() {
  OpDef d;
  d.name = kAssign;
  d.aliases = {"_crop_assign"};
  d.description =
      "lhs with the region lhs[begin:end:step] replaced by rhs (of the region's shape); "
      "meant for out=lhs.";
  d.params = SliceParamSpecs();
  d.parse = ParseAssign;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"lhs", "rhs"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& p, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(Unify(kAssign, "lhs", (*out)[0], &(*in)[0]));
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(
        SliceRanges r, ComputeSliceRanges(kAssign, ParamsAs<SliceParams>(p), *(*in)[0]));
    MXGRID_RETURN_IF_ERROR(Unify(kAssign, "rhs (the sliced region)", r.out, &(*in)[1]));
    return Unify(kAssign, "output 0", (*in)[0], &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& p, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(
        SliceRanges r, ComputeSliceRanges(kAssign, ParamsAs<SliceParams>(p), in[0].shape));
    MXGRID_RETURN_IF_ERROR(CopyBase(kAssign, in[0], reqs[0], out[0]));
    return DispatchNumeric(kAssign, out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* v = in[1].as<T>();
      T* y = out[0].as<T>();
      ForEachSliced(r, out[0].shape, [&](int64_t k, int64_t off) { y[off] = v[k]; });
      return absl::OkStatus();
    });
  };
  d.inplace = {{0, 0}};
  return d;
}

OpDef SliceAssignScalar() {
  OpDef d;
  d.name = kAssignScalar;
  d.aliases = {"_crop_assign_scalar"};
  d.description =
      "data with the region data[begin:end:step] set to `scalar`; meant for out=data.";
  d.params = SliceParamSpecs();
  d.params.insert(d.params.begin(),
                  {"scalar", "double", "0", false, "The value to assign."});
  d.parse = ParseAssignScalar;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& p, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(Unify(kAssignScalar, "data", (*out)[0], &(*in)[0]));
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    // Validates the region against the shape.
    MXGRID_RETURN_IF_ERROR(
        ComputeSliceRanges(kAssignScalar, ParamsAs<SliceParams>(p), *(*in)[0]).status());
    return Unify(kAssignScalar, "output 0", (*in)[0], &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& op, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<SliceAssignScalarParams>(op);
    MXGRID_ASSIGN_OR_RETURN(SliceRanges r, ComputeSliceRanges(kAssignScalar, p, in[0].shape));
    MXGRID_RETURN_IF_ERROR(CopyBase(kAssignScalar, in[0], reqs[0], out[0]));
    return DispatchNumeric(kAssignScalar, out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = tensor_internal::MXCast<T>(p.scalar);
      T* y = out[0].as<T>();
      ForEachSliced(r, out[0].shape, [&](int64_t, int64_t off) { y[off] = v; });
      return absl::OkStatus();
    });
  };
  d.inplace = {{0, 0}};
  return d;
}

}  // namespace

absl::Status RegisterSliceAssignOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(SliceAssign()));
  return registry->Register(SliceAssignScalar());
}

}  // namespace mxgrid::ops
