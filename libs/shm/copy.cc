#include "libs/shm/copy.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace mxgrid::shm {

namespace {

// MXGRID_SHM_COPY_THREADS (at most 64), or half the machine's cores (1 to 8).
int DefaultThreads() {
  static const int threads = [] {
    const char* env = std::getenv("MXGRID_SHM_COPY_THREADS");
    const int n = env != nullptr ? std::atoi(env) : 0;
    if (n > 0) return std::min(n, 64);
    // Half the cores: the client (or another session) copies or computes on the others; on
    // a 2-core machine one thread copies faster than two.
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, std::min(8, cores / 2));
  }();
  return threads;
}

}  // namespace

void ParallelCopy(void* dst, const void* src, size_t bytes, int max_threads) {
  if (max_threads <= 0) max_threads = DefaultThreads();
  const size_t threads = std::min(static_cast<size_t>(max_threads),
                                  std::max<size_t>(1, bytes / kParallelCopyMinBytes));
  if (threads <= 1) {
    std::memcpy(dst, src, bytes);
    return;
  }
  // Pieces of whole cache lines; the calling thread copies the last one.
  const size_t piece = (bytes / threads + 63) & ~size_t{63};
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  size_t offset = 0;
  for (size_t i = 0; i + 1 < threads && offset < bytes; ++i, offset += piece) {
    const size_t n = std::min(piece, bytes - offset);
    workers.emplace_back([=] {
      std::memcpy(static_cast<char*>(dst) + offset, static_cast<const char*>(src) + offset, n);
    });
  }
  if (offset < bytes) {
    std::memcpy(static_cast<char*>(dst) + offset, static_cast<const char*>(src) + offset,
                bytes - offset);
  }
  for (std::thread& t : workers) t.join();
}

}  // namespace mxgrid::shm
