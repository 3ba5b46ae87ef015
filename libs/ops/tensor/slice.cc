// slice [crop]: the strided sub-array data[b0:e0:s0, b1:e1:s1, ...] with Python semantics
// (negative indices count from the end, None takes the default for the step's direction,
// out-of-range bounds clip), exactly as MXNet 1.9.1's GetIndexRange and
// SetSliceOpOutputDimSize compute it: axes past len(begin) are kept whole, an empty range
// gives a 0-length dim. Forward and backward take every numeric dtype; the backward writes
// the head gradient at the sliced positions and zero elsewhere.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/slice_util.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::Unify;
using tensor_internal::ComputeSliceRanges;
using tensor_internal::ForEachSliced;
using tensor_internal::SliceParams;
using tensor_internal::SliceRanges;

constexpr char kOp[] = "slice";

absl::StatusOr<std::shared_ptr<const OpParams>> ParseSlice(const AttrMap& attrs) {
  auto p = std::make_shared<SliceParams>();
  AttrMap rest;
  MXGRID_RETURN_IF_ERROR(tensor_internal::ReadSliceParams(kOp, attrs, p.get(), &rest));
  MXGRID_RETURN_IF_ERROR(ParamReader(kOp, rest).Finish());  // only unknown keys are left
  return std::shared_ptr<const OpParams>(std::move(p));
}

}  // namespace

absl::Status RegisterSliceOp(Registry* registry) {
  OpDef d;
  d.name = kOp;
  d.aliases = {"crop"};
  d.description = "data[begin:end:step] per axis (Python slicing; None takes the default).";
  d.params = {
      {"begin", "Shape(tuple)", "", true, "Starting indices (int or None per axis)."},
      {"end", "Shape(tuple)", "", true, "Ending indices, exclusive (int or None per axis)."},
      {"step", "Shape(tuple)", "[]", false, "Step per axis (int or None; default 1)."}};
  d.parse = ParseSlice;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& p, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(SliceRanges r,
                            ComputeSliceRanges(kOp, ParamsAs<SliceParams>(p), *(*in)[0]));
    return Unify(kOp, "output 0", r.out, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& p, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(SliceRanges r,
                            ComputeSliceRanges(kOp, ParamsAs<SliceParams>(p), in[0].shape));
    return DispatchNumeric(kOp, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      T* y = out[0].as<T>();
      ForEachSliced(r, in[0].shape, [&](int64_t k, int64_t off) { Store(reqs[0], y, k, x[off]); });
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& p, const BackwardArgs& a) -> absl::Status {
    const OpReq req = a.reqs[0];
    if (req == OpReq::kNull) return absl::OkStatus();
    const TensorView& dx = a.in_grads[0];
    MXGRID_ASSIGN_OR_RETURN(SliceRanges r,
                            ComputeSliceRanges(kOp, ParamsAs<SliceParams>(p), dx.shape));
    return DispatchNumeric(kOp, dx.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* dy = a.out_grads[0].as<T>();
      T* g = dx.as<T>();
      if (req != OpReq::kAddTo) std::fill(g, g + dx.size(), T(0));
      ForEachSliced(r, dx.shape, [&](int64_t k, int64_t off) { g[off] += dy[k]; });
      return absl::OkStatus();
    });
  };
  return registry->Register(std::move(d));
}

}  // namespace mxgrid::ops
