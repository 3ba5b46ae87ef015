#include "libs/ops/gpu_fallback.h"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "libs/base/status_macros.h"
#include "libs/gpu/gpu.h"
#include "spdlog/spdlog.h"

namespace mxgrid::ops {
namespace {

std::atomic<int64_t> fallback_calls{0};

void NoteFallback(const OpDef& def, Context ctx) {
  fallback_calls.fetch_add(1, std::memory_order_relaxed);
  static std::mutex mu;
  static std::set<std::string>* logged = new std::set<std::string>;
  std::lock_guard<std::mutex> lock(mu);
  if (logged->insert(def.name).second) {
    spdlog::info("{} on {} runs its CPU kernel on host copies (no CUDA kernel for these "
                 "dtypes)", def.name, ctx.ToString());
  }
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Host copies of device views, freed with the object.
class HostCopies {
 public:
  HostCopies(const OpContext& ctx) : ctx_(ctx) {}

  // A host view shaped like `v`; its contents downloaded when `download`.
  absl::StatusOr<TensorView> Add(const TensorView& v, bool download) {
    TensorView h = v;
    h.ctx = Context::Cpu();
    if (v.data == nullptr) return h;
    const size_t bytes = static_cast<size_t>(v.size()) * DTypeSize(v.dtype);
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (p == nullptr) return absl::ResourceExhaustedError("out of host memory for a GPU call");
    buffers_.emplace_back(p);
    h.data = p;
    if (download) {
      MXGRID_RETURN_IF_ERROR(
          gpu::CopyDeviceToHost(ctx_.ctx.device_id, ctx_.stream, p, v.data, bytes));
    }
    return h;
  }

  absl::Status Upload(const TensorView& device, const TensorView& host) {
    if (device.data == nullptr) return absl::OkStatus();
    return gpu::CopyHostToDevice(ctx_.ctx.device_id, ctx_.stream, device.data, host.data,
                                 static_cast<size_t>(device.size()) * DTypeSize(device.dtype));
  }

 private:
  const OpContext& ctx_;
  std::vector<std::unique_ptr<void, FreeDeleter>> buffers_;
};

bool Reads(OpReq req) { return req == OpReq::kAddTo || req == OpReq::kWriteInplace; }

absl::StatusOr<std::vector<TensorView>> AddAll(HostCopies* copies,
                                               absl::Span<const TensorView> views,
                                               absl::Span<const OpReq> reqs, bool inputs) {
  std::vector<TensorView> out;
  out.reserve(views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    const bool download = inputs || (i < reqs.size() && Reads(reqs[i]));
    MXGRID_ASSIGN_OR_RETURN(TensorView h, copies->Add(views[i], download));
    out.push_back(h);
  }
  return out;
}

OpContext HostContext(const OpContext& ctx) {
  OpContext host = ctx;
  host.ctx = Context::Cpu();
  host.stream = nullptr;
  return host;
}

}  // namespace

absl::Status GpuFallbackForward(const OpDef& def, const OpParams& params,
                                const OpContext& ctx, absl::Span<const TensorView> inputs,
                                absl::Span<const OpReq> reqs,
                                absl::Span<const TensorView> outputs,
                                const std::vector<int>& mutated) {
  NoteFallback(def, ctx.ctx);
  HostCopies copies(ctx);
  MXGRID_ASSIGN_OR_RETURN(std::vector<TensorView> in, AddAll(&copies, inputs, {}, true));
  MXGRID_ASSIGN_OR_RETURN(std::vector<TensorView> out, AddAll(&copies, outputs, reqs, false));
  MXGRID_RETURN_IF_ERROR(def.forward(HostContext(ctx), params, in, reqs, out));
  for (size_t i = 0; i < out.size(); ++i) {
    if (reqs[i] != OpReq::kNull) MXGRID_RETURN_IF_ERROR(copies.Upload(outputs[i], out[i]));
  }
  for (int i : mutated) MXGRID_RETURN_IF_ERROR(copies.Upload(inputs[i], in[i]));
  return absl::OkStatus();
}

absl::Status GpuFallbackBackward(const OpDef& def, const OpParams& params,
                                 const OpContext& ctx, const BackwardArgs& args) {
  NoteFallback(def, ctx.ctx);
  HostCopies copies(ctx);
  MXGRID_ASSIGN_OR_RETURN(std::vector<TensorView> out_grads,
                          AddAll(&copies, args.out_grads, {}, true));
  MXGRID_ASSIGN_OR_RETURN(std::vector<TensorView> inputs, AddAll(&copies, args.inputs, {}, true));
  MXGRID_ASSIGN_OR_RETURN(std::vector<TensorView> outputs,
                          AddAll(&copies, args.outputs, {}, true));
  MXGRID_ASSIGN_OR_RETURN(std::vector<TensorView> in_grads,
                          AddAll(&copies, args.in_grads, args.reqs, false));
  BackwardArgs host{out_grads, inputs, outputs, in_grads, args.reqs};
  MXGRID_RETURN_IF_ERROR(def.backward(HostContext(ctx), params, host));
  for (size_t i = 0; i < in_grads.size(); ++i) {
    if (args.reqs[i] != OpReq::kNull) {
      MXGRID_RETURN_IF_ERROR(copies.Upload(args.in_grads[i], in_grads[i]));
    }
  }
  return absl::OkStatus();
}

int64_t GpuFallbackCalls() { return fallback_calls.load(std::memory_order_relaxed); }

}  // namespace mxgrid::ops
