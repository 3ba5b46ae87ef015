// Small helpers for pushing NDArray work to the engine (private to libs/tensor).
#ifndef MXGRID_LIBS_TENSOR_INTERNAL_PUSH_H_
#define MXGRID_LIBS_TENSOR_INTERNAL_PUSH_H_

#include <utility>

#include "absl/status/status.h"
#include "libs/engine/engine.h"
#include "libs/gpu/gpu.h"

namespace mxgrid::tensor::internal {

// Pushes `fn` (absl::Status()) on `ctx`, reading `reads` and writing `writes`.
template <typename Fn>
void Push(const char* name, Context ctx, std::initializer_list<engine::VarHandle> reads,
          std::initializer_list<engine::VarHandle> writes, Fn&& fn) {
  engine::PushOptions options;
  options.name = name;
  engine::Get()->PushSync(
      [fn = std::forward<Fn>(fn)](const engine::RunContext&) -> absl::Status { return fn(); },
      ctx, absl::Span<const engine::VarHandle>(reads.begin(), reads.size()),
      absl::Span<const engine::VarHandle>(writes.begin(), writes.size()), options);
}

// Pushes `fn` (absl::Status(void* stream)) on GPU context `ctx` with `property` (a copy
// pool or the normal one): it runs with the engine thread's stream on the device, which is
// synchronized before the operation completes (its errors become the operation's).
template <typename Fn>
void PushOnGpu(const char* name, Context ctx, engine::FnProperty property,
               std::initializer_list<engine::VarHandle> reads,
               std::initializer_list<engine::VarHandle> writes, Fn&& fn) {
  engine::PushOptions options;
  options.name = name;
  options.property = property;
  engine::Get()->PushSync(
      [fn = std::forward<Fn>(fn), ctx, name](const engine::RunContext&) -> absl::Status {
        return gpu::RunOnThreadStream(ctx.device_id, name, fn);
      },
      ctx, absl::Span<const engine::VarHandle>(reads.begin(), reads.size()),
      absl::Span<const engine::VarHandle>(writes.begin(), writes.size()), options);
}

}  // namespace mxgrid::tensor::internal

#endif  // MXGRID_LIBS_TENSOR_INTERNAL_PUSH_H_
