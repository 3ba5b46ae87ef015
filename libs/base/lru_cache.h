// LruCache: a bounded map from string keys to values that evicts the least recently used
// entry — the compiler's plan cache and the worker's parsed-operator cache.
//
//   LruCache<v1::Plan> plans(256);
//   if (std::optional<v1::Plan> hit = plans.Get(key)) return *hit;
//   plans.Put(key, plan);
//
// Thread-safety: thread-safe. Get returns a copy (use a shared_ptr value for large ones).
#ifndef MXGRID_LIBS_BASE_LRU_CACHE_H_
#define MXGRID_LIBS_BASE_LRU_CACHE_H_

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "libs/base/mutex.h"

namespace mxgrid::base {

template <typename V>
class LruCache {
 public:
  // Capacity 0 stores nothing.
  explicit LruCache(size_t capacity) : capacity_(capacity) {}
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // The value under `key`, now the most recently used; nullopt when absent.
  std::optional<V> Get(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  // Stores `value` under `key` unless the key is present (its value is kept), evicting the
  // least recently used entries beyond the capacity. True when it was stored.
  bool Put(const std::string& key, V value) ABSL_LOCKS_EXCLUDED(mu_) {
    if (capacity_ == 0) return false;
    MutexLock lock(&mu_);
    if (index_.count(key)) return false;
    lru_.emplace_front(key, std::move(value));
    index_.emplace(key, lru_.begin());
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return true;
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return lru_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  using List = std::list<std::pair<std::string, V>>;  // most recent first

  const size_t capacity_;
  mutable Mutex mu_;
  List lru_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, typename List::iterator> index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::base

#endif  // MXGRID_LIBS_BASE_LRU_CACHE_H_
