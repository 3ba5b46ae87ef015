// The convolution operator family: Convolution, Deconvolution, Pooling and BatchNorm (MXNet
// 1.x semantics, 1-D and 2-D, channels-first layouts), registered by an explicit call.
//
//   Registry registry;
//   MXGRID_RETURN_IF_ERROR(RegisterConvOps(&registry));
//   MXGRID_ASSIGN_OR_RETURN(ParsedOp conv, registry.Parse("Convolution",
//                                              {{"kernel", "(3, 3)"}, {"num_filter", "8"}}));
//
// CPU kernels: float32 convolution through oneDNN, float64 (and everything else, including
// Deconvolution) through plain loops. Kernels are re-entrant; the registered OpDefs are
// immutable.
#ifndef MXGRID_LIBS_OPS_CONV_CONV_OPS_H_
#define MXGRID_LIBS_OPS_CONV_CONV_OPS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

// Adds the family's operators. AlreadyExists when one is registered already.
absl::Status RegisterConvOps(Registry* registry);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_CONV_CONV_OPS_H_
