// graph::Plan <-> mxgrid.v1.Plan (proto/mxgrid/v1/graph.proto): how the compiler service
// ships an execution plan to a worker.
//
// FromProto trusts nothing: it reloads the symbol, re-infers every forward entry's shape and
// type from the variables, and checks every step against its operator (arity, the shapes
// each input, output and gradient must have) and every entry against its block, so a plan
// that decodes can be run without a kernel reading or writing out of bounds. Errors are
// InvalidArgument naming the step or entry.
//
// Thread-safety: thread-safe functions.
#ifndef MXGRID_LIBS_RPC_PLAN_CODEC_H_
#define MXGRID_LIBS_RPC_PLAN_CODEC_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/graph/plan.h"
#include "libs/ops/registry.h"
#include "proto/mxgrid/v1/graph.pb.h"

namespace mxgrid::rpc {

void ToProto(const graph::Plan& plan, v1::Plan* out);
absl::StatusOr<graph::Plan> FromProto(const v1::Plan& proto, const ops::Registry& registry);

}  // namespace mxgrid::rpc

#endif  // MXGRID_LIBS_RPC_PLAN_CODEC_H_
