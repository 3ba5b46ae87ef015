#include "libs/engine/naive_engine.h"

#include <utility>

#include "absl/container/inlined_vector.h"
#include "libs/base/check.h"
#include "libs/engine/internal/opr_block.h"
#include "libs/engine/internal/run_fn.h"

namespace mxgrid::engine {
namespace {

// Where an async operation's callback leaves its result for the waiting pusher. The callback
// signals while holding the mutex, so the waiter may destroy it as soon as it sees `done`.
struct AsyncResult {
  base::Mutex mu;
  base::CondVar cv{&mu};
  bool done ABSL_GUARDED_BY(mu) = false;
  internal::ErrorRef error ABSL_GUARDED_BY(mu);
};

void OnAsyncComplete(void* /*engine*/, void* opr, const absl::Status& status) {
  auto* result = static_cast<AsyncResult*>(opr);
  base::MutexLock lock(&result->mu);
  MXGRID_CHECK(!result->done) << "an async operation called on_complete twice";
  result->done = true;
  result->error = internal::MakeErrorRef(status);
  result->cv.SignalAll();
}

}  // namespace

VarHandle NaiveEngine::NewVariable(int64_t bytes) {
  Var* var = vars_.Alloc();
  var->bytes = bytes;
  return var;
}

template <typename RunFn>
void NaiveEngine::Execute(absl::Span<const VarHandle> reads, absl::Span<const VarHandle> writes,
                          const PushOptions& options, RunFn run) {
  absl::InlinedVector<internal::VarEntry, 2> entries;
  internal::BuildEntries(reads, writes, nullptr, &entries);
  internal::ErrorRef inherited;
  for (int pass = 0; pass < 2 && inherited == nullptr; ++pass) {
    for (const internal::VarEntry& e : entries) {
      if (e.write != (pass == 1)) continue;
      inherited = e.var->error();
      if (inherited != nullptr) break;
    }
  }
  internal::ErrorRef error = inherited;
  if (inherited == nullptr || options.property == FnProperty::kNoSkip) {
    internal::ErrorRef own = run();
    if (own != nullptr) error = std::move(own);
  }
  if (error != nullptr) RecordError(error);
  for (const internal::VarEntry& e : entries) {
    if (e.write) e.var->RecordWrite(error);
  }
}

void NaiveEngine::PushSync(SyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                           absl::Span<const VarHandle> writes, const PushOptions& options) {
  const char* name = options.name != nullptr ? options.name : "op";
  Execute(reads, writes, options, [&] {
    return internal::MakeErrorRef(internal::RunSyncFn(fn, RunContext{ctx, nullptr}, name));
  });
}

void NaiveEngine::PushAsync(AsyncFn fn, Context ctx, absl::Span<const VarHandle> reads,
                            absl::Span<const VarHandle> writes, const PushOptions& options) {
  const char* name = options.name != nullptr ? options.name : "op";
  Execute(reads, writes, options, [&] {
    AsyncResult result;
    absl::Status thrown = internal::RunAsyncFn(
        fn, RunContext{ctx, nullptr}, CallbackOnComplete(&OnAsyncComplete, this, &result), name);
    if (!thrown.ok()) return internal::MakeErrorRef(thrown);
    base::MutexLock lock(&result.mu);
    while (!result.done) result.cv.Wait();
    return std::move(result.error);
  });
}

void NaiveEngine::DeleteVariable(DeleteFn on_delete, Context ctx, VarHandle var) {
  MXGRID_CHECK(var != nullptr) << "DeleteVariable of a null variable";
  internal::ErrorRef error = internal::MakeErrorRef(
      internal::RunDeleteFn(on_delete, RunContext{ctx, nullptr}, "DeleteVariable"));
  if (error != nullptr) RecordError(error);
  var->Reset();
  vars_.Free(var);
}

// Every operation has run by the time Push returns: nothing to wait for.
absl::Status NaiveEngine::WaitForVarUntil(VarHandle var, absl::Time) { return WaitForVar(var); }

absl::Status NaiveEngine::WaitForVar(VarHandle var) {
  if (InEngineOperation()) return internal::WaitInsideOperationError("WaitForVar");
  MXGRID_CHECK(var != nullptr) << "WaitForVar of a null variable";
  return var->TakeError();
}

absl::Status NaiveEngine::WaitForAll() {
  if (InEngineOperation()) return internal::WaitInsideOperationError("WaitForAll");
  internal::ErrorRef error;
  {
    base::MutexLock lock(&error_mu_);
    error.swap(first_error_);
  }
  return internal::ToStatus(error);
}

uint64_t NaiveEngine::VarVersion(VarHandle var) {
  MXGRID_CHECK(var != nullptr) << "VarVersion of a null variable";
  return var->version();
}

void NaiveEngine::RecordError(const internal::ErrorRef& error) {
  base::MutexLock lock(&error_mu_);
  if (first_error_ == nullptr) first_error_ = error;
}

}  // namespace mxgrid::engine
