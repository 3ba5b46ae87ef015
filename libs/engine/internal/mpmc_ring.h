// MpmcRing: a bounded lock-free multi-producer multi-consumer FIFO of pointers (Dmitry
// Vyukov's bounded MPMC queue). Each cell carries a sequence number that says whether it is
// free for the producer of round `pos` or holds the item for the consumer of round `pos`;
// producers and consumers each claim positions with one CAS on their own counter, so a
// producer never waits for a consumer and vice versa.
//
// Thread-safety: TryPush and TryPop are thread-safe and lock-free.
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_MPMC_RING_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_MPMC_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "libs/base/check.h"

namespace mxgrid::engine::internal {

template <typename T>
class MpmcRing {
 public:
  // REQUIRES: capacity is a power of two >= 2.
  explicit MpmcRing(size_t capacity)
      : mask_(capacity - 1), cells_(std::make_unique<Cell[]>(capacity)) {
    MXGRID_CHECK(capacity >= 2 && (capacity & (capacity - 1)) == 0)
        << "MpmcRing capacity " << capacity << " is not a power of two";
    for (size_t i = 0; i < capacity; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }
  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;

  // False if the ring is full.
  bool TryPush(T* item) {
    uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      const uint64_t seq = cell.seq.load(std::memory_order_acquire);
      const int64_t diff = static_cast<int64_t>(seq - pos);
      if (diff == 0) {
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.item = item;
          cell.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // the consumer of the previous round has not taken this cell yet
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

  // False only if the ring was empty at some moment during the call (a push in progress may
  // already count as an item).
  bool MaybeNonEmpty() const {
    return enqueue_pos_.load(std::memory_order_acquire) !=
           dequeue_pos_.load(std::memory_order_acquire);
  }

  // Null if the ring is empty.
  T* TryPop() {
    uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      const uint64_t seq = cell.seq.load(std::memory_order_acquire);
      const int64_t diff = static_cast<int64_t>(seq - (pos + 1));
      if (diff == 0) {
        if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          T* item = cell.item;
          cell.seq.store(pos + mask_ + 1, std::memory_order_release);
          return item;
        }
      } else if (diff < 0) {
        return nullptr;  // no producer has filled this cell for this round
      } else {
        pos = dequeue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

 private:
  struct Cell {
    std::atomic<uint64_t> seq{0};
    T* item = nullptr;
  };

  const uint64_t mask_;
  const std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<uint64_t> enqueue_pos_{0};
  alignas(64) std::atomic<uint64_t> dequeue_pos_{0};
};

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_MPMC_RING_H_
