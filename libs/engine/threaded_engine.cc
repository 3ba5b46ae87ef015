#include "libs/engine/threaded_engine.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/check.h"
#include "libs/engine/internal/run_fn.h"

namespace mxgrid::engine {
namespace {

using internal::OprBlock;
using internal::OprKind;
using internal::VarEntry;
using internal::WorkerPool;

// Inline operations made ready on this thread. They run one after another from the
// outermost Dispatch, never recursively, so a long chain of inline operations completing
// each other cannot overflow the stack.
struct InlineQueue {
  OprBlock* head = nullptr;
  OprBlock* tail = nullptr;
  bool draining = false;
};
thread_local InlineQueue inline_queue;

// Completions counted by a worker thread of the engine it works for, not yet subtracted
// from that engine's pending_ (see ThreadedEngine::Finish).
thread_local int64_t unflushed_completions = 0;

// An operation that a worker's completion made ready for the worker's own FIFO pool, kept
// to run next on the same thread instead of going through the queue (a dependent chain then
// stays on one warm thread and wakes nobody). Only engine bookkeeping runs between stashing
// and running it, never user code: see ThreadedEngine::Dispatch.
thread_local OprBlock* stashed = nullptr;

// Makes an operation's flow current while it runs.
class FlowSwap {
 public:
  explicit FlowSwap(Flow* flow) : previous_(internal::SwapCurrentFlow(flow)) {}
  ~FlowSwap() { internal::SwapCurrentFlow(previous_); }
  FlowSwap(const FlowSwap&) = delete;
  FlowSwap& operator=(const FlowSwap&) = delete;

 private:
  Flow* const previous_;
};

// One-shot event for WaitForVar. Notify signals while holding the mutex, so the waiter may
// destroy the object as soon as Wait returns.
class Notification {
 public:
  void Notify() {
    base::MutexLock lock(&mu_);
    done_ = true;
    cv_.SignalAll();
  }
  void Wait() {
    base::MutexLock lock(&mu_);
    while (!done_) cv_.Wait();
  }
  // False when `deadline` passed first.
  bool WaitUntil(absl::Time deadline) {
    base::MutexLock lock(&mu_);
    while (!done_) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      // Waits in slices: chrono overflows on an infinite (or very far) deadline.
      cv_.WaitFor(absl::ToChronoNanoseconds(std::min(left, absl::Seconds(1))));
    }
    return true;
  }

 private:
  base::Mutex mu_;
  base::CondVar cv_{&mu_};
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

int CpuWorkerThreads(const EngineOptions& options) {
  if (options.cpu_worker_threads > 0) return options.cpu_worker_threads;
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

ThreadedEngine::ThreadedEngine(const EngineOptions& options) : options_(options) {
  MXGRID_CHECK(options_.cpu_worker_threads >= 0 && options_.cpu_priority_threads >= 1 &&
               options_.gpu_worker_threads >= 1 && options_.gpu_copy_threads >= 1)
      << "invalid EngineOptions thread counts: cpu_worker_threads="
      << options_.cpu_worker_threads << " (>= 0), cpu_priority_threads="
      << options_.cpu_priority_threads << ", gpu_worker_threads=" << options_.gpu_worker_threads
      << ", gpu_copy_threads=" << options_.gpu_copy_threads << " (>= 1)";
  cpu_pool_ = std::make_unique<WorkerPool>(PoolOptions(
      "mxg-cpu0", CpuWorkerThreads(options_), WorkerPool::Order::kFifo, options_.cpu_worker_nice));
  priority_pool_ = std::make_unique<WorkerPool>(PoolOptions(
      "mxg-cpu-prio", options_.cpu_priority_threads, WorkerPool::Order::kPriority));
}

WorkerPool::Options ThreadedEngine::PoolOptions(std::string name, int threads,
                                                WorkerPool::Order order, int nice) {
  WorkerPool::Options options;
  options.name = std::move(name);
  options.threads = threads;
  options.order = order;
  options.executor = &ExecuteOnWorker;
  options.on_idle = &FlushWorkerCompletions;
  options.owner = this;
  options.nice = nice;
  return options;
}

ThreadedEngine::~ThreadedEngine() {
  MXGRID_CHECK(WorkerPool::CurrentOwner() != this && !InEngineOperation())
      << "a ThreadedEngine destroyed from inside an engine operation would wait for itself";
  WaitForPendingZero();
  cpu_pool_.reset();
  priority_pool_.reset();
  std::map<std::pair<PoolKind, int>, std::unique_ptr<WorkerPool>> pools;
  {
    base::MutexLock lock(&pools_mu_);
    pools.swap(pools_);
  }
  pools.clear();  // joins their threads
}

VarHandle ThreadedEngine::NewVariable(int64_t bytes) {
  Var* var = vars_.Alloc();
  var->bytes = bytes;
  return var;
}

void ThreadedEngine::PushSync(SyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                              absl::Span<const VarHandle> writes, const PushOptions& options) {
  OprBlock* opr = NewOpr(OprKind::kSync, ctx, options);
  opr->fn.emplace<SyncFn>(std::move(fn));
  Submit(opr, reads, writes);
}

void ThreadedEngine::PushAsync(AsyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                               absl::Span<const VarHandle> writes, const PushOptions& options) {
  OprBlock* opr = NewOpr(OprKind::kAsync, ctx, options);
  opr->fn.emplace<AsyncFn>(std::move(fn));
  Submit(opr, reads, writes);
}

void ThreadedEngine::DeleteVariable(DeleteFn on_delete, Context ctx, VarHandle var) {
  MXGRID_CHECK(var != nullptr) << "DeleteVariable of a null variable";
  PushOptions options;
  options.property = FnProperty::kDeleteVar;
  options.name = "DeleteVariable";
  OprBlock* opr = NewOpr(OprKind::kDelete, ctx, options);
  opr->fn.emplace<DeleteFn>(std::move(on_delete));
  const VarHandle writes[] = {var};
  Submit(opr, {}, writes);
}

absl::Status ThreadedEngine::WaitForVarUntil(VarHandle var, absl::Time deadline) {
  if (InEngineOperation()) return internal::WaitInsideOperationError("WaitForVarUntil");
  MXGRID_CHECK(var != nullptr) << "WaitForVarUntil of a null variable";
  if (!var->HasPendingWrite()) return var->TakeError();
  // Shared: the operation may notify after this waiter has given up and returned.
  auto done = std::make_shared<Notification>();
  PushOptions options;
  options.name = "WaitForVarUntil";
  OprBlock* opr = NewOpr(OprKind::kWait, Context::Cpu(), options);
  opr->fn.emplace<SyncFn>([done](const RunContext&) {
    done->Notify();
    return absl::OkStatus();
  });
  const VarHandle reads[] = {var};
  Submit(opr, reads, {});
  if (!done->WaitUntil(deadline)) {
    return absl::DeadlineExceededError("the array's pending work did not finish in time");
  }
  return var->TakeError();
}

absl::Status ThreadedEngine::WaitForVar(VarHandle var) {
  if (InEngineOperation()) return internal::WaitInsideOperationError("WaitForVar");
  MXGRID_CHECK(var != nullptr) << "WaitForVar of a null variable";
  if (!var->HasPendingWrite()) return var->TakeError();
  Notification done;
  PushOptions options;
  options.name = "WaitForVar";
  OprBlock* opr = NewOpr(OprKind::kWait, Context::Cpu(), options);
  opr->fn.emplace<SyncFn>([&done](const RunContext&) {
    done.Notify();
    return absl::OkStatus();
  });
  const VarHandle reads[] = {var};
  Submit(opr, reads, {});
  done.Wait();
  return var->TakeError();
}

absl::Status ThreadedEngine::WaitForAll() {
  if (InEngineOperation()) return internal::WaitInsideOperationError("WaitForAll");
  WaitForPendingZero();
  internal::ErrorRef error;
  {
    base::MutexLock lock(&error_mu_);
    error.swap(first_error_);
  }
  return internal::ToStatus(error);
}

uint64_t ThreadedEngine::VarVersion(VarHandle var) {
  MXGRID_CHECK(var != nullptr) << "VarVersion of a null variable";
  return var->version();
}

OprBlock* ThreadedEngine::NewOpr(OprKind kind, Context ctx, const PushOptions& options) {
  OprBlock* opr = oprs_.Alloc();
  opr->kind = kind;
  opr->property = options.property;
  opr->priority = options.priority;
  opr->name = options.name != nullptr ? options.name : "op";
  opr->ctx = ctx;
  opr->engine = this;
  opr->run_inline = kind != OprKind::kSync || options.property == FnProperty::kAsync ||
                    options.property == FnProperty::kDeleteVar;
  opr->inline_when_ready = options.run_inline_when_ready && kind == OprKind::kSync &&
                           options.property == FnProperty::kNormal && ctx.is_cpu();
  if (kind == OprKind::kSync || kind == OprKind::kAsync) {
    if (Flow* flow = CurrentFlow()) opr->flow = flow->shared_from_this();
  }
  pending_.fetch_add(1, std::memory_order_relaxed);
  return opr;
}

void ThreadedEngine::Submit(OprBlock* opr, absl::Span<const VarHandle> reads,
                            absl::Span<const VarHandle> writes) {
  internal::BuildEntries(reads, writes, opr, &opr->entries);
  if (opr->flow != nullptr) {
    for (const VarEntry& e : opr->entries) {
      if (e.write) opr->flow_bytes += e.var->bytes;
    }
    opr->flow->OnQueued(opr->flow_bytes);
  }
  // One extra count, held until every claim is linked, keeps completions on the first
  // variables from dispatching the operation early.
  const int hold = static_cast<int>(opr->entries.size()) + 1;
  opr->wait.store(hold, std::memory_order_relaxed);
  const int release = AppendAll(opr) + 1;
  if (opr->wait.fetch_sub(release, std::memory_order_acq_rel) == release) {
    Dispatch(opr, /*pushing=*/true);
  }
}

// Holding every variable's lock at once (in address order) makes the push atomic with
// respect to other pushes, so two threads pushing on {x, y} cannot queue in opposite orders
// on x and y and deadlock. The analysis cannot follow a loop of locks, hence the opt-out.
int ThreadedEngine::AppendAll(OprBlock* opr) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  int granted = 0;
  for (VarEntry& e : opr->entries) e.var->Lock();
  for (VarEntry& e : opr->entries) granted += e.var->AppendLocked(&e) ? 1 : 0;
  for (VarEntry& e : opr->entries) e.var->Unlock();
  return granted;
}

void ThreadedEngine::Dispatch(OprBlock* opr, bool pushing) {
  InlineQueue& queue = inline_queue;
  if (!opr->run_inline && !(pushing && opr->inline_when_ready)) {
    WorkerPool* pool = PoolFor(*opr);
    // Kept on this thread only while nothing else waits in the pool: queued operations
    // (another flow's above all) must not wait behind a dependent chain.
    if (stashed == nullptr && pool == WorkerPool::CurrentPool() && pool->fifo() &&
        !queue.draining && !InEngineOperation() && !pool->MaybeQueued()) {
      stashed = opr;  // ExecuteOnWorker runs it as soon as the current operation is done
    } else {
      pool->Push(opr);
    }
    return;
  }
  // Inline operations run user code: the stashed operation must not wait for them.
  if (stashed != nullptr) {
    OprBlock* next = stashed;
    stashed = nullptr;
    PoolFor(*next)->Push(next);
  }
  opr->next = nullptr;
  if (queue.tail == nullptr) {
    queue.head = opr;
  } else {
    queue.tail->next = opr;
  }
  queue.tail = opr;
  if (queue.draining) return;
  queue.draining = true;
  while (queue.head != nullptr) {
    OprBlock* next = queue.head;
    queue.head = next->next;
    if (queue.head == nullptr) queue.tail = nullptr;
    static_cast<ThreadedEngine*>(next->engine)->Execute(next);
  }
  queue.draining = false;
}

WorkerPool* ThreadedEngine::PoolFor(const OprBlock& opr) {
  const Context& ctx = opr.ctx;
  if (ctx.is_cpu()) {
    if (opr.property == FnProperty::kCPUPrioritized) return priority_pool_.get();
    if (ctx.device_id == 0) return cpu_pool_.get();
    return LazyPool(PoolKind::kCpuNormal, ctx.device_id);
  }
  const bool copy =
      opr.property == FnProperty::kCopyFromGPU || opr.property == FnProperty::kCopyToGPU;
  return LazyPool(copy ? PoolKind::kGpuCopy : PoolKind::kGpuNormal, ctx.device_id);
}

WorkerPool* ThreadedEngine::LazyPool(PoolKind kind, int device_id) {
  base::MutexLock lock(&pools_mu_);
  std::unique_ptr<WorkerPool>& pool = pools_[{kind, device_id}];
  if (pool == nullptr) {
    const std::string id = std::to_string(device_id);
    switch (kind) {
      case PoolKind::kCpuNormal:
        pool = std::make_unique<WorkerPool>(PoolOptions("mxg-cpu" + id, CpuWorkerThreads(options_),
                                                        WorkerPool::Order::kFifo,
                                                        options_.cpu_worker_nice));
        break;
      case PoolKind::kGpuNormal:
        pool = std::make_unique<WorkerPool>(PoolOptions(
            "mxg-gpu" + id, options_.gpu_worker_threads, WorkerPool::Order::kFifo));
        break;
      case PoolKind::kGpuCopy:
        pool = std::make_unique<WorkerPool>(PoolOptions(
            "mxg-gpu" + id + "-copy", options_.gpu_copy_threads, WorkerPool::Order::kPriority));
        break;
    }
  }
  return pool.get();
}

void ThreadedEngine::ExecuteOnWorker(OprBlock* opr) {
  while (opr != nullptr) {
    static_cast<ThreadedEngine*>(opr->engine)->Execute(opr);
    opr = stashed;
    stashed = nullptr;
  }
}

void ThreadedEngine::FlushWorkerCompletions() {
  if (unflushed_completions == 0) return;
  const int64_t n = unflushed_completions;
  unflushed_completions = 0;
  // Worker threads belong to one engine for life, and it outlives them.
  static_cast<ThreadedEngine*>(const_cast<void*>(WorkerPool::CurrentOwner()))->Finish(n);
}

void ThreadedEngine::Execute(OprBlock* opr) {
  const RunContext run_ctx{opr->ctx, nullptr};
  switch (opr->kind) {
    case OprKind::kWait:
      std::get<SyncFn>(opr->fn)(run_ctx).IgnoreError();  // only signals the waiter
      Complete(opr, nullptr);
      return;
    case OprKind::kDelete:
      Complete(opr, internal::MakeErrorRef(internal::RunDeleteFn(std::get<DeleteFn>(opr->fn),
                                                                 run_ctx, opr->name)));
      return;
    case OprKind::kSync:
    case OprKind::kAsync:
      break;
  }
  // The first error on an input (reads first, then writes) is passed on instead of running.
  internal::ErrorRef inherited;
  for (int pass = 0; pass < 2 && inherited == nullptr; ++pass) {
    for (const VarEntry& e : opr->entries) {
      if (e.write == (pass == 1) && e.error != nullptr) {
        inherited = e.error;
        break;
      }
    }
  }
  if (inherited != nullptr && opr->property != FnProperty::kNoSkip) {
    Complete(opr, std::move(inherited));
    return;
  }
  if (opr->flow != nullptr && opr->flow->cancelled() &&
      opr->property != FnProperty::kNoSkip) {
    Complete(opr, internal::MakeErrorRef(absl::CancelledError(
                      absl::StrCat(opr->flow->name(), " was closed before '", opr->name,
                                   "' ran"))));
    return;
  }
  // Pushes and allocations the operation makes belong to its flow.
  const FlowSwap in_flow(opr->flow.get());
  if (opr->kind == OprKind::kSync) {
    const absl::Status status =
        internal::RunSyncFn(std::get<SyncFn>(opr->fn), run_ctx, opr->name);
    Complete(opr, status.ok() ? std::move(inherited) : internal::MakeErrorRef(status));
    return;
  }
  // The callback may complete (and recycle) the block before fn returns, so fn is moved out
  // and outlives its own call; the block is not touched after the call unless fn threw.
  opr->inherited = std::move(inherited);
  const AsyncFn fn = std::move(std::get<AsyncFn>(opr->fn));
  const char* name = opr->name;
  const absl::Status thrown =
      internal::RunAsyncFn(fn, run_ctx, CallbackOnComplete(&OnAsyncComplete, this, opr), name);
  if (!thrown.ok()) Complete(opr, internal::MakeErrorRef(thrown));
}

void ThreadedEngine::OnAsyncComplete(void* engine, void* opr, const absl::Status& status) {
  auto* block = static_cast<OprBlock*>(opr);
  internal::ErrorRef error =
      status.ok() ? std::move(block->inherited) : internal::MakeErrorRef(status);
  static_cast<ThreadedEngine*>(engine)->Complete(block, std::move(error));
}

void ThreadedEngine::Complete(OprBlock* opr, internal::ErrorRef error) {
  const bool is_delete = opr->kind == OprKind::kDelete;
  if (error != nullptr && opr->kind != OprKind::kWait) RecordError(error);
  for (VarEntry& entry : opr->entries) {
    Var* var = entry.var;
    if (is_delete) {
      VarEntry* granted = var->CompleteWrite(nullptr);
      MXGRID_CHECK(granted == nullptr)
          << "an operation was pushed on a variable after DeleteVariable";
      var->Reset();
      vars_.Free(var);
      continue;
    }
    VarEntry* granted = entry.write ? var->CompleteWrite(error) : var->CompleteRead();
    while (granted != nullptr) {
      VarEntry* next = granted->next;  // read before the operation can run and be recycled
      OprBlock* ready = granted->opr;
      if (ready->wait.fetch_sub(1, std::memory_order_acq_rel) == 1) Dispatch(ready);
      granted = next;
    }
  }
  error.reset();
  if (opr->flow != nullptr) opr->flow->OnFinished(opr->flow_bytes);
  opr->Reset();
  oprs_.Free(opr);
  if (WorkerPool::CurrentOwner() == this) {
    ++unflushed_completions;  // subtracted when this worker runs out of work
  } else {
    Finish(1);  // last: the engine may be destroyed as soon as pending_ reaches zero
  }
}

void ThreadedEngine::RecordError(const internal::ErrorRef& error) {
  base::MutexLock lock(&error_mu_);
  if (first_error_ == nullptr) first_error_ = error;
}

// A waiter could see pending_ == 0, return and destroy the engine while the completing
// thread still touches it; so the subtraction that reaches zero happens under wait_mu_,
// which the waiter holds while it checks. Other subtractions stay lock-free.
void ThreadedEngine::Finish(int64_t n) {
  int64_t pending = pending_.load(std::memory_order_relaxed);
  while (pending > n) {
    if (pending_.compare_exchange_weak(pending, pending - n, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
      return;
    }
  }
  base::MutexLock lock(&wait_mu_);
  if (pending_.fetch_sub(n, std::memory_order_acq_rel) == n) wait_cv_.SignalAll();
}

void ThreadedEngine::WaitForPendingZero() {
  base::MutexLock lock(&wait_mu_);
  while (pending_.load(std::memory_order_acquire) != 0) wait_cv_.Wait();
}

}  // namespace mxgrid::engine
