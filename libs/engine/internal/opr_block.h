// OprBlock: one pushed operation while the engine tracks it, and VarEntry: its claim on one
// variable. Both are engine-internal; blocks are pooled (ObjectPool) and reused, so pushing
// allocates nothing once the pool is warm.
//
// Lifetime: an OprBlock is taken from the pool by Push, linked into the FIFO of every
// variable it uses (through its VarEntry nodes), dispatched when `wait` drops to zero, and
// returned to the pool after it completes.
//
// Thread-safety: `wait` is atomic. Every other field is written by the pushing thread before
// the block is published (through the variables' locks and the worker queues) and read
// afterwards by the thread that runs it. VarEntry::next and VarEntry::error belong to the
// entry's variable and are written under its lock.
#ifndef MXGRID_LIBS_ENGINE_INTERNAL_OPR_BLOCK_H_
#define MXGRID_LIBS_ENGINE_INTERNAL_OPR_BLOCK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <variant>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/engine/engine.h"
#include "libs/engine/flow.h"

namespace mxgrid::engine::internal {

struct OprBlock;

// An operation's error as the engine passes it around: null for OK. Shared (like MXNet's
// shared_ptr<exception_ptr>) because one failure is stored in every variable downstream of
// it and in the global list, and released by whichever thread drops it last.
//
// The engine never shares an absl::Status representation with its callers or between
// threads: errors come in and go out as deep copies (CopyStatus), and inside the engine only
// the pointer is copied. Debian's Abseil is not built with ThreadSanitizer, so a Status
// whose uninstrumented reference count crosses threads looks like a data race to TSan.
using ErrorRef = std::shared_ptr<const absl::Status>;

// A Status equal to `status` (code, message, payloads) that shares no representation with it.
absl::Status CopyStatus(const absl::Status& status);

// Null for OK; otherwise a deep copy of `status`.
inline ErrorRef MakeErrorRef(const absl::Status& status) {
  return status.ok() ? nullptr : std::make_shared<const absl::Status>(CopyStatus(status));
}

// OK for null; otherwise a deep copy of the error.
inline absl::Status ToStatus(const ErrorRef& error) {
  return error == nullptr ? absl::OkStatus() : CopyStatus(*error);
}

// An operation's claim on one variable: a node of that variable's FIFO of waiting claims.
struct VarEntry {
  VarEntry* next = nullptr;  // next waiting claim (guarded by the variable's lock)
  OprBlock* opr = nullptr;
  Var* var = nullptr;
  bool write = false;
  // The variable's error when the claim was granted (ThreadedEngine), written by the
  // variable under its lock before it releases the claim. Capturing it at grant time, not
  // when the operation starts, makes what an operation inherits depend only on push order:
  // a WaitForVar that clears the error afterwards cannot race with it.
  ErrorRef error;
};

// What the block runs.
enum class OprKind : uint8_t {
  kSync,    // SyncFn on a worker pool
  kAsync,   // AsyncFn, run inline; completes through its callback
  kDelete,  // DeleteFn for DeleteVariable; never skipped; frees the variable
  kWait,    // WaitForVar's marker: never skipped, reports no error
};

using OprFn = std::variant<std::monostate, SyncFn, AsyncFn, DeleteFn>;

// Cache-line aligned: neighbouring blocks are often used by different threads at once.
struct alignas(64) OprBlock {
  OprBlock* pool_next = nullptr;  // ObjectPool free list
  OprBlock* next = nullptr;       // worker queue or inline queue link
  // Claims not yet granted, plus one held by Push until every claim is linked.
  std::atomic<int> wait{0};
  OprKind kind = OprKind::kSync;
  bool run_inline = false;  // runs in the thread that makes it ready (kAsync, kDeleteVar)
  bool inline_when_ready = false;  // PushOptions::run_inline_when_ready
  FnProperty property = FnProperty::kNormal;
  int priority = 0;
  const char* name = "op";
  Context ctx;
  void* engine = nullptr;  // the ThreadedEngine that owns the block
  OprFn fn;
  // One entry per distinct variable, sorted by address (the order variables are locked in).
  absl::InlinedVector<VarEntry, 2> entries;
  // The error inherited from an input, carried to completion (kAsync).
  ErrorRef inherited;
  // The flow the operation was pushed in (kSync/kAsync only; null when none) and the bytes
  // of the variables it writes, counted in the flow while the operation is queued.
  std::shared_ptr<Flow> flow;
  int64_t flow_bytes = 0;

  // Drops the function (running its destructor), the error and the flow; keeps capacity.
  void Reset() {
    fn = std::monostate();
    inherited.reset();
    flow.reset();
    flow_bytes = 0;
    entries.resize(0);
    next = nullptr;
  }
};

// Fills `entries` with one claim per distinct variable of `reads` and `writes` (a variable in
// both is written), sorted by variable address. Entries point at `opr`.
// REQUIRES: no handle is null.
void BuildEntries(absl::Span<const VarHandle> reads, absl::Span<const VarHandle> writes,
                  OprBlock* opr, absl::InlinedVector<VarEntry, 2>* entries);

}  // namespace mxgrid::engine::internal

#endif  // MXGRID_LIBS_ENGINE_INTERNAL_OPR_BLOCK_H_
