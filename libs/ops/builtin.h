// The registry of every built-in operator family (nn/, tensor/, conv/, optimizer/), built on
// first use.
//
//   MXGRID_ASSIGN_OR_RETURN(ParsedOp op, GlobalRegistry().Parse("FullyConnected", attrs));
//
// Thread-safety: thread-safe; the registry is immutable once built.
#ifndef MXGRID_LIBS_OPS_BUILTIN_H_
#define MXGRID_LIBS_OPS_BUILTIN_H_

#include "libs/ops/registry.h"

namespace mxgrid::ops {

const Registry& GlobalRegistry();

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_BUILTIN_H_
