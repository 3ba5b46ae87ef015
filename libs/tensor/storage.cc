#include "libs/tensor/storage.h"

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/status_macros.h"
#include "libs/engine/flow.h"

namespace mxgrid::tensor {

absl::StatusOr<std::shared_ptr<Storage>> Storage::Create(size_t bytes, Context ctx) {
  MXGRID_ASSIGN_OR_RETURN(Allocator * allocator, AllocatorFor(ctx));
  std::shared_ptr<base::MemoryAccount> account;
  if (ctx.is_cpu()) {
    const engine::Flow* flow = engine::CurrentFlow();
    account = flow != nullptr && flow->memory() != nullptr ? flow->memory() : HostMemoryAccount();
  }
  // No machine has 2^60 bytes; refusing here keeps the accounting arithmetic in range.
  if (bytes > (size_t{1} << 60)) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes, " bytes on ",
                                                     ctx.ToString()));
  }
  int64_t charged = 0;
  if (account != nullptr) {
    charged = static_cast<int64_t>(allocator->AllocationSize(bytes)) + kStorageOverheadBytes;
    MXGRID_RETURN_IF_ERROR(account->Charge(charged));
  }
  void* data = nullptr;  // CPU: allocated by the first data()
  if (!ctx.is_cpu()) {
    absl::StatusOr<void*> allocated = allocator->Allocate(bytes);
    if (!allocated.ok()) {
      if (account != nullptr) account->Release(charged);
      return allocated.status();
    }
    data = *allocated;
  }
  engine::VarHandle var = engine::Get()->NewVariable(static_cast<int64_t>(bytes));
  return std::make_shared<Storage>(Token(), data, bytes, ctx, allocator, var,
                                   std::move(account), charged);
}

void* Storage::data() const {
  if (void* p = data_.load(std::memory_order_acquire); p != nullptr) return p;
  if (allocator_ == nullptr) return nullptr;  // Wrap() of zero bytes
  absl::call_once(allocate_once_, [this] {
    if (data_.load(std::memory_order_acquire) != nullptr) return;
    absl::StatusOr<void*> allocated = allocator_->Allocate(bytes_);
    if (!allocated.ok()) {
      // The charge at Create kept the process within its limit, so the system itself is
      // short: give back every cached block (and malloc's free pages), then try once more.
      ReleaseCachedHostMemory();
      allocated = allocator_->Allocate(bytes_);
    }
    MXGRID_CHECK(allocated.ok()) << "cannot allocate " << bytes_ << " bytes on "
                                 << ctx_.ToString() << ": " << allocated.status();
    data_.store(*allocated, std::memory_order_release);
  });
  return data_.load(std::memory_order_acquire);
}

absl::StatusOr<std::shared_ptr<Storage>> Storage::Wrap(void* data, size_t bytes, Context ctx,
                                                       std::function<void()> release) {
  if (!ctx.is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot wrap host memory as ",
                                                   ctx.ToString(), " memory"));
  }
  if (bytes != 0 && reinterpret_cast<uintptr_t>(data) % kAlignment != 0) {
    return absl::InvalidArgumentError(absl::StrCat("wrapped memory must be aligned to ",
                                                   kAlignment, " bytes"));
  }
  const engine::Flow* flow = engine::CurrentFlow();
  std::shared_ptr<base::MemoryAccount> account =
      flow != nullptr && flow->memory() != nullptr ? flow->memory() : HostMemoryAccount();
  MXGRID_RETURN_IF_ERROR(account->Charge(kStorageOverheadBytes));
  engine::VarHandle var = engine::Get()->NewVariable(static_cast<int64_t>(bytes));
  return std::make_shared<Storage>(Token(), data, bytes, ctx, var, std::move(account),
                                   kStorageOverheadBytes, std::move(release));
}

Storage::~Storage() {
  if (release_) {
    engine::Get()->DeleteVariable(
        [release = std::move(release_), account = account_, charged = charged_](
            const engine::RunContext&) {
          release();
          if (account != nullptr) account->Release(charged);
        },
        ctx_, var_);
    return;
  }
  Allocator* allocator = allocator_;
  void* data = data_.load(std::memory_order_acquire);  // null: never allocated
  const size_t bytes = bytes_;
  // Moved into the deletion: given back once the memory really is free.
  engine::Get()->DeleteVariable(
      [allocator, data, bytes, account = account_, charged = charged_](
          const engine::RunContext&) {
        if (data != nullptr) allocator->Free(data, bytes);
        if (account != nullptr) account->Release(charged);
      },
      ctx_, var_);
}

}  // namespace mxgrid::tensor
