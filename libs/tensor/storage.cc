#include "libs/tensor/storage.h"

#include "absl/strings/str_cat.h"
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
  absl::StatusOr<void*> data = allocator->Allocate(bytes);
  if (!data.ok()) {
    if (account != nullptr) account->Release(charged);
    return data.status();
  }
  engine::VarHandle var = engine::Get()->NewVariable(static_cast<int64_t>(bytes));
  return std::make_shared<Storage>(Token(), *data, bytes, ctx, allocator, var,
                                   std::move(account), charged);
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
  void* data = data_;
  const size_t bytes = bytes_;
  // Moved into the deletion: given back once the memory really is free.
  engine::Get()->DeleteVariable(
      [allocator, data, bytes, account = account_, charged = charged_](
          const engine::RunContext&) {
        allocator->Free(data, bytes);
        if (account != nullptr) account->Release(charged);
      },
      ctx_, var_);
}

}  // namespace mxgrid::tensor
