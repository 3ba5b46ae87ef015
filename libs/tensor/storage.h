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
#include <functional>
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

  // Wraps host memory this process did not allocate (e.g. a client's mapped shared memory
  // that an upload adopts): `release` runs on an engine thread once the last holder let go
  // and every operation on the storage has finished; until then `data` must stay valid.
  // Charged kStorageOverheadBytes only (the bytes are not this process's allocation).
  // InvalidArgument unless `data` is kAlignment-aligned (or bytes is 0); ResourceExhausted
  // when the charge fails.
  // InvalidArgument also for a GPU context.
  static absl::StatusOr<std::shared_ptr<Storage>> Wrap(void* data, size_t bytes, Context ctx,
                                                       std::function<void()> release);

  // Only Create() and Wrap() can make the token, so Storage is always built through them.
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
  Storage(Token token, void* data, size_t bytes, Context ctx, engine::VarHandle var,
          std::shared_ptr<base::MemoryAccount> account, int64_t charged,
          std::function<void()> release)
      : Storage(token, data, bytes, ctx, nullptr, var, std::move(account), charged) {
    release_ = std::move(release);
  }

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  // The memory; allocated by the first call for CPU storage. When the allocator fails then,
  // the cached host memory is released and the allocation retried once; a second failure
  // aborts (the charge at Create keeps the process within its memory limit, so only a
  // system out of memory gets there, where the kernel's OOM killer would act anyway).
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
  // Wrap(): runs instead of allocator_->Free (allocator_ is null then).
  std::function<void()> release_;
};

}  // namespace mxgrid::tensor

#endif  // MXGRID_LIBS_TENSOR_STORAGE_H_
