// Flow: one client of the engine — a worker session — as the unit of fair scheduling,
// of admission control and of memory accounting.
//
// Operations pushed while a FlowScope is active on the pushing thread belong to its flow:
//   - the engine's FIFO worker pools dispatch ready operations round-robin across flows, so a
//     flow with a long backlog delays another flow's operation by at most about one
//     operation per busy flow, not by its whole backlog;
//   - the flow counts its queued operations (pushed, not yet finished) and the bytes they
//     write; WaitForRoom() holds a caller back while either is at its limit, which bounds
//     the work and the memory one client can queue;
//   - each queued operation's own record is charged to the flow's memory account (when it
//     has one), and array storage allocated inside the scope (libs/tensor) is charged to
//     that account too.
// An engine operation runs inside its flow's scope, so pushes and allocations it makes
// belong to the same flow. Cancel() (a session closed or expired) makes the flow's queued
// operations that have not started yet finish with Cancelled instead of running: nobody
// can read their results, and a client that goes away leaves no backlog behind.
//
//   auto flow = std::make_shared<engine::Flow>("session 1a2b", limits, session_memory);
//   MXGRID_RETURN_IF_ERROR(flow->WaitForRoom(deadline));
//   engine::FlowScope scope(flow);
//   engine::Get()->PushSync(...);        // scheduled and counted in `flow`
//
// Thread-safety: Flow is thread-safe. A FlowScope belongs to the thread that made it.
#ifndef MXGRID_LIBS_ENGINE_FLOW_H_
#define MXGRID_LIBS_ENGINE_FLOW_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/base/memory_account.h"
#include "libs/base/mutex.h"

namespace mxgrid::engine {

struct FlowLimits {
  // Operations pushed and not yet finished; 0: no limit.
  int64_t max_queued_ops = 0;
  // Bytes of the arrays those operations write (their variables' sizes); 0: no limit.
  int64_t max_queued_bytes = 0;
};

// What the engine charges a flow's memory account for one queued operation: its pooled
// record (OprBlock) and the closure the caller pushed (arrays' handles, parsed operator
// reference, vectors), measured at 500-900 bytes for imperative operator calls.
inline constexpr int64_t kQueuedOpBytes = 1024;

class Flow : public std::enable_shared_from_this<Flow> {
 public:
  // `memory` may be null (nothing charged).
  Flow(std::string name, FlowLimits limits, std::shared_ptr<base::MemoryAccount> memory);
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  const std::string& name() const { return name_; }
  const FlowLimits& limits() const { return limits_; }
  // Where storage allocated in this flow's scope and its queued operations are charged;
  // may be null.
  const std::shared_ptr<base::MemoryAccount>& memory() const { return memory_; }

  // Returns once the flow has fewer queued operations and bytes than its limits (at once
  // when it has), ResourceExhausted when `deadline` comes first, or the status `cancelled`
  // returns (checked every few milliseconds; e.g. the RPC was cancelled) when not OK.
  absl::Status WaitForRoom(absl::Time deadline,
                           const std::function<absl::Status()>& cancelled = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  int64_t queued_ops() const { return queued_ops_.load(std::memory_order_relaxed); }
  int64_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  // Operations finished since the flow was made.
  int64_t finished_ops() const { return finished_ops_.load(std::memory_order_relaxed); }

  // Operations that have not started yet, and those pushed later, are skipped: they finish
  // with Cancelled (passed on to their outputs, as any error). Irreversible.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // Engine side: an operation writing `bytes` was pushed / has finished.
  void OnQueued(int64_t bytes);
  void OnFinished(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  bool HasRoom() const;

  const std::string name_;
  const FlowLimits limits_;
  const std::shared_ptr<base::MemoryAccount> memory_;
  std::atomic<int64_t> queued_ops_{0};
  std::atomic<int64_t> queued_bytes_{0};
  std::atomic<int64_t> finished_ops_{0};
  std::atomic<bool> cancelled_{false};
  // Callers in WaitForRoom; OnFinished signals only when there are some.
  std::atomic<int> waiters_{0};
  base::Mutex mu_;
  base::CondVar room_cv_{&mu_};
};

// The flow of the calling thread's innermost FlowScope (or of the engine operation it is
// running); null when none.
Flow* CurrentFlow();

// Makes `flow` current on this thread until the scope ends (then the previous one again).
// A null flow makes no flow current.
class FlowScope {
 public:
  explicit FlowScope(std::shared_ptr<Flow> flow);
  ~FlowScope();
  FlowScope(const FlowScope&) = delete;
  FlowScope& operator=(const FlowScope&) = delete;

 private:
  std::shared_ptr<Flow> flow_;
  Flow* previous_;
};

namespace internal {
// For the engine: sets the current flow while it runs an operation; returns the previous.
Flow* SwapCurrentFlow(Flow* flow);
}  // namespace internal

}  // namespace mxgrid::engine

#endif  // MXGRID_LIBS_ENGINE_FLOW_H_
