#include "libs/tensor/storage.h"

#include "libs/base/status_macros.h"

namespace mxgrid::tensor {

absl::StatusOr<std::shared_ptr<Storage>> Storage::Create(size_t bytes, Context ctx) {
  MXGRID_ASSIGN_OR_RETURN(Allocator * allocator, AllocatorFor(ctx));
  MXGRID_ASSIGN_OR_RETURN(void* data, allocator->Allocate(bytes));
  engine::VarHandle var = engine::Get()->NewVariable();
  return std::make_shared<Storage>(Token(), data, bytes, ctx, allocator, var);
}

Storage::~Storage() {
  Allocator* allocator = allocator_;
  void* data = data_;
  const size_t bytes = bytes_;
  engine::Get()->DeleteVariable(
      [allocator, data, bytes](const engine::RunContext&) { allocator->Free(data, bytes); },
      ctx_, var_);
}

}  // namespace mxgrid::tensor
