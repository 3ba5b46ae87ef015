#include "libs/graph/symbol_cache.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/quote.h"

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

absl::Status SymbolCache::PutAs(const std::string& ref, Symbol symbol) {
  bool hex = ref.size() == 32;
  for (char c : ref) hex &= (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  if (!hex) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symbol handle ", Quoted(ref), " is not 32 lowercase hex digits"));
  }
  if (symbols_.capacity() == 0) {
    return absl::FailedPreconditionError(
        "this compiler holds no symbols (--symbol_cache_entries=0): compose by JSON");
  }
  if (!symbols_.Put(ref, std::move(symbol))) {
    return absl::AlreadyExistsError(
        absl::StrCat("symbol handle ", Quoted(ref), " is already held"));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::graph
