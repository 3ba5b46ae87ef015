// ParallelCopy: memcpy of large buffers with several threads (shared-memory transfers).
//
// Below kParallelCopyMinBytes, or with one core, a plain memcpy. Threads are started and
// joined inside the call.
//
// Thread-safety: thread-safe (no shared state).
#ifndef MXGRID_LIBS_SHM_COPY_H_
#define MXGRID_LIBS_SHM_COPY_H_

#include <cstddef>

namespace mxgrid::shm {

// Smallest copy split across threads; each thread copies at least this much.
inline constexpr size_t kParallelCopyMinBytes = size_t{8} << 20;

// Copies `bytes` from `src` to `dst` with up to `max_threads` threads (0: the environment's
// MXGRID_SHM_COPY_THREADS, else half the machine's cores, 1 to 8). REQUIRES: the buffers do
// not overlap.
void ParallelCopy(void* dst, const void* src, size_t bytes, int max_threads = 0);

}  // namespace mxgrid::shm

#endif  // MXGRID_LIBS_SHM_COPY_H_
