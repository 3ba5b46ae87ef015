#include "services/worker/internal/wait.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "libs/engine/engine.h"

namespace mxgrid::services::internal {

absl::Status WaitToRead(grpc::ServerContext* context, const tensor::NDArray& a) {
  if (a.is_none()) return a.WaitToRead();  // its error
  // Cancellation is checked only when a slice of this length passes with the work still
  // pending: a sync server's IsCancelled() polls the call's completion queue (a lock and a
  // syscall), which a Wait over thousands of ready arrays must not pay per array.
  constexpr absl::Duration kSlice = absl::Milliseconds(50);
  const absl::Time deadline = absl::FromChrono(context->deadline());
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(
          "the call's deadline passed before the array's pending work finished");
    }
    absl::Status s = engine::Get()->WaitForVarUntil(a.var(), std::min(deadline, now + kSlice));
    if (s.code() != absl::StatusCode::kDeadlineExceeded) return s;
    if (context->IsCancelled()) return absl::CancelledError("the call was cancelled");
  }
}

absl::Status WaitToWrite(grpc::ServerContext* context, const tensor::NDArray& a) {
  if (a.is_none()) return a.WaitToWrite();  // its error
  // An empty write orders after every pending read and write; waiting for it as a read
  // waits for them all.
  const engine::VarHandle var = a.var();
  engine::PushOptions options;
  options.name = "wait_to_write";
  engine::Get()->PushSync([](const engine::RunContext&) { return absl::OkStatus(); },
                          a.context(), {}, absl::MakeConstSpan(&var, 1), options);
  return WaitToRead(context, a);
}

absl::Status WaitForRoom(grpc::ServerContext* context, const Session& session) {
  // Gives up a little before the call's deadline, so that the client receives
  // RESOURCE_EXHAUSTED (what to do: wait for results) rather than its own DEADLINE_EXCEEDED.
  const absl::Time deadline = absl::FromChrono(context->deadline());
  const absl::Duration left = deadline - absl::Now();
  const absl::Duration margin = std::min(absl::Milliseconds(50), left / 5);
  return session.flow()->WaitForRoom(deadline - margin, [context] {
    return context->IsCancelled() ? absl::CancelledError("the call was cancelled")
                                  : absl::OkStatus();
  });
}

}  // namespace mxgrid::services::internal
