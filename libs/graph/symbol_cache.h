// SymbolCache: the symbols a compiler built, under unguessable handles (mxgrid.v1.Symbol's
// `ref`), so that a client composing a graph operator by operator sends and receives handles
// instead of the growing graph's JSON: building a graph of N operators costs O(N), not O(N^2).
//
//   SymbolCache cache(1 << 16);
//   std::string ref = cache.Put(fc1);             // 32 hex digits
//   std::optional<Symbol> again = cache.Get(ref);  // nullopt once evicted
//
// Bounded: beyond `capacity` symbols the least recently used are dropped (their nodes live on
// in the symbols that share them). A handle is meaningful only to the process that made it.
// Handles are kept as 128-bit numbers: a burst of a thousand compositions stores a thousand
// symbols, so a store costs a hash of two words, not of a 32-character string.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_LIBS_GRAPH_SYMBOL_CACHE_H_
#define MXGRID_LIBS_GRAPH_SYMBOL_CACHE_H_

#include <cstddef>
#include <list>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "libs/base/mutex.h"
#include "libs/graph/symbol.h"

namespace mxgrid::graph {

class SymbolCache {
 public:
  // Capacity 0 keeps nothing: Put returns "".
  explicit SymbolCache(size_t capacity);
  SymbolCache(const SymbolCache&) = delete;
  SymbolCache& operator=(const SymbolCache&) = delete;

  // Stores `symbol` under a new random 128-bit handle and returns it.
  std::string Put(Symbol symbol) ABSL_LOCKS_EXCLUDED(mu_);
  // Stores `symbol` under `ref`, a handle the client chose: InvalidArgument unless it is 32
  // lowercase hex digits, AlreadyExists when held, FailedPrecondition with capacity 0.
  absl::Status PutAs(const std::string& ref, Symbol symbol) ABSL_LOCKS_EXCLUDED(mu_);
  // The symbol under `ref`, now the most recently used; nullopt when absent.
  std::optional<Symbol> Get(const std::string& ref) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Key = absl::uint128;
  using List = std::list<std::pair<Key, Symbol>>;  // most recently used first

  // Moves `*symbol` in under `key` unless that is held (then returns false, `*symbol` kept).
  bool Insert(Key key, Symbol* symbol) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  mutable base::Mutex mu_;
  List lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Key, List::iterator> index_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_SYMBOL_CACHE_H_
