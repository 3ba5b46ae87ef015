#include "libs/engine/flow.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace mxgrid::engine {
namespace {

thread_local Flow* current_flow = nullptr;

// How often WaitForRoom re-checks the caller's cancellation.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(20);

}  // namespace

Flow::Flow(std::string name, FlowLimits limits, std::shared_ptr<base::MemoryAccount> memory)
    : name_(std::move(name)), limits_(limits), memory_(std::move(memory)) {}

bool Flow::HasRoom() const {
  return (limits_.max_queued_ops <= 0 || queued_ops() < limits_.max_queued_ops) &&
         (limits_.max_queued_bytes <= 0 || queued_bytes() < limits_.max_queued_bytes);
}

absl::Status Flow::WaitForRoom(absl::Time deadline,
                               const std::function<absl::Status()>& cancelled) {
  if (HasRoom()) return absl::OkStatus();
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  absl::Status result;
  {
    base::MutexLock lock(&mu_);
    for (;;) {
      if (HasRoom()) break;
      if (cancelled) {
        if (absl::Status s = cancelled(); !s.ok()) {
          result = std::move(s);
          break;
        }
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        result = absl::ResourceExhaustedError(absl::StrCat(
            name_, " has ", queued_ops(), " operations writing ", queued_bytes(),
            " bytes queued (limits: ", limits_.max_queued_ops, " operations, ",
            limits_.max_queued_bytes,
            " bytes) and they did not drain before the call's deadline; wait for results "
            "(e.g. mx.nd.waitall()) before queueing more, or give calls a longer deadline"));
        break;
      }
      room_cv_.WaitFor(absl::ToChronoNanoseconds(std::min(left, kCancelPoll)));
    }
  }
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return result;
}

void Flow::OnQueued(int64_t bytes) {
  queued_ops_.fetch_add(1, std::memory_order_relaxed);
  queued_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (memory_ != nullptr) memory_->ForceCharge(kQueuedOpBytes);
}

void Flow::OnFinished(int64_t bytes) {
  queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  queued_ops_.fetch_sub(1, std::memory_order_seq_cst);
  finished_ops_.fetch_add(1, std::memory_order_relaxed);
  if (memory_ != nullptr) memory_->Release(kQueuedOpBytes);
  // Pairs with the seq_cst increment in WaitForRoom: a waiter that registered before this
  // load is woken; one that registers after sees the lower count in HasRoom.
  if (waiters_.load(std::memory_order_seq_cst) > 0) {
    base::MutexLock lock(&mu_);
    room_cv_.SignalAll();
  }
}

Flow* CurrentFlow() { return current_flow; }

FlowScope::FlowScope(std::shared_ptr<Flow> flow)
    : flow_(std::move(flow)), previous_(current_flow) {
  current_flow = flow_.get();
}

FlowScope::~FlowScope() { current_flow = previous_; }

namespace internal {
Flow* SwapCurrentFlow(Flow* flow) { return std::exchange(current_flow, flow); }
}  // namespace internal

}  // namespace mxgrid::engine
