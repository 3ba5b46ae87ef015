// DispatchRealCuda: the float32 / float64 dtype switch of the CUDA kernels (libs/ops/*/*.cu),
// which instantiate their kernels on a value of the type (fn(float{})), where the CPU
// kernels' DispatchFloat (op_util.h) passes a TypeTag. Plain C++, shared by every family's
// .cu files.
//
//   return DispatchRealCuda("norm", out.dtype, [&](auto tag) {
//     using T = decltype(tag);
//     ...
//   });
#ifndef MXGRID_LIBS_OPS_CUDA_DISPATCH_H_
#define MXGRID_LIBS_OPS_CUDA_DISPATCH_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"

namespace mxgrid::ops {

// Calls fn(float{}) or fn(double{}); InvalidArgument naming `op` for other dtypes.
template <typename Fn>
absl::Status DispatchRealCuda(absl::string_view op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": dtype ", DTypeName(dtype), " has no CUDA kernel"));
  }
}

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_CUDA_DISPATCH_H_
