// WorkerPool: threads that run ready operations from one queue (MXNet's per-device worker
// blocks). FIFO pools queue operations without a flow through a lock-free ring (MpmcRing),
// spilling into a mutex-guarded list only while the ring is full; operations of a flow
// (OprBlock::flow, a worker session) wait in one FIFO per flow under the mutex, and the pool
// serves those flows round-robin, one operation per turn, alternating with the flow-less
// queue while both have work. A flow with a long backlog therefore delays another flow's
// operation by about one operation per busy flow. Priority pools (priority and copy pools)
// keep a heap under the mutex: higher OprBlock::priority first, push order among equals.
//
// Idle workers spin briefly, then yield, then sleep on a condition variable. How long each
// worker polls adapts to what polling buys (SpinBudget): it doubles when polling found work or
// a sleep ended within microseconds, and halves when a sleep was long. So a worker fed steadily
// polls (no wake-up system calls), while one whose work comes in bursts, as between the steps
// of a distributed job, sleeps at once and leaves the cores to the processes and threads that
// produce its work. Push signals a sleeper only when no worker is spinning (a spinner will take
// the operation); a spinner that finds work and leaves more queued behind wakes a sleeper in
// turn. So a busy pool makes no system call per push, pushing never waits for a worker, and
// queued work never waits for a busy worker while another sleeps. Queueing allocates nothing in
// steady state.
//
// Thread-safety: Push is thread-safe. The destructor stops and joins the threads; it
// REQUIRES that no operation is queued or running (the engine waits for its work first).
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_WORKER_POOL_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_WORKER_POOL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "libs/base/mutex.h"
#include "libs/engine/internal/mpmc_ring.h"
#include "libs/engine/internal/opr_block.h"

namespace mxgrid::engine::internal {

class WorkerPool {
 public:
  enum class Order { kFifo, kPriority };
  // Runs one dequeued operation on a worker thread.
  using Executor = void (*)(OprBlock* opr);
  // Called on a worker thread each time it runs out of work, before it spins or sleeps.
  using IdleHook = void (*)();

  struct Options {
    std::string name;  // thread name (at most 15 characters are kept)
    int threads = 1;   // REQUIRES: >= 1
    Order order = Order::kFifo;
    Executor executor = nullptr;  // REQUIRES: non-null
    IdleHook on_idle = nullptr;
    // Identifies the pool's owner to code running on its threads (CurrentOwner()).
    const void* owner = nullptr;
    // Nice value the threads set for themselves when they start; 0 leaves it.
    int nice = 0;
  };

  // A worker thread's idle polling before it sleeps: `spins` pause instructions, then
  // proportionally fewer yields (kMaxYields at kMaxSpins).
  struct SpinBudget {
    static constexpr int kMaxSpins = 2000;
    static constexpr int kMaxYields = 64;
    static constexpr int kMinSpins = 16;
    int spins = kMaxSpins;
    int yields() const;
    void Paid();    // polling found work, or a sleep ended at once: poll twice as long
    void Wasted();  // a sleep was long: poll half as long
  };

  explicit WorkerPool(Options options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a ready operation; a worker runs it through the executor.
  void Push(OprBlock* opr);

  // Options::owner of the pool the calling thread works for; null off worker threads.
  static const void* CurrentOwner();
  // The pool the calling thread works for; null off worker threads.
  static WorkerPool* CurrentPool();

  bool fifo() const { return options_.order == Order::kFifo; }
  // False only if nothing was queued at some moment during the call.
  bool MaybeQueued() const;

 private:
  struct HeapItem {
    int priority;
    uint64_t seq;
    OprBlock* opr;
  };
  // One flow's waiting operations (linked through OprBlock::next), while it has any.
  struct FlowQueue {
    OprBlock* head = nullptr;
    OprBlock* tail = nullptr;
  };

  void Loop();
  // Blocks until an operation is queued (returns it) or the pool stops (returns null),
  // polling within the calling worker's budget, which it updates.
  OprBlock* Pop(SpinBudget& budget);
  OprBlock* TryPop();
  // The flow-less queue (ring, then overflow), or the flows' round.
  OprBlock* TryPopDefault();
  OprBlock* TryPopFlow();
  // Sleeps until an operation is queued (returns it) or the pool stops (returns null).
  OprBlock* Sleep();
  void WakeOne();
  void PushLocked(OprBlock* opr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  OprBlock* PopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushFlowLocked(OprBlock* opr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  OprBlock* PopFlowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const std::unique_ptr<MpmcRing<OprBlock>> ring_;  // FIFO pools only

  alignas(64) base::Mutex mu_;
  base::CondVar cv_{&mu_};
  // The locked queue: the ring's overflow (FIFO) or the heap (priority).
  OprBlock* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  OprBlock* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<HeapItem> heap_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t locked_size_ ABSL_GUARDED_BY(mu_) = 0;
  // Flows with waiting operations, and their turns (each flow in round_ exactly once).
  absl::flat_hash_map<const Flow*, FlowQueue> flows_ ABSL_GUARDED_BY(mu_);
  std::deque<const Flow*> round_ ABSL_GUARDED_BY(mu_);
  int signaled_ ABSL_GUARDED_BY(mu_) = 0;  // signals sent that no worker consumed yet
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  // Mirrors of locked_size_ and stop_ polled without the mutex.
  alignas(64) std::atomic<int64_t> locked_hint_{0};
  // Operations waiting in flows_ (a mirror polled without the mutex), and a pop counter
  // that alternates between the flows and the flow-less queue while both have work.
  std::atomic<int64_t> flow_hint_{0};
  std::atomic<uint64_t> turns_{0};
  std::atomic<bool> stop_hint_{false};
  // Workers polling for work, and workers in Sleep() (changed under mu_). Push reads both
  // after a fence that pairs with the fences of workers changing them (see Push and Pop).
  alignas(64) std::atomic<int> spinning_{0};
  std::atomic<int> sleepers_{0};
  std::vector<std::thread> threads_;
};

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_WORKER_POOL_H_
