// ThreadedEngine: MXNet's ThreadedEnginePerDevice. Operations wait in per-variable FIFOs
// (internal/var.h) until every conflicting earlier operation has finished, then run on a
// worker pool chosen by their context and property:
//   - CPU: a FIFO normal pool per CPU device id (EngineOptions::cpu_worker_threads), and one
//     priority pool for kCPUPrioritized (cpu_priority_threads; higher priority first);
//   - GPU, per device id and created on first use: a FIFO normal pool (gpu_worker_threads)
//     and a priority copy pool for kCopyFromGPU/kCopyToGPU (gpu_copy_threads). They are
//     plain CPU threads that launch device work;
//   - kAsync and kDeleteVar operations run inline, in the thread that makes them ready (the
//     pusher, or the thread completing their last dependency).
// An operation inherits an input's error when its turn on that variable comes (the writes
// before it have finished), so what it inherits depends on push order only, never on when a
// concurrent WaitForVar clears the variable. Operation records and variables are pooled, so
// steady-state pushing does not allocate; a worker runs an operation its own completion made
// ready for its own FIFO pool next, without queueing it, while nothing else waits in the pool
// (dependent chains stay on one thread). FIFO pools serve flows (flow.h) round-robin.
//
// Thread-safety: every method is thread-safe (see Engine). Pushes that share variables are
// ordered consistently on all of them, even from different threads. The destructor waits for
// all pushed work (an AsyncFn that never calls back blocks it), then joins every thread.
#ifndef MXGRID_LIBS_ENGINE_THREADED_ENGINE_H_
#define MXGRID_LIBS_ENGINE_THREADED_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/base/mutex.h"
#include "libs/engine/engine.h"
#include "libs/engine/internal/object_pool.h"
#include "libs/engine/internal/opr_block.h"
#include "libs/engine/internal/var.h"
#include "libs/engine/internal/worker_pool.h"

namespace mxgrid::engine {

class ThreadedEngine final : public Engine {
 public:
  // REQUIRES: options' thread counts are >= 0 (cpu_worker_threads) or >= 1 (the others).
  explicit ThreadedEngine(const EngineOptions& options);
  ~ThreadedEngine() override;
  ThreadedEngine(const ThreadedEngine&) = delete;
  ThreadedEngine& operator=(const ThreadedEngine&) = delete;

  VarHandle NewVariable(int64_t bytes = 0) override;
  void PushSync(SyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                absl::Span<const VarHandle> writes, const PushOptions& options) override;
  void PushAsync(AsyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                 absl::Span<const VarHandle> writes, const PushOptions& options) override;
  void DeleteVariable(DeleteFn on_delete, Context ctx, VarHandle var) override;
  absl::Status WaitForVar(VarHandle var) override;
  absl::Status WaitForVarUntil(VarHandle var, absl::Time deadline) override;
  absl::Status WaitForAll() override;
  uint64_t VarVersion(VarHandle var) override;

 private:
  using OprBlock = internal::OprBlock;
  using WorkerPool = internal::WorkerPool;

  // Pool kinds keyed with a device id in pools_.
  enum class PoolKind { kCpuNormal, kGpuNormal, kGpuCopy };

  // A block from the pool, counted as pending, with its fields set.
  OprBlock* NewOpr(internal::OprKind kind, Context ctx, const PushOptions& options);
  // Links `opr` into its variables' queues and dispatches it if nothing blocks it.
  void Submit(OprBlock* opr, absl::Span<const VarHandle> reads,
              absl::Span<const VarHandle> writes);
  // Appends every entry to its variable, holding all their locks (address order); returns
  // how many were granted at once.
  int AppendAll(OprBlock* opr);
  // `opr` is ready: queue it on its pool, or run it inline. `pushing`: called by Submit in
  // the thread that pushed it (PushOptions::run_inline_when_ready applies).
  void Dispatch(OprBlock* opr, bool pushing = false);
  WorkerPool* PoolFor(const OprBlock& opr);
  WorkerPool* LazyPool(PoolKind kind, int device_id);

  static void ExecuteOnWorker(OprBlock* opr);
  // WorkerPool idle hook: hands the completions a worker counted locally to pending_.
  static void FlushWorkerCompletions();
  WorkerPool::Options PoolOptions(std::string name, int threads, WorkerPool::Order order,
                                  int nice = 0);
  // Runs `opr` (or skips it, passing its input error on) and completes it unless async.
  void Execute(OprBlock* opr);
  static void OnAsyncComplete(void* engine, void* opr, const absl::Status& status);
  // Releases `opr`'s claims with result `error` (null: OK), dispatches what that unblocks,
  // and recycles the block.
  void Complete(OprBlock* opr, internal::ErrorRef error);
  void RecordError(const internal::ErrorRef& error);
  // Subtracts `n` completed operations from pending_; reaching zero happens under wait_mu_.
  void Finish(int64_t n);
  void WaitForPendingZero();

  const EngineOptions options_;
  internal::ObjectPool<OprBlock> oprs_;
  internal::ObjectPool<Var> vars_;

  // Operations pushed and not yet counted complete. Worker threads count their completions
  // locally and subtract them in one step whenever they run out of work, so that pushing
  // and completing do not contend on this cache line for every operation.
  alignas(64) std::atomic<int64_t> pending_{0};
  alignas(64) base::Mutex wait_mu_;
  base::CondVar wait_cv_{&wait_mu_};

  base::Mutex error_mu_;
  internal::ErrorRef first_error_ ABSL_GUARDED_BY(error_mu_);

  std::unique_ptr<WorkerPool> cpu_pool_;       // cpu(0) normal
  std::unique_ptr<WorkerPool> priority_pool_;  // kCPUPrioritized
  base::Mutex pools_mu_;
  std::map<std::pair<PoolKind, int>, std::unique_ptr<WorkerPool>> pools_
      ABSL_GUARDED_BY(pools_mu_);
};

}  // namespace mxgrid::engine

#endif  // MXGRID_LIBS_ENGINE_THREADED_ENGINE_H_
