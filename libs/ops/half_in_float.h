// float16 / bfloat16 for every operator: a call whose arrays include half-precision ones
// runs the operator's float32 kernel on float32 copies of them, and rounds its results back
// once (as MXNet's CPU kernels do, which compute half_t arithmetic in float). Calls without
// half-precision arrays go straight to the kernel.
//
//   OpDef def = ...;
//   ComputeHalfInFloat(&def);  // Registry::Register does this unless def.native_half
//
// Inputs the forward kernel writes (auxiliary states, OpDef::mutate_indices) and outputs are
// copied back; an output or gradient with OpReq::kAddTo starts from its current value.
#ifndef MXGRID_LIBS_OPS_HALF_IN_FLOAT_H_
#define MXGRID_LIBS_OPS_HALF_IN_FLOAT_H_

#include "libs/ops/op.h"

namespace mxgrid::ops {

// Wraps def->forward and def->backward (when set) as described above.
void ComputeHalfInFloat(OpDef* def);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_HALF_IN_FLOAT_H_
