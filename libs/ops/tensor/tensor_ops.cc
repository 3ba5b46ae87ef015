#include "libs/ops/tensor/tensor_ops.h"

#include "libs/base/status_macros.h"

namespace mxgrid::ops {

absl::Status RegisterTensorOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(RegisterElemwiseBinaryOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterElemwiseScalarOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterUnaryOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterUnaryMathOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterAggregateOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterBroadcastOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterBroadcastToOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterReduceOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterMatrixOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterConcatSliceOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterSliceOp(registry));
  MXGRID_RETURN_IF_ERROR(RegisterSliceAssignOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterDotOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterIndexOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterShapeOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterTakePickOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterSortOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterGatherNdOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterNormOp(registry));
  MXGRID_RETURN_IF_ERROR(RegisterLikeOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterStorageOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterSquareSumOp(registry));
  MXGRID_RETURN_IF_ERROR(RegisterInitOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterDepthSpaceOps(registry));
  MXGRID_RETURN_IF_ERROR(RegisterSplitV2Op(registry));
  MXGRID_RETURN_IF_ERROR(RegisterFillElementOp(registry));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
