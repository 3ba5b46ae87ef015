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
//
// Thread-safety: thread-safe.
#ifndef MXGRID_LIBS_GRAPH_SYMBOL_CACHE_H_
#define MXGRID_LIBS_GRAPH_SYMBOL_CACHE_H_

#include <cstddef>
#include <optional>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "libs/base/lru_cache.h"
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
  absl::Status PutAs(const std::string& ref, Symbol symbol);
  // The symbol under `ref`, now the most recently used; nullopt when absent.
  std::optional<Symbol> Get(const std::string& ref) { return symbols_.Get(ref); }

  size_t size() const { return symbols_.size(); }

 private:
  base::LruCache<Symbol> symbols_;
  base::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_SYMBOL_CACHE_H_
