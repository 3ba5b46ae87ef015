// Storage: one device allocation plus the engine variable that orders every access to it.
//
// NDArrays hold a std::shared_ptr<Storage>; views (slices, reshapes) of an array share it,
// which is the one truly shared lifetime in the tensor library. When the last holder lets go,
// the destructor hands the memory to the engine: it is freed after every operation already
// pushed on the variable has run, so pending work never touches freed memory.
//
// Accounting: the allocation (its size class) plus kStorageOverheadBytes is charged at Create
// to the memory account of the current engine flow (engine::FlowScope: a worker session) or,
// outside any flow, to HostMemoryAccount(); the charge is given back when the memory is
// freed. An account at its limit makes Create ResourceExhausted.
//
// CPU memory is taken from the allocator at the first data(), not at Create, as MXNet's
// delayed allocation does: an operation's output gets its memory when the operation runs, so
// memory that the operations queued before it free (a dropped `c` in a `c = a + b` loop)
// can hold it, instead of fresh memory for every call queued ahead of the engine. GPU memory
// is allocated at Create (its failures are common and are ResourceExhausted there).
//
// Thread-safety: the first data() allocates exactly once, also when called concurrently;
// the memory may be read and written only from engine operations that name var() (or after
// waiting on it).
#ifndef MXGRID_LIBS_TENSOR_STORAGE_H_
#define MXGRID_LIBS_TENSOR_STORAGE_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "libs/base/context.h"
#include "libs/base/memory_account.h"
#include "libs/engine/engine.h"
#include "libs/tensor/allocator.h"

namespace mxgrid::tensor {

// What one Storage costs besides its data: the object, its shared_ptr control block and its
// engine variable (measured: 64 + 32 + 128 bytes, rounded up).
inline constexpr int64_t kStorageOverheadBytes = 256;

class Storage {
 public:
  // Storage of `bytes` on `ctx` (from AllocatorFor(ctx)) with a new engine variable.
  // ResourceExhausted when the charge (see above) or a GPU allocation fails.
  static absl::StatusOr<std::shared_ptr<Storage>> Create(size_t bytes, Context ctx);

  // Only Create() can make the token, so Storage is always built through it.
  class Token {
   private:
    friend class Storage;
    Token() = default;
  };
  Storage(Token, void* data, size_t bytes, Context ctx, Allocator* allocator,
          engine::VarHandle var, std::shared_ptr<base::MemoryAccount> account, int64_t charged)
      : data_(data),
        bytes_(bytes),
        ctx_(ctx),
        allocator_(allocator),
        var_(var),
        account_(std::move(account)),
        charged_(charged) {}

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  // The memory; allocated by the first call for CPU storage. Aborts when the allocator
  // fails then (the charge at Create bounds the size; on Linux an allocation within the
  // host's memory does not fail).
  void* data() const;
  size_t bytes() const { return bytes_; }
  Context context() const { return ctx_; }
  engine::VarHandle var() const { return var_; }

 private:
  // Null until the first data() for CPU storage.
  mutable std::atomic<void*> data_;
  mutable absl::once_flag allocate_once_;
  const size_t bytes_;
  const Context ctx_;
  Allocator* const allocator_;  // Not owned; process-wide.
  const engine::VarHandle var_;
  // Charged `charged_` bytes for this storage (null: nothing charged).
  const std::shared_ptr<base::MemoryAccount> account_;
  const int64_t charged_;
};

}  // namespace mxgrid::tensor

#endif  // MXGRID_LIBS_TENSOR_STORAGE_H_
