#include "libs/engine/internal/worker_pool.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "libs/base/check.h"
#include "libs/engine/internal/spin_lock.h"

namespace mxgrid::engine::internal {
namespace {

// Slots of a FIFO pool's lock-free ring; beyond this, pushes spill into the locked list.
constexpr size_t kRingCapacity = 4096;
// A sleep that ended with work sooner than this would have been saved by spinning longer.
constexpr auto kShortSleep = std::chrono::microseconds(50);

thread_local const void* current_owner = nullptr;
thread_local WorkerPool* current_pool = nullptr;

// Heap order: higher priority first; among equals the earlier push (smaller seq) first.
struct RunsLater {
  template <typename Item>
  bool operator()(const Item& a, const Item& b) const {
    return a.priority != b.priority ? a.priority < b.priority : a.seq > b.seq;
  }
};

}  // namespace

WorkerPool::WorkerPool(Options options)
    : options_(std::move(options)),
      ring_(options_.order == Order::kFifo
                ? std::make_unique<MpmcRing<OprBlock>>(kRingCapacity)
                : nullptr) {
  MXGRID_CHECK(options_.threads >= 1) << "worker pool '" << options_.name << "' needs threads";
  MXGRID_CHECK(options_.executor != nullptr) << "worker pool without an executor";
  threads_.reserve(static_cast<size_t>(options_.threads));
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    base::MutexLock lock(&mu_);
    MXGRID_CHECK(locked_size_ == 0 && flows_.empty() &&
                 (ring_ == nullptr || ring_->TryPop() == nullptr))
        << "worker pool '" << options_.name << "' destroyed with queued operations";
    stop_ = true;
    stop_hint_.store(true, std::memory_order_relaxed);
  }
  cv_.SignalAll();
  for (std::thread& t : threads_) t.join();
}

const void* WorkerPool::CurrentOwner() { return current_owner; }

WorkerPool* WorkerPool::CurrentPool() { return current_pool; }

void WorkerPool::Push(OprBlock* opr) {
  if (ring_ != nullptr && opr->flow != nullptr) {
    base::MutexLock lock(&mu_);
    PushFlowLocked(opr);
  } else if (ring_ == nullptr || locked_hint_.load(std::memory_order_acquire) > 0 ||
             !ring_->TryPush(opr)) {
    // While anything sits in the overflow list, later pushes queue behind it (FIFO).
    base::MutexLock lock(&mu_);
    PushLocked(opr);
  }
  // Pairs with the fences in Pop() and Sleep(): a worker that stops spinning or starts
  // sleeping either sees the operation, or we see it stopped spinning / sleeps.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (spinning_.load(std::memory_order_relaxed) == 0 &&
      sleepers_.load(std::memory_order_relaxed) > 0) {
    WakeOne();
  }
}

void WorkerPool::WakeOne() {
  bool wake = false;
  {
    base::MutexLock lock(&mu_);
    if (sleepers_.load(std::memory_order_relaxed) > signaled_) {
      ++signaled_;
      wake = true;
    }
  }
  if (wake) cv_.Signal();
}

void WorkerPool::PushLocked(OprBlock* opr) {
  if (options_.order == Order::kFifo) {
    opr->next = nullptr;
    if (tail_ == nullptr) {
      head_ = opr;
    } else {
      tail_->next = opr;
    }
    tail_ = opr;
  } else {
    heap_.push_back(HeapItem{opr->priority, next_seq_++, opr});
    std::push_heap(heap_.begin(), heap_.end(), RunsLater());
  }
  locked_hint_.store(++locked_size_, std::memory_order_release);
}

OprBlock* WorkerPool::PopLocked() {
  if (locked_size_ == 0) return nullptr;
  OprBlock* opr;
  if (options_.order == Order::kFifo) {
    opr = head_;
    head_ = opr->next;
    if (head_ == nullptr) tail_ = nullptr;
    opr->next = nullptr;
  } else {
    std::pop_heap(heap_.begin(), heap_.end(), RunsLater());
    opr = heap_.back().opr;
    heap_.pop_back();
  }
  locked_hint_.store(--locked_size_, std::memory_order_release);
  return opr;
}

void WorkerPool::PushFlowLocked(OprBlock* opr) {
  opr->next = nullptr;
  const Flow* key = opr->flow.get();
  FlowQueue& q = flows_[key];
  if (q.tail == nullptr) {
    q.head = opr;
    round_.push_back(key);  // a flow that had nothing waiting joins the end of the round
  } else {
    q.tail->next = opr;
  }
  q.tail = opr;
  flow_hint_.fetch_add(1, std::memory_order_release);
}

OprBlock* WorkerPool::PopFlowLocked() {
  if (round_.empty()) return nullptr;
  const Flow* key = round_.front();
  round_.pop_front();
  auto it = flows_.find(key);
  FlowQueue& q = it->second;
  OprBlock* opr = q.head;
  q.head = opr->next;
  opr->next = nullptr;
  if (q.head == nullptr) {
    flows_.erase(it);
  } else {
    round_.push_back(key);  // its next operation waits for the other flows' turns
  }
  flow_hint_.fetch_sub(1, std::memory_order_release);
  return opr;
}

OprBlock* WorkerPool::TryPopFlow() {
  if (flow_hint_.load(std::memory_order_acquire) == 0) return nullptr;
  base::MutexLock lock(&mu_);
  return PopFlowLocked();
}

OprBlock* WorkerPool::TryPop() {
  if (flow_hint_.load(std::memory_order_acquire) == 0) return TryPopDefault();
  // Both kinds of work may wait: take turns.
  if ((turns_.fetch_add(1, std::memory_order_relaxed) & 1) == 0) {
    if (OprBlock* opr = TryPopFlow()) return opr;
    return TryPopDefault();
  }
  if (OprBlock* opr = TryPopDefault()) return opr;
  return TryPopFlow();
}

OprBlock* WorkerPool::TryPopDefault() {
  // The ring holds the older operations: the overflow only fills while the ring is full.
  if (ring_ != nullptr) {
    if (OprBlock* opr = ring_->TryPop()) return opr;
  }
  if (locked_hint_.load(std::memory_order_acquire) == 0) return nullptr;
  base::MutexLock lock(&mu_);
  return PopLocked();
}

bool WorkerPool::MaybeQueued() const {
  return (ring_ != nullptr && ring_->MaybeNonEmpty()) ||
         locked_hint_.load(std::memory_order_acquire) > 0 ||
         flow_hint_.load(std::memory_order_acquire) > 0;
}

OprBlock* WorkerPool::Sleep() {
  base::MutexLock lock(&mu_);
  sleepers_.fetch_add(1, std::memory_order_relaxed);
  OprBlock* opr = nullptr;
  for (;;) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ring_ != nullptr && (opr = ring_->TryPop()) != nullptr) break;
    if ((opr = PopLocked()) != nullptr || (opr = PopFlowLocked()) != nullptr || stop_) break;
    // The timeout is a safety net: should a wake-up ever be missed, the queue is re-checked
    // after it instead of the operation waiting forever.
    cv_.WaitFor(std::chrono::milliseconds(50));
    if (signaled_ > 0) --signaled_;
  }
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return opr;
}

void WorkerPool::SpinBudget::Paid() { spins = std::min(kMaxSpins, spins * 2); }

void WorkerPool::SpinBudget::Wasted() { spins = std::max(kMinSpins, spins / 2); }

int WorkerPool::SpinBudget::yields() const {
  return static_cast<int>(static_cast<int64_t>(kMaxYields) * spins / kMaxSpins);
}

OprBlock* WorkerPool::Pop(SpinBudget& budget) {
  if (OprBlock* opr = TryPop()) return opr;
  if (options_.on_idle != nullptr) options_.on_idle();
  spinning_.fetch_add(1, std::memory_order_seq_cst);
  const int spins = budget.spins;
  const int polls = spins + budget.yields();
  for (int idle = 0;; ++idle) {
    if (OprBlock* opr = TryPop()) {
      budget.Paid();
      // Pushes made while we spun woke nobody; if we were the last spinner and more is
      // queued, wake a sleeper for it. The fence pairs with Push's.
      if (spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_relaxed) > 0 && MaybeQueued()) WakeOne();
      }
      return opr;
    }
    // Stopping pools are empty (the destructor requires it).
    if (stop_hint_.load(std::memory_order_relaxed)) {
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
      return nullptr;
    }
    if (idle < spins) {
      CpuRelax();
    } else if (idle < polls) {
      std::this_thread::yield();
    } else {
      spinning_.fetch_sub(1, std::memory_order_seq_cst);
      const auto slept = std::chrono::steady_clock::now();
      OprBlock* opr = Sleep();
      if (std::chrono::steady_clock::now() - slept < kShortSleep) {
        budget.Paid();
      } else {
        budget.Wasted();
      }
      return opr;
    }
  }
}

void WorkerPool::Loop() {
  current_owner = options_.owner;
  current_pool = this;
  pthread_setname_np(pthread_self(), options_.name.substr(0, 15).c_str());
  // Per thread on Linux. Raising it needs no privilege; a refusal (lowering it without
  // CAP_SYS_NICE) leaves the thread as it was.
  if (options_.nice != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), options_.nice);
  SpinBudget budget;
  while (OprBlock* opr = Pop(budget)) options_.executor(opr);
}

}  // namespace mxgrid::engine::internal
