#include "libs/base/parallelism.h"

#include <algorithm>
#include <atomic>

namespace mxgrid::base {
namespace {

std::atomic<int> kernel_thread_limit{0};

}  // namespace

void SetKernelThreadLimit(int threads) {
  kernel_thread_limit.store(std::max(0, threads), std::memory_order_relaxed);
}

int KernelThreadLimit() { return kernel_thread_limit.load(std::memory_order_relaxed); }

}  // namespace mxgrid::base
