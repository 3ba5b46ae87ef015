#include "libs/engine/internal/run_fn.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace mxgrid::engine {
namespace {

thread_local bool in_engine_operation = false;

absl::Status ThrownError(const char* name, const char* what) {
  return absl::InternalError(absl::StrCat("engine operation '", name, "' threw: ", what));
}

}  // namespace

bool InEngineOperation() { return in_engine_operation; }

namespace internal {

OperationScope::OperationScope() : previous_(in_engine_operation) {
  in_engine_operation = true;
}

OperationScope::~OperationScope() { in_engine_operation = previous_; }

absl::Status WaitInsideOperationError(const char* what) {
  return absl::FailedPreconditionError(absl::StrCat(
      what,
      " called from inside an engine operation, where waiting could deadlock; wait outside "
      "the operation, or make the variable a read dependency of the operation instead"));
}

absl::Status RunSyncFn(const SyncFn& fn, const RunContext& ctx, const char* name) {
  OperationScope scope;
  try {
    return fn(ctx);
  } catch (const std::exception& e) {
    return ThrownError(name, e.what());
  } catch (...) {
    return ThrownError(name, "an exception not derived from std::exception");
  }
}

absl::Status RunAsyncFn(const AsyncFn& fn, const RunContext& ctx, CallbackOnComplete on_complete,
                        const char* name) {
  OperationScope scope;
  try {
    fn(ctx, on_complete);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return ThrownError(name, e.what());
  } catch (...) {
    return ThrownError(name, "an exception not derived from std::exception");
  }
}

absl::Status RunDeleteFn(const DeleteFn& fn, const RunContext& ctx, const char* name) {
  if (!fn) return absl::OkStatus();
  OperationScope scope;
  try {
    fn(ctx);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return ThrownError(name, e.what());
  } catch (...) {
    return ThrownError(name, "an exception not derived from std::exception");
  }
}

}  // namespace internal
}  // namespace mxgrid::engine
