// NaiveEngine: MXNet's NaiveEngine. Every operation runs synchronously in the pushing thread
// before Push returns (an async operation's push waits for its callback, which may come from
// another thread). Error semantics are the threaded engine's: a failed operation's error is
// stored in the variables it writes; operations whose inputs carry an error are skipped
// (except kNoSkip) and pass it on; WaitForVar returns and clears a variable's error;
// WaitForAll returns the first error since the last WaitForAll.
//
// For debugging: errors surface at the push that caused them, with a plain stack.
//
// Thread-safety: every method is thread-safe, but operations pushed from different threads
// run concurrently in their pushing threads: NaiveEngine orders operations only within one
// pushing thread. An async callback that waits for work the same thread pushes later
// deadlocks (it would with MXNet's NaiveEngine too).
#ifndef MXGRID_LIBS_ENGINE_NAIVE_ENGINE_H_
#define MXGRID_LIBS_ENGINE_NAIVE_ENGINE_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/base/mutex.h"
#include "libs/engine/engine.h"
#include "libs/engine/internal/object_pool.h"
#include "libs/engine/internal/opr_block.h"
#include "libs/engine/internal/var.h"

namespace mxgrid::engine {

class NaiveEngine final : public Engine {
 public:
  NaiveEngine() = default;
  ~NaiveEngine() override = default;
  NaiveEngine(const NaiveEngine&) = delete;
  NaiveEngine& operator=(const NaiveEngine&) = delete;

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
  // Runs `run` unless an input carries an error (kNoSkip runs anyway), then stores the result
  // into the written variables. `run` returns the operation's own error (null: OK).
  template <typename RunFn>
  void Execute(absl::Span<const VarHandle> reads, absl::Span<const VarHandle> writes,
               const PushOptions& options, RunFn run);
  void RecordError(const internal::ErrorRef& error);

  internal::ObjectPool<Var> vars_;
  base::Mutex error_mu_;
  internal::ErrorRef first_error_ ABSL_GUARDED_BY(error_mu_);
};

}  // namespace mxgrid::engine

#endif  // MXGRID_LIBS_ENGINE_NAIVE_ENGINE_H_
