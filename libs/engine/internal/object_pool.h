// ObjectPool<T>: a bounded free list of T objects, so that the engine's hot paths (one
// OprBlock per push, one Var per NewVariable) rarely reach the heap allocator once the pool
// holds the working set, while a burst (a million variables, a flood of queued operations)
// does not pin its memory for the life of the process: at most `max_cached` free objects are
// kept; objects freed beyond that are deleted.
//
// T must be default-constructible and have a public member `T* pool_next` that the pool may
// overwrite while the object is free. Free() takes an object back in whatever state the
// caller left it, so callers reset objects before freeing them; Alloc() hands out cached
// objects as they were freed and new ones default-constructed.
//
// Thread-safety: Alloc and Free are thread-safe. Free is lock-free (a Treiber-stack push);
// Alloc takes a spin lock (usually uncontended: one pushing thread) and, when its private
// list is empty, grabs every freed object at once with an atomic exchange, which avoids the
// ABA problem of single-element lock-free pops. The cache bound is approximate (see Free).
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_OBJECT_POOL_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_OBJECT_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "libs/engine/internal/spin_lock.h"

namespace mxgrid::engine::internal {

template <typename T>
class ObjectPool {
 public:
  explicit ObjectPool(int64_t max_cached = 4096) : max_cached_(max_cached) {}
  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;
  // REQUIRES: every object from Alloc() was given back with Free().
  ~ObjectPool() {
    DeleteList(returned_.exchange(nullptr, std::memory_order_acquire));
    SpinLockHolder lock(&mu_);
    DeleteList(local_);
    local_ = nullptr;
  }

  // Returns a free object (never null).
  T* Alloc() {
    {
      SpinLockHolder lock(&mu_);
      if (local_ == nullptr) {
        // The objects taken since the last refill leave the count now (see Free).
        taken_.store(taken_.load(std::memory_order_relaxed) + popped_,
                     std::memory_order_relaxed);
        popped_ = 0;
        local_ = returned_.exchange(nullptr, std::memory_order_acquire);
      }
      if (T* obj = local_) {
        local_ = obj->pool_next;
        // Objects come back from other threads (workers free what a pusher took): fetch the
        // next one's line now, so that the next Alloc does not wait for it.
        if (local_ != nullptr) __builtin_prefetch(local_, 1);
        ++popped_;
        return obj;
      }
    }
    return new T();
  }

  // Takes back an object obtained from Alloc() of this pool.
  void Free(T* obj) {
    // freed_ - taken_ over-counts the free objects by those Alloc took since its last
    // refill, so the pool keeps between max_cached / 2 and max_cached of them. The counters
    // are apart: a shared one updated by both sides cost a cache-line transfer per object.
    if (freed_.fetch_add(1, std::memory_order_relaxed) - taken_.load(std::memory_order_relaxed) >=
        max_cached_) {
      freed_.fetch_sub(1, std::memory_order_relaxed);
      delete obj;
      return;
    }
    T* head = returned_.load(std::memory_order_relaxed);
    do {
      obj->pool_next = head;
    } while (!returned_.compare_exchange_weak(head, obj, std::memory_order_release,
                                              std::memory_order_relaxed));
  }

 private:
  static void DeleteList(T* obj) {
    while (obj != nullptr) {
      T* next = obj->pool_next;
      delete obj;
      obj = next;
    }
  }

  const int64_t max_cached_;
  // Objects given back (Free) and taken out (Alloc, published at each refill); their
  // difference bounds the free objects in returned_ and local_. On lines of their own:
  // workers write freed_, the pushing thread taken_.
  alignas(64) std::atomic<int64_t> freed_{0};
  alignas(64) std::atomic<int64_t> taken_{0};
  // Objects freed since the last refill (written by any thread).
  alignas(64) std::atomic<T*> returned_{nullptr};
  alignas(64) SpinLock mu_;
  T* local_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t popped_ ABSL_GUARDED_BY(mu_) = 0;  // taken from local_ since the last refill
};

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_OBJECT_POOL_H_
