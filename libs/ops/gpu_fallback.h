// Running an operator on a GPU context: its CUDA kernels where it has them for the call's
// dtypes, otherwise its CPU kernels on host copies (what every operator does until its CUDA
// kernel lands; the first such call of each operator is logged, and FallbackCalls() counts
// them for /metrics).
//
// The fallback downloads every input (and every output or gradient whose request reads it:
// kAddTo, kWriteInplace), runs the CPU kernel on the copies, and uploads the written outputs,
// gradients and mutated inputs (auxiliary states, OpDef::mutate_indices) back, all on
// OpContext::stream of the calling thread.
//
// Thread-safety: thread-safe (the state is per call; the counter is atomic).
#ifndef MXGRID_LIBS_OPS_GPU_FALLBACK_H_
#define MXGRID_LIBS_OPS_GPU_FALLBACK_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libs/ops/op.h"

namespace mxgrid::ops {

// `op`'s forward on host copies; `mutated`: the inputs the kernel writes.
absl::Status GpuFallbackForward(const OpDef& def, const OpParams& params,
                                const OpContext& ctx, absl::Span<const TensorView> inputs,
                                absl::Span<const OpReq> reqs,
                                absl::Span<const TensorView> outputs,
                                const std::vector<int>& mutated);
absl::Status GpuFallbackBackward(const OpDef& def, const OpParams& params,
                                 const OpContext& ctx, const BackwardArgs& args);

// Calls that ran on host copies since the process started.
int64_t GpuFallbackCalls();

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_GPU_FALLBACK_H_
