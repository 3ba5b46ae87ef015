// The dependency engine: MXNet's scheduling model (reference: mxnet-1x.md §4).
//
// Work is pushed as a function plus the variables it reads and the variables it writes;
// Push returns at once. The engine runs an operation when every earlier operation that
// conflicts with it on some variable has finished:
//   - operations that write a variable run one at a time, in push order;
//   - reads between two writes of a variable run concurrently and see the earlier write;
//   - independent operations run in parallel on per-device worker threads.
// Errors flow along the data: an operation's error is stored in every variable it writes;
// a later operation that reads or writes such a variable is skipped and passes the error on;
// WaitForVar returns (and clears) the variable's error, WaitForAll the first error since the
// last WaitForAll. No error ever crashes the process.
//
// Usage:
//   engine::Engine* eng = engine::Get();           // process-wide, MXGRID_ENGINE picks the kind
//   engine::VarHandle a = eng->NewVariable();
//   eng->PushSync([&](const engine::RunContext&) { x += 1; return absl::OkStatus(); },
//                 Context::Cpu(), /*reads=*/{}, /*writes=*/{a});
//   absl::Status s = eng->WaitForVar(a);           // x is updated, or s says why not
//   eng->DeleteVariable([](const engine::RunContext&) {}, Context::Cpu(), a);
//
// MXGRID_ENGINE=naive selects NaiveEngine, which runs every operation synchronously in the
// pushing thread (for debugging); MXGRID_ENGINE=threaded (default) the threaded engine.
//
// Operations pushed inside an engine::FlowScope (flow.h) belong to that flow: FIFO pools
// dispatch ready operations round-robin across flows, and the flow counts what it has queued.
//
// Thread-safety: every Engine method is thread-safe. Waiting (WaitForVar, WaitForAll) from
// inside an engine operation is refused with FailedPrecondition instead of deadlocking.
#ifndef MXGRID_LIBS_ENGINE_ENGINE_H_
#define MXGRID_LIBS_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/base/context.h"

namespace mxgrid::engine {

// A variable: the unit of dependency tracking (one per storage chunk of an NDArray).
// Opaque; created by NewVariable, released by DeleteVariable.
class Var;
using VarHandle = Var*;

// What an operation knows about where it runs.
struct RunContext {
  Context ctx;
  // The device stream for GPU work (a cudaStream_t), null on CPU.
  void* stream = nullptr;
};

// How an operation is scheduled (MXNet's FnProperty).
enum class FnProperty {
  kNormal,          // the device's normal worker pool
  kCopyFromGPU,     // GPU -> CPU copies: the device's copy pool
  kCopyToGPU,       // CPU -> GPU copies: the device's copy pool
  kCPUPrioritized,  // CPU priority pool (priority queue)
  kAsync,           // runs inline in the pushing thread; completes through its callback
  kDeleteVar,       // internal: variable deletion
  kNoSkip,          // runs even when an input carries an error (e.g. to free resources)
};

// Passed to an asynchronous operation; call exactly once when the work is done.
class CallbackOnComplete {
 public:
  using Fn = void (*)(void* engine, void* opr, const absl::Status& status);
  CallbackOnComplete(Fn fn, void* engine, void* opr) : fn_(fn), engine_(engine), opr_(opr) {}
  void operator()(const absl::Status& status = absl::OkStatus()) const {
    fn_(engine_, opr_, status);
  }

 private:
  Fn fn_;
  void* engine_;
  void* opr_;
};

// A synchronous operation: its returned status is its result. Exceptions thrown by it are
// caught and become Internal errors.
using SyncFn = std::function<absl::Status(const RunContext&)>;
// An asynchronous operation: returns at once and calls `on_complete` later (e.g. from a
// CUDA stream callback).
using AsyncFn = std::function<void(const RunContext&, CallbackOnComplete on_complete)>;
// Runs once a deleted variable's pending operations are done (frees its memory).
using DeleteFn = std::function<void(const RunContext&)>;

// Per-push options (defaults: normal pool, priority 0).
struct PushOptions {
  FnProperty property = FnProperty::kNormal;
  // Higher runs first; matters only on priority and copy queues (as in MXNet).
  int priority = 0;
  // Shown in errors and logs; must outlive the operation (use string literals).
  const char* name = "op";
  // Run a normal CPU operation in the pushing thread, before Push returns, when nothing
  // blocks it at push time; otherwise it is queued as usual. For tiny operations, whose
  // cost is the hand-off to a worker thread (and, on a busy machine, waiting for that
  // thread to be scheduled).
  bool run_inline_when_ready = false;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // A new variable with no pending work, guarding `bytes` of memory (0: unknown; the bytes
  // count towards the queued bytes of flows whose operations write it, see flow.h).
  virtual VarHandle NewVariable(int64_t bytes = 0) = 0;

  // Schedules `fn` to run on `ctx` after the conflicting earlier operations on `reads` and
  // `writes`. Duplicates inside or across the lists are allowed (a variable both read and
  // written counts as written). Returns at once (NaiveEngine: after `fn` ran).
  virtual void PushSync(SyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                        absl::Span<const VarHandle> writes, const PushOptions& options = {}) = 0;
  virtual void PushAsync(AsyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                         absl::Span<const VarHandle> writes,
                         const PushOptions& options = {}) = 0;

  // Schedules `var`'s deletion after every operation already pushed on it; `on_delete` then
  // runs (even if the variable carries an error) and the variable is freed. The handle must
  // not be used after this call.
  virtual void DeleteVariable(DeleteFn on_delete, Context ctx, VarHandle var) = 0;

  // Blocks until every operation pushed so far that writes `var` has finished; returns the
  // variable's error, if any, and clears it. FailedPrecondition when called from inside an
  // engine operation.
  virtual absl::Status WaitForVar(VarHandle var) = 0;
  // WaitForVar that gives up at `deadline` with DeadlineExceeded; the pending work goes on
  // and a later wait still sees its error. For servers that honour call deadlines.
  virtual absl::Status WaitForVarUntil(VarHandle var, absl::Time deadline) = 0;

  // Blocks until every operation pushed so far has finished; returns the first error any of
  // them reported since the last WaitForAll, and clears them. FailedPrecondition when called
  // from inside an engine operation.
  virtual absl::Status WaitForAll() = 0;

  // Number of completed writes to `var` (MXNet's Var::version()).
  virtual uint64_t VarVersion(VarHandle var) = 0;
};

enum class EngineKind {
  kThreaded,  // per-device worker pools (MXNet's ThreadedEnginePerDevice)
  kNaive,     // synchronous in the pushing thread (MXNet's NaiveEngine)
};

struct EngineOptions {
  EngineKind kind = EngineKind::kThreaded;
  // Worker threads of each CPU device's normal pool; 0 = the number of cores (at least 2).
  int cpu_worker_threads = 0;
  // Threads of the CPU priority pool (kCPUPrioritized).
  int cpu_priority_threads = 2;
  // Normal and copy worker threads per GPU device (created when first used).
  int gpu_worker_threads = 2;
  int gpu_copy_threads = 2;
  // Nice value of the CPU normal pools' threads (and of the OpenMP threads their kernels
  // start, which inherit it), -20..19. A server makes its compute threads yield to the
  // threads that answer requests with a positive value; 0 leaves them as created.
  int cpu_worker_nice = 0;
};

// Creates an engine. The destructor waits for all pushed work, then joins its threads.
std::unique_ptr<Engine> CreateEngine(const EngineOptions& options);

// Options from the environment: MXGRID_ENGINE (threaded | naive), MXGRID_CPU_WORKER_NTHREADS,
// MXGRID_CPU_WORKER_NICE.
// InvalidArgument for an unknown engine kind or a malformed number.
absl::StatusOr<EngineOptions> EngineOptionsFromEnv();

// The process-wide engine, created on first use from the options given to
// ConfigureProcessEngine, else from EngineOptionsFromEnv() (aborting with a clear message if
// the environment is malformed). Never destroyed: arrays that outlive main() may still
// release their variables into it.
Engine* Get();

// Sets the options Get() creates the engine with (a server's main, from its flags).
// FailedPrecondition once the engine exists.
absl::Status ConfigureProcessEngine(const EngineOptions& options);

// Waits for every operation pushed to the process-wide engine to finish, if it exists. A
// server's main calls it before returning: the libraries' static state (oneDNN's generated
// kernels, the allocators) is destroyed at exit, under any kernel still running.
void DrainProcessEngine();

// True while the calling thread is running an engine operation.
bool InEngineOperation();

}  // namespace mxgrid::engine

#endif  // MXGRID_LIBS_ENGINE_ENGINE_H_
