// How many threads one kernel may use (intra-op parallelism), process-wide.
//
// Kernels that parallelize (OpenMP loops, oneDNN) use every core by default, less for small
// work (ParsedOp starts one thread per 32 Ki elements a call touches). A server whose
// cores are shared by several clients lowers the limit while more than one is active, so
// that one client's large kernels leave a core for the threads answering the others
// (mxgrid-worker: cores - 1 while two or more sessions made calls in the last second).
// libs/ops applies the limit on the calling thread before each kernel.
//
// Thread-safety: thread-safe (an atomic).
#ifndef MXGRID_LIBS_BASE_PARALLELISM_H_
#define MXGRID_LIBS_BASE_PARALLELISM_H_

namespace mxgrid::base {

// 0 removes the limit; otherwise kernels use at most `threads` (>= 1) threads each.
void SetKernelThreadLimit(int threads);
// The limit; 0 when there is none.
int KernelThreadLimit();

}  // namespace mxgrid::base

#endif  // MXGRID_LIBS_BASE_PARALLELISM_H_
