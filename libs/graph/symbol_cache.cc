#include "libs/graph/symbol_cache.h"

#include <algorithm>
#include <array>
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

// The value of each lowercase hex digit; -1 for every other byte.
constexpr std::array<int8_t, 256> HexDigits() {
  std::array<int8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  }
  return table;
}
constexpr std::array<int8_t, 256> kHexDigits = HexDigits();

// `ref` as a number when it is 32 lowercase hex digits.
std::optional<absl::uint128> ParseRef(const std::string& ref) {
  if (ref.size() != 32) return std::nullopt;
  uint64_t half[2] = {0, 0};
  int bad = 0;
  for (size_t i = 0; i < 32; ++i) {
    const int8_t digit = kHexDigits[static_cast<unsigned char>(ref[i])];
    bad |= digit;  // negative once any byte is not a digit
    half[i / 16] = (half[i / 16] << 4) | static_cast<uint64_t>(digit & 0xf);
  }
  if (bad < 0) return std::nullopt;
  return absl::MakeUint128(half[0], half[1]);
}

}  // namespace

SymbolCache::SymbolCache(size_t capacity) : capacity_(capacity), rng_(SeededEngine()) {
  // Room for a few graphs' worth of handles up front, so bursts rarely rehash.
  index_.reserve(std::min<size_t>(capacity, size_t{1} << 15));
}

bool SymbolCache::Insert(Key key, Symbol* symbol) {
  auto [it, inserted] = index_.try_emplace(key);
  if (!inserted) return false;
  lru_.emplace_front(key, std::move(*symbol));
  it->second = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return true;
}

std::string SymbolCache::Put(Symbol symbol) {
  if (capacity_ == 0) return "";
  base::MutexLock lock(&mu_);
  Key key;
  do {
    const uint64_t high = rng_();
    key = absl::MakeUint128(high, rng_());
  } while (!Insert(key, &symbol));
  return absl::StrFormat("%016x%016x", absl::Uint128High64(key), absl::Uint128Low64(key));
}

absl::Status SymbolCache::PutAs(const std::string& ref, Symbol symbol) {
  const std::optional<Key> key = ParseRef(ref);
  if (!key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symbol handle ", Quoted(ref), " is not 32 lowercase hex digits"));
  }
  if (capacity_ == 0) {
    return absl::FailedPreconditionError(
        "this compiler holds no symbols (--symbol_cache_entries=0): compose by JSON");
  }
  base::MutexLock lock(&mu_);
  if (!Insert(*key, &symbol)) {
    return absl::AlreadyExistsError(
        absl::StrCat("symbol handle ", Quoted(ref), " is already held"));
  }
  return absl::OkStatus();
}

std::optional<Symbol> SymbolCache::Get(const std::string& ref) {
  const std::optional<Key> key = ParseRef(ref);
  if (!key) return std::nullopt;
  base::MutexLock lock(&mu_);
  auto it = index_.find(*key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

size_t SymbolCache::size() const {
  base::MutexLock lock(&mu_);
  return lru_.size();
}

}  // namespace mxgrid::graph
