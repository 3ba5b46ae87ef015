// Running user functions on behalf of an engine: marks the thread as inside an engine
// operation (InEngineOperation) for the duration and turns exceptions into statuses, so no
// exception ever crosses into engine bookkeeping.
//
// Thread-safety: thread-safe; the in-operation flag is thread-local.
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_RUN_FN_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_RUN_FN_H_

#include "absl/status/status.h"
#include "libs/engine/engine.h"

namespace mxgrid::engine::internal {

// Sets the calling thread's in-operation flag for the scope (nests).
class OperationScope {
 public:
  OperationScope();
  ~OperationScope();
  OperationScope(const OperationScope&) = delete;
  OperationScope& operator=(const OperationScope&) = delete;

 private:
  bool previous_;
};

// The status `fn` returns, or Internal naming operation `name` if it throws.
absl::Status RunSyncFn(const SyncFn& fn, const RunContext& ctx, const char* name);

// Calls `fn`; OK if it returned, Internal naming `name` if it threw. The caller completes the
// operation with that error itself only if `fn` threw (an AsyncFn that throws must not also
// call `on_complete`).
absl::Status RunAsyncFn(const AsyncFn& fn, const RunContext& ctx, CallbackOnComplete on_complete,
                        const char* name);

// FailedPrecondition for `what` (WaitForVar, WaitForAll) called inside an operation.
absl::Status WaitInsideOperationError(const char* what);

// Calls `fn` if set; Internal naming `name` if it throws.
absl::Status RunDeleteFn(const DeleteFn& fn, const RunContext& ctx, const char* name);

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_RUN_FN_H_
