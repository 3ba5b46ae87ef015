// ObjectPool<T>: a free list of T objects carved from chunks, so that the engine's hot paths
// (one OprBlock per push, one Var per NewVariable) never reach the heap allocator once the
// pool has grown to the working-set size.
//
// T must be default-constructible and have a public member `T* pool_next` that the pool may
// overwrite while the object is free. Objects are constructed once, when their chunk is
// allocated, and destroyed with the pool; Free() takes an object back in whatever state the
// caller left it, so callers reset objects before freeing them.
//
// Thread-safety: Alloc and Free are thread-safe. Free is lock-free (a Treiber-stack push);
// Alloc takes a spin lock (usually uncontended: one pushing thread) and, when its private
// list is empty, grabs every freed object at once with an atomic exchange, which avoids the
// ABA problem of single-element lock-free pops.
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_OBJECT_POOL_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_OBJECT_POOL_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "libs/engine/internal/spin_lock.h"

namespace mxgrid::engine::internal {

template <typename T>
class ObjectPool {
 public:
  // `chunk_size` objects are constructed whenever the pool runs dry.
  explicit ObjectPool(size_t chunk_size = 256) : chunk_size_(chunk_size) {}
  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;

  // Returns a free object (never null).
  T* Alloc() {
    SpinLockHolder lock(&mu_);
    if (local_ == nullptr) {
      local_ = returned_.exchange(nullptr, std::memory_order_acquire);
      if (local_ == nullptr) Grow();
    }
    T* obj = local_;
    local_ = obj->pool_next;
    return obj;
  }

  // Takes back an object obtained from Alloc() of this pool.
  void Free(T* obj) {
    T* head = returned_.load(std::memory_order_relaxed);
    do {
      obj->pool_next = head;
    } while (!returned_.compare_exchange_weak(head, obj, std::memory_order_release,
                                              std::memory_order_relaxed));
  }

 private:
  void Grow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    chunks_.push_back(std::make_unique<T[]>(chunk_size_));
    T* chunk = chunks_.back().get();
    // Linked so that Alloc hands out the chunk in address order.
    for (size_t i = chunk_size_; i-- > 0;) {
      chunk[i].pool_next = local_;
      local_ = &chunk[i];
    }
  }

  const size_t chunk_size_;
  // Objects freed since the last refill (written by any thread).
  alignas(64) std::atomic<T*> returned_{nullptr};
  alignas(64) SpinLock mu_;
  T* local_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<T[]>> chunks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_OBJECT_POOL_H_
