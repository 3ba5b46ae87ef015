// CUDA kernels of the same-shape binary ops (elemwise_add/sub/mul/div, _mod, _maximum,
// _minimum, _power, _hypot, the comparisons, _grad_add) and add_n [ElementWiseSum].
// float32/float64, forward and backward; the comparisons have no gradient.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "libs/base/status_macros.h"
#include "libs/gpu/cuda_util.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/elemwise_cuda.cuh"
#include "libs/ops/tensor/tensor_cuda.h"
#include "libs/ops/tensor/tensor_cuda_util.cuh"

namespace mxgrid::ops::tensor_cuda {
namespace {

// Up to kChunk inputs of add_n per launch.
constexpr int kChunk = 32;

template <typename T>
struct Inputs {
  const T* p[kChunk];
  int n;
};

// y[i] (req) the sum of the chunk's inputs at i, in input order. `carry`: the sum starts from
// y[i] (a later chunk of a long add_n), written back.
template <typename T>
__global__ void AddNKernel(Inputs<T> in, T* y, int64_t n, int req, bool carry) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    T sum = carry ? y[i] : T(0);
    for (int k = 0; k < in.n; ++k) sum += in.p[k][i];
    if (carry) {
      y[i] = sum;
    } else {
      Put(req, y, i, sum);
    }
  }
}

absl::Status SetAddN(Registry* registry) {
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable("add_n"));
  d->gpu_forward = [](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs,
                      absl::Span<const TensorView> out) -> absl::Status {
    const int64_t n = out[0].size();
    if (reqs[0] == OpReq::kNull || n == 0) return absl::OkStatus();
    return DispatchRealCuda("add_n", out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      for (size_t start = 0; start < in.size(); start += kChunk) {
        Inputs<T> chunk;
        chunk.n = static_cast<int>(std::min<size_t>(kChunk, in.size() - start));
        for (int k = 0; k < chunk.n; ++k) chunk.p[k] = in[start + k].as<T>();
        AddNKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
            chunk, out[0].as<T>(), n, Req(reqs[0]), start > 0);
      }
      return gpu::LaunchStatus(ctx.ctx.device_id, "add_n");
    });
  };
  d->gpu_backward = [](const OpContext& ctx, const OpParams&,
                       const BackwardArgs& a) -> absl::Status {
    for (size_t k = 0; k < a.in_grads.size(); ++k) {
      if (a.reqs[k] == OpReq::kNull) continue;
      if (a.in_grads[k].data == a.out_grads[0].data) continue;  // in place: already it
      MXGRID_RETURN_IF_ERROR(CopyWithReq(ctx, "add_n", a.out_grads[0], a.reqs[k], a.in_grads[k]));
    }
    return absl::OkStatus();
  };
  d->gpu_dtypes = RealDtypes();
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterElemwiseCuda(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "elemwise_add", AddF{}, GradDy{}, GradDy{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "elemwise_sub", SubF{}, GradDy{}, GradNegDy{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "elemwise_mul", MulF{}, MulGradA{}, MulGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "elemwise_div", DivF{}, DivGradA{}, DivGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_mod", ModF{}, GradDy{}, ModGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_maximum", MaxF{}, MaxGradA{}, MaxGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_minimum", MinF{}, MinGradA{}, MinGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_power", PowF{}, PowGradA{}, PowGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_hypot", HypotF{}, HypotGradA{}, HypotGradB{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_grad_add", AddF{}, GradDy{}, GradDy{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_equal", CmpF<0>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_not_equal", CmpF<1>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_greater", CmpF<2>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(
      SetBinary(registry, "_greater_equal", CmpF<3>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(SetBinary(registry, "_lesser", CmpF<4>{}, GradZero{}, GradZero{}));
  MXGRID_RETURN_IF_ERROR(
      SetBinary(registry, "_lesser_equal", CmpF<5>{}, GradZero{}, GradZero{}));
  return SetAddN(registry);
}

}  // namespace mxgrid::ops::tensor_cuda
