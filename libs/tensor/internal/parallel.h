// ParallelFor: splits a loop over [0, n) across OpenMP threads when it is large enough to
// pay for them (private to libs/tensor). Memory-bound kernels gain close to 2x on two cores,
// as MXNet's own OpenMP kernels do. OMP_NUM_THREADS caps the threads.
//
//   ParallelFor(n, [&](int64_t begin, int64_t end) { for (i = begin; i < end; ++i) ... });
//
// Thread-safety: `fn` runs concurrently on disjoint ranges; chunk bounds are multiples of 16
// elements, so float/int32 chunks never share a cache line.
#ifndef MXGRID_LIBS_TENSOR_INTERNAL_PARALLEL_H_
#define MXGRID_LIBS_TENSOR_INTERNAL_PARALLEL_H_

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace mxgrid::tensor::internal {

// Elements each thread should get at least (below this, one thread is faster).
inline constexpr int64_t kParallelGrain = int64_t{1} << 16;

template <typename Fn>
void ParallelFor(int64_t n, Fn&& fn) {
#if defined(__SANITIZE_THREAD__)
  // libgomp is not built for ThreadSanitizer, which would report its barriers as races.
  const int64_t max_threads = 1;
#else
  const int64_t max_threads = std::min<int64_t>(omp_get_max_threads(), n / kParallelGrain);
#endif
  if (max_threads <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(max_threads))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t threads = omp_get_num_threads();
    const int64_t chunk = (n / threads + 15) / 16 * 16;
    const int64_t begin = std::min(n, t * chunk);
    const int64_t end = t + 1 == threads ? n : std::min(n, begin + chunk);
    if (begin < end) fn(begin, end);
  }
}

}  // namespace mxgrid::tensor::internal

#endif  // MXGRID_LIBS_TENSOR_INTERNAL_PARALLEL_H_
