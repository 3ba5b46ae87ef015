// The samplers on the GPU: _random_<dist>, _random_<dist>_like, _sample_<dist> and
// _random_randint (random_scalar.cc, sample_array.cc, randint.cc), one thread per output
// element drawing from its own Philox subsequence of the call's seed (random_cuda.cuh).
// Parameters, dtypes and errors are the CPU kernels': the parsed structs of random_params.h,
// CheckParams' messages (the parameter arrays of _sample_<dist> are checked on the device
// first and the first bad element's values read back), randint's range check.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/cuda_kernels.h"
#include "libs/ops/random/random_cuda.cuh"
#include "libs/ops/random/random_params.h"

namespace mxgrid::ops {
namespace random {
namespace {

// out[i] = draw(dist, a, b) for i < n.
template <typename T>
__global__ void ScalarKernel(Dist dist, double a, double b, uint64_t seed, int64_t n, T* out) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    cu::Philox s;
    cu::Init(seed, i, &s);
    out[i] = static_cast<T>(cu::Draw(dist, a, b, &s));
  }
}

// flag = min j with !ParamsOk(pa[j], pb[j]) (pb null: b = 0).
template <typename P>
__global__ void CheckKernel(Dist dist, const P* pa, const P* pb, int64_t n,
                            unsigned long long* flag) {
  MXGRID_CUDA_KERNEL_LOOP(j, n) {
    const double a = static_cast<double>(pa[j]);
    const double b = pb != nullptr ? static_cast<double>(pb[j]) : 0.0;
    if (!cu::ParamsOk(dist, a, b)) atomicMin(flag, static_cast<unsigned long long>(j));
  }
}

// out[j * per + k] = draw(dist, pa[j], pb[j]) for j * per + k < n.
template <typename P, typename T>
__global__ void SampleKernel(Dist dist, const P* pa, const P* pb, int64_t per, uint64_t seed,
                             int64_t n, T* out) {
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    const int64_t j = i / per;
    const double a = static_cast<double>(pa[j]);
    const double b = pb != nullptr ? static_cast<double>(pb[j]) : 0.0;
    cu::Philox s;
    cu::Init(seed, i, &s);
    out[i] = static_cast<T>(cu::Draw(dist, a, b, &s));
  }
}

// out[i] = low + uniform integer on [0, range), unbiased (rejection of the top remainder).
template <typename T>
__global__ void RandintKernel(int64_t low, uint64_t range, uint64_t seed, int64_t n, T* out) {
  const uint64_t reject_below = (0 - range) % range;  // 2^64 mod range
  MXGRID_CUDA_KERNEL_LOOP(i, n) {
    cu::Philox s;
    cu::Init(seed, i, &s);
    uint64_t r = cu::Bits64(&s);
    while (r < reject_below) r = cu::Bits64(&s);
    out[i] = static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(low) + r % range));
  }
}

absl::Status ScalarForward(const std::string& op, Dist dist, const OpContext& ctx,
                           const OpParams& params, absl::Span<const OpReq> reqs,
                           absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<ScalarParams>(params);
  MXGRID_ASSIGN_OR_RETURN(const uint64_t seed, CallSeed(ctx, op));
  const int64_t n = out[0].size();
  return DispatchRealCuda(op, out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if (n > 0) {
      ScalarKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          dist, p.a, p.b, seed, n, out[0].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
  });
}

// CheckParams on every parameter element (device check, then the host's message).
absl::Status CheckParamArrays(const std::string& op, Dist dist, const OpContext& ctx,
                              absl::Span<const TensorView> in) {
  const int64_t n = in[0].size();
  if (n == 0) return absl::OkStatus();
  const int device = ctx.ctx.device_id;
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  MXGRID_ASSIGN_OR_RETURN(void* ws, gpu::ThreadWorkspace(device, sizeof(unsigned long long)));
  auto* flag = static_cast<unsigned long long*>(ws);
  MXGRID_RETURN_IF_ERROR(gpu::Fill(device, ctx.stream, flag, 1, 8, ~uint64_t{0}));
  MXGRID_RETURN_IF_ERROR(DispatchRealCuda(op, in[0].dtype, [&](auto tag) {
    using P = decltype(tag);
    CheckKernel<P><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
        dist, in[0].as<P>(), in.size() > 1 ? in[1].as<P>() : nullptr, n, flag);
    return gpu::LaunchStatus(device, op.c_str());
  }));
  MXGRID_ASSIGN_OR_RETURN(const uint64_t bad, ReadFirstBad(ctx, flag));
  if (bad == ~uint64_t{0}) return absl::OkStatus();
  const int64_t j = static_cast<int64_t>(bad);
  MXGRID_ASSIGN_OR_RETURN(const double a, ReadDeviceDouble(ctx, in[0], j));
  double b = 0.0;
  if (in.size() > 1) {
    MXGRID_ASSIGN_OR_RETURN(b, ReadDeviceDouble(ctx, in[1], j));
  }
  return CheckParams(absl::StrCat(op, ": element ", j), dist, a, b);
}

absl::Status SampleForward(const std::string& op, Dist dist, const OpContext& ctx,
                           const OpParams& params, absl::Span<const TensorView> in,
                           absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const auto& p = ParamsAs<SampleParams>(params);
  MXGRID_ASSIGN_OR_RETURN(const uint64_t seed, CallSeed(ctx, op));
  if (in.size() > 1 && in[1].dtype != in[0].dtype) {  // inference makes them equal
    return absl::InvalidArgumentError(absl::StrCat(op, ": parameter arrays differ in dtype"));
  }
  MXGRID_RETURN_IF_ERROR(CheckParamArrays(op, dist, ctx, in));
  int64_t per = 1;
  for (int64_t d : p.shape) per *= d;
  const int64_t n = in[0].size() * per;
  if (n == 0) return absl::OkStatus();
  cudaStream_t stream = gpu::StreamOf(ctx.stream);
  return DispatchRealCuda(op, in[0].dtype, [&](auto ptag) {
    using P = decltype(ptag);
    return DispatchRealCuda(op, out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      SampleKernel<P, T><<<gpu::Blocks(n), gpu::kThreads, 0, stream>>>(
          dist, in[0].as<P>(), in.size() > 1 ? in[1].as<P>() : nullptr, per, seed, n,
          out[0].as<T>());
      return gpu::LaunchStatus(ctx.ctx.device_id, op.c_str());
    });
  });
}

constexpr char kRandint[] = "_random_randint";

absl::Status RandintForward(const OpContext& ctx, const OpParams& params,
                            absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                            absl::Span<const TensorView> out) {
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  if (ctx.rng == nullptr) return absl::FailedPreconditionError("_random_randint: no rng");
  const auto& p = ParamsAs<RandintParams>(params);
  auto run = [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    if (p.high - 1 > static_cast<int64_t>(std::numeric_limits<T>::max()) ||
        p.low < static_cast<int64_t>(std::numeric_limits<T>::min())) {
      return absl::InvalidArgumentError(absl::StrCat(
          kRandint, ": [", p.low, ", ", p.high, ") does not fit in ", DTypeName(out[0].dtype)));
    }
    const uint64_t seed = static_cast<uint64_t>((*ctx.rng)());
    const int64_t n = out[0].size();
    const uint64_t range = static_cast<uint64_t>(p.high) - static_cast<uint64_t>(p.low);
    if (n > 0) {
      RandintKernel<T><<<gpu::Blocks(n), gpu::kThreads, 0, gpu::StreamOf(ctx.stream)>>>(
          p.low, range, seed, n, out[0].as<T>());
    }
    return gpu::LaunchStatus(ctx.ctx.device_id, kRandint);
  };
  switch (out[0].dtype) {
    case DType::kInt32: return run(int32_t{});
    case DType::kInt64: return run(int64_t{});
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          kRandint, ": dtype ", DTypeName(out[0].dtype), " has no CUDA kernel"));
  }
}

}  // namespace

absl::StatusOr<uint64_t> ReadFirstBad(const OpContext& ctx, const unsigned long long* flag) {
  uint64_t host = 0;
  MXGRID_RETURN_IF_ERROR(
      gpu::CopyDeviceToHost(ctx.ctx.device_id, ctx.stream, &host, flag, sizeof(host)));
  return host;
}

absl::StatusOr<double> ReadDeviceDouble(const OpContext& ctx, const TensorView& v, int64_t i) {
  const size_t bytes = DTypeSize(v.dtype);
  uint64_t host = 0;
  MXGRID_RETURN_IF_ERROR(gpu::CopyDeviceToHost(ctx.ctx.device_id, ctx.stream, &host,
                                               static_cast<const char*>(v.data) + i * bytes,
                                               bytes));
  TensorView h = v;
  h.data = &host;
  return ReadDouble(h, 0);
}

absl::Status RegisterSamplerCuda(Registry* registry) {
  const std::vector<DType> kFloats = {DType::kFloat32, DType::kFloat64};
  for (const DistInfo& info : Distributions()) {
    const Dist dist = info.dist;
    for (const std::string& name :
         {absl::StrCat("_random_", info.name), absl::StrCat("_random_", info.name, "_like")}) {
      MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
      d->gpu_forward = [name, dist](const OpContext& ctx, const OpParams& params,
                                    absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                                    absl::Span<const TensorView> out) {
        return ScalarForward(name, dist, ctx, params, reqs, out);
      };
      d->gpu_dtypes = kFloats;
    }
    const std::string name = absl::StrCat("_sample_", info.name);
    MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(name));
    d->gpu_forward = [name, dist](const OpContext& ctx, const OpParams& params,
                                  absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                                  absl::Span<const TensorView> out) {
      return SampleForward(name, dist, ctx, params, in, reqs, out);
    };
    d->gpu_dtypes = kFloats;
  }
  MXGRID_ASSIGN_OR_RETURN(OpDef * d, registry->FindMutable(kRandint));
  d->gpu_forward = RandintForward;
  d->gpu_dtypes = {DType::kInt32, DType::kInt64};
  return absl::OkStatus();
}

}  // namespace random

absl::Status RegisterRandomCudaKernels(Registry* registry) {
  for (absl::Status (*reg)(Registry*) : {random::RegisterSamplerCuda,
                                         random::RegisterMultinomialCuda,
                                         random::RegisterShuffleCuda}) {
    MXGRID_RETURN_IF_ERROR(reg(registry));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
