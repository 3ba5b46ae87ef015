#include "libs/ops/half_in_float.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"

namespace mxgrid::ops {
namespace {

// Per view: 1 where it is to be copied (in or back), else 0.
using Flags = std::vector<uint8_t>;

bool IsHalf(const TensorView& v) {
  return v.data != nullptr && (v.dtype == DType::kFloat16 || v.dtype == DType::kBFloat16);
}

bool AnyHalf(absl::Span<const TensorView> views) {
  return std::any_of(views.begin(), views.end(), IsHalf);
}

template <typename T>
void ToFloat(const T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(ToDouble(src[i]));
}

template <typename T>
void FromFloat(const float* src, T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = FromDouble<T>(src[i]);
}

// Float32 stand-ins for the half-precision views of one kernel call.
class FloatCopies {
 public:
  // The views with each half-precision one replaced by a float32 buffer, holding its values
  // where `fill` says (inputs, and outputs that accumulate).
  std::vector<TensorView> Stand(absl::Span<const TensorView> views, const Flags& fill) {
    std::vector<TensorView> out(views.begin(), views.end());
    for (size_t i = 0; i < views.size(); ++i) {
      const TensorView& v = views[i];
      if (!IsHalf(v)) continue;
      auto buffer = std::make_unique<float[]>(static_cast<size_t>(std::max<int64_t>(v.size(), 1)));
      if (fill[i]) {
        if (v.dtype == DType::kFloat16) {
          ToFloat(v.as<Half>(), buffer.get(), v.size());
        } else {
          ToFloat(v.as<BFloat16>(), buffer.get(), v.size());
        }
      }
      out[i].data = buffer.get();
      out[i].dtype = DType::kFloat32;
      buffers_.push_back(std::move(buffer));
    }
    return out;
  }

  // Rounds stand[i] back into views[i] where `back` says and the view is half precision.
  static void Back(absl::Span<const TensorView> views, absl::Span<const TensorView> stand,
                   const Flags& back) {
    for (size_t i = 0; i < views.size(); ++i) {
      const TensorView& v = views[i];
      if (!IsHalf(v) || !back[i]) continue;
      if (v.dtype == DType::kFloat16) {
        FromFloat(stand[i].as<float>(), v.as<Half>(), v.size());
      } else {
        FromFloat(stand[i].as<float>(), v.as<BFloat16>(), v.size());
      }
    }
  }

 private:
  std::vector<std::unique_ptr<float[]>> buffers_;
};

// Outputs (or input gradients) read first: those accumulated into (kAddTo).
Flags Accumulated(absl::Span<const OpReq> reqs, size_t n) {
  Flags f(n, 0);
  for (size_t i = 0; i < n && i < reqs.size(); ++i) f[i] = reqs[i] == OpReq::kAddTo;
  return f;
}

// Outputs written (any request but kNull).
Flags Written(absl::Span<const OpReq> reqs, size_t n) {
  Flags f(n, 0);
  for (size_t i = 0; i < n && i < reqs.size(); ++i) f[i] = reqs[i] != OpReq::kNull;
  return f;
}

}  // namespace

void ComputeHalfInFloat(OpDef* def) {
  auto forward = std::move(def->forward);
  auto aux_indices = def->aux_indices;
  auto mutate_indices = def->mutate_indices;
  def->forward = [forward, aux_indices, mutate_indices](
                     const OpContext& ctx, const OpParams& params,
                     absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                     absl::Span<const TensorView> out) -> absl::Status {
    if (!AnyHalf(in) && !AnyHalf(out)) return forward(ctx, params, in, reqs, out);
    FloatCopies copies;
    const std::vector<TensorView> in_f = copies.Stand(in, Flags(in.size(), 1));
    const std::vector<TensorView> out_f = copies.Stand(out, Accumulated(reqs, out.size()));
    MXGRID_RETURN_IF_ERROR(forward(ctx, params, in_f, reqs, out_f));
    FloatCopies::Back(out, out_f, Written(reqs, out.size()));
    // Inputs the kernel writes (auxiliary states, mutated arguments) go back too.
    Flags written_inputs(in.size(), 0);
    for (const auto& indices : {aux_indices, mutate_indices}) {
      if (!indices) continue;
      for (int i : indices(params)) {
        if (i >= 0 && static_cast<size_t>(i) < in.size()) written_inputs[i] = 1;
      }
    }
    FloatCopies::Back(in, in_f, written_inputs);
    return absl::OkStatus();
  };
  if (!def->backward) return;
  auto backward = std::move(def->backward);
  def->backward = [backward](const OpContext& ctx, const OpParams& params,
                             const BackwardArgs& a) -> absl::Status {
    if (!AnyHalf(a.out_grads) && !AnyHalf(a.inputs) && !AnyHalf(a.outputs) &&
        !AnyHalf(a.in_grads)) {
      return backward(ctx, params, a);
    }
    FloatCopies copies;
    const std::vector<TensorView> og = copies.Stand(a.out_grads, Flags(a.out_grads.size(), 1));
    const std::vector<TensorView> in = copies.Stand(a.inputs, Flags(a.inputs.size(), 1));
    const std::vector<TensorView> out = copies.Stand(a.outputs, Flags(a.outputs.size(), 1));
    const std::vector<TensorView> grads =
        copies.Stand(a.in_grads, Accumulated(a.reqs, a.in_grads.size()));
    MXGRID_RETURN_IF_ERROR(backward(ctx, params, BackwardArgs{og, in, out, grads, a.reqs}));
    FloatCopies::Back(a.in_grads, grads, Written(a.reqs, a.in_grads.size()));
    return absl::OkStatus();
  };
}

}  // namespace mxgrid::ops
