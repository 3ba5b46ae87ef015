#include "libs/graph/symbol_cache.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_format.h"

namespace mxgrid::graph {

namespace {

std::mt19937_64 SeededEngine() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device()};
  return std::mt19937_64(seed);
}

}  // namespace

SymbolCache::SymbolCache(size_t capacity) : symbols_(capacity), rng_(SeededEngine()) {}

std::string SymbolCache::Put(Symbol symbol) {
  if (symbols_.capacity() == 0) return "";
  uint64_t high, low;
  {
    base::MutexLock lock(&mu_);
    high = rng_();
    low = rng_();
  }
  std::string ref = absl::StrFormat("%016x%016x", high, low);
  symbols_.Put(ref, std::move(symbol));
  return ref;
}

}  // namespace mxgrid::graph
