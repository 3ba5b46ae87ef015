// The tensor operator family: MXNet's elementwise, scalar, unary, aggregation, broadcast,
// reduction, shape-manipulation, dot and indexing operators (src/operator/tensor/).
//
//   Registry registry;
//   MXGRID_RETURN_IF_ERROR(RegisterTensorOps(&registry));
//   registry.Parse("elemwise_add", {});
//
// Kernels are CPU, float32/float64 (copies, casts, slicing, broadcasting, power and the
// comparisons also integer dtypes), honour OpReq for
// outputs and input gradients, and are re-entrant. Registration is explicit.
#ifndef MXGRID_LIBS_OPS_TENSOR_TENSOR_OPS_H_
#define MXGRID_LIBS_OPS_TENSOR_TENSOR_OPS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

// Registers every tensor op; AlreadyExists when a name is taken.
absl::Status RegisterTensorOps(Registry* registry);

// The families, one per source file (RegisterTensorOps calls them all).
absl::Status RegisterElemwiseBinaryOps(Registry* registry);
absl::Status RegisterElemwiseScalarOps(Registry* registry);
absl::Status RegisterUnaryOps(Registry* registry);
// sin ... arctanh, degrees, radians, rounding, rsqrt, cbrt, rcbrt, erf, erfinv, gamma,
// gammaln, log1p, expm1, log2, log10, logical_not.
absl::Status RegisterUnaryMathOps(Registry* registry);
absl::Status RegisterAggregateOps(Registry* registry);
absl::Status RegisterBroadcastOps(Registry* registry);
absl::Status RegisterBroadcastToOps(Registry* registry);  // broadcast_to, broadcast_like
absl::Status RegisterReduceOps(Registry* registry);
absl::Status RegisterMatrixOps(Registry* registry);
absl::Status RegisterConcatSliceOps(Registry* registry);
absl::Status RegisterSliceOp(Registry* registry);  // slice [crop]
// _slice_assign [_crop_assign], _slice_assign_scalar [_crop_assign_scalar].
absl::Status RegisterSliceAssignOps(Registry* registry);
absl::Status RegisterDotOps(Registry* registry);
absl::Status RegisterIndexOps(Registry* registry);  // includes RegisterWhere
absl::Status RegisterWhere(Registry* registry);
// tile, repeat, reverse, SwapAxis, broadcast_axis, stack.
absl::Status RegisterShapeOps(Registry* registry);
// take, pick, batch_take.
absl::Status RegisterTakePickOps(Registry* registry);
// topk, sort, argsort.
absl::Status RegisterSortOps(Registry* registry);
// gather_nd, scatter_nd, _scatter_set_nd, diag, slice_like.
absl::Status RegisterGatherNdOps(Registry* registry);
absl::Status RegisterNormOp(Registry* registry);  // norm
// reshape_like, _identity_with_attr_like_rhs, shape_array, size_array.
absl::Status RegisterLikeOps(Registry* registry);
// cast_storage, _sparse_retain (their dense forms).
absl::Status RegisterStorageOps(Registry* registry);
absl::Status RegisterSquareSumOp(Registry* registry);  // _square_sum
// _zeros, _ones, _full, _arange, _linspace.
absl::Status RegisterInitOps(Registry* registry);
// depth_to_space, space_to_depth.
absl::Status RegisterDepthSpaceOps(Registry* registry);
absl::Status RegisterSplitV2Op(Registry* registry);  // _split_v2
absl::Status RegisterFillElementOp(Registry* registry);  // fill_element_0index

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_TENSOR_TENSOR_OPS_H_
