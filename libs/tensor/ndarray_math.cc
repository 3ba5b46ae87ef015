// Elementwise arithmetic on NDArrays: validation, then one engine push per call.
#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/internal/elementwise.h"
#if MXGRID_CUDA
#include "libs/tensor/internal/elementwise_gpu.h"
#endif
#include "libs/tensor/internal/push.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor {
namespace {

const char* OpName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "elemwise_add";
    case BinaryOp::kSub: return "elemwise_sub";
    case BinaryOp::kMul: return "elemwise_mul";
    case BinaryOp::kDiv: return "elemwise_div";
  }
  return "elemwise";
}

const char* ScalarOpName(BinaryOp op, bool scalar_on_left) {
  switch (op) {
    case BinaryOp::kAdd: return "_plus_scalar";
    case BinaryOp::kSub: return scalar_on_left ? "_rminus_scalar" : "_minus_scalar";
    case BinaryOp::kMul: return "_mul_scalar";
    case BinaryOp::kDiv: return scalar_on_left ? "_rdiv_scalar" : "_div_scalar";
  }
  return "scalar";
}

std::string Describe(const char* side, const NDArray& a) {
  return absl::StrCat(side, " ", a.shape().ToString(), " ", DTypeName(a.dtype()), " on ",
                      a.context().ToString());
}

absl::Status CheckOperand(BinaryOp op, const char* side, const NDArray& a) {
  if (a.is_none()) {
    return absl::FailedPreconditionError(
        absl::StrCat(OpName(op), ": the ", side, " operand is an empty (none) array"));
  }
#if !MXGRID_CUDA
  if (a.context().is_gpu()) {
    return absl::FailedPreconditionError(absl::StrCat(
        OpName(op), ": ", a.context().ToString(), " arrays need a CUDA build of mxgrid"));
  }
#endif
  return absl::OkStatus();
}

// Shapes, dtypes and devices must all agree (scalars are the only broadcast).
absl::Status CheckCompatible(BinaryOp op, const NDArray& lhs, const NDArray& rhs,
                             const char* what_rhs = "rhs") {
  MXGRID_RETURN_IF_ERROR(CheckOperand(op, "lhs", lhs));
  MXGRID_RETURN_IF_ERROR(CheckOperand(op, what_rhs, rhs));
  const char* mismatch = nullptr;
  if (lhs.context() != rhs.context()) {
    mismatch = "arrays on different devices must be copied to one device first (copyto)";
  } else if (lhs.shape() != rhs.shape()) {
    mismatch = "shapes differ (only scalars broadcast; use broadcast_* operators)";
  } else if (lhs.dtype() != rhs.dtype()) {
    mismatch = "dtypes differ (cast one side first)";
  }
  if (mismatch == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(OpName(op), ": ", mismatch, ": ",
                                                 Describe("lhs", lhs), " vs ",
                                                 Describe(what_rhs, rhs)));
}

void PushBinary(BinaryOp op, const NDArray& lhs, const NDArray& rhs, const NDArray& out) {
  const void* a = lhs.data();
  const void* b = rhs.data();
  void* c = out.data();
  const DType dtype = lhs.dtype();
  const int64_t n = lhs.size();
#if MXGRID_CUDA
  if (out.context().is_gpu()) {
    const int device = out.context().device_id;
    internal::PushOnGpu(OpName(op), out.context(), engine::FnProperty::kNormal,
                        {lhs.var(), rhs.var()}, {out.var()}, [=](void* stream) {
                          return internal::BinaryKernelGpu(device, stream, static_cast<int>(op),
                                                           dtype, a, b, c, n);
                        });
    return;
  }
#endif
  internal::Push(OpName(op), out.context(), {lhs.var(), rhs.var()}, {out.var()},
                 [=]() { return internal::BinaryKernel(op, dtype, a, b, c, n); });
}

void PushScalar(BinaryOp op, const NDArray& lhs, double scalar, bool scalar_on_left,
                const NDArray& out) {
  const void* a = lhs.data();
  void* c = out.data();
  const DType dtype = lhs.dtype();
  const int64_t n = lhs.size();
#if MXGRID_CUDA
  if (out.context().is_gpu()) {
    const int device = out.context().device_id;
    internal::PushOnGpu(ScalarOpName(op, scalar_on_left), out.context(),
                        engine::FnProperty::kNormal, {lhs.var()}, {out.var()},
                        [=](void* stream) {
                          return internal::ScalarKernelGpu(device, stream, static_cast<int>(op),
                                                           dtype, a, scalar, scalar_on_left, c, n);
                        });
    return;
  }
#endif
  internal::Push(ScalarOpName(op, scalar_on_left), out.context(), {lhs.var()}, {out.var()},
                 [=]() {
                   return internal::ScalarKernel(op, dtype, a, scalar, scalar_on_left, c, n);
                 });
}

}  // namespace

absl::StatusOr<NDArray> Binary(BinaryOp op, const NDArray& lhs, const NDArray& rhs) {
  MXGRID_RETURN_IF_ERROR(CheckCompatible(op, lhs, rhs));
  MXGRID_ASSIGN_OR_RETURN(NDArray out, NDArray::Empty(lhs.shape(), lhs.context(), lhs.dtype()));
  PushBinary(op, lhs, rhs, out);
  return out;
}

absl::StatusOr<NDArray> BinaryScalar(BinaryOp op, const NDArray& lhs, double scalar,
                                     bool scalar_on_left) {
  MXGRID_RETURN_IF_ERROR(CheckOperand(op, "lhs", lhs));
  MXGRID_ASSIGN_OR_RETURN(NDArray out, NDArray::Empty(lhs.shape(), lhs.context(), lhs.dtype()));
  PushScalar(op, lhs, scalar, scalar_on_left, out);
  return out;
}

absl::Status BinaryInPlace(BinaryOp op, const NDArray& lhs, const NDArray& rhs) {
  return BinaryInto(op, lhs, rhs, lhs);
}

absl::Status BinaryScalarInPlace(BinaryOp op, const NDArray& lhs, double scalar) {
  MXGRID_RETURN_IF_ERROR(CheckOperand(op, "lhs", lhs));
  PushScalar(op, lhs, scalar, /*scalar_on_left=*/false, lhs);
  return absl::OkStatus();
}

absl::Status BinaryInto(BinaryOp op, const NDArray& lhs, const NDArray& rhs,
                        const NDArray& out) {
  MXGRID_RETURN_IF_ERROR(CheckCompatible(op, lhs, rhs));
  MXGRID_RETURN_IF_ERROR(CheckCompatible(op, lhs, out, "out"));
  PushBinary(op, lhs, rhs, out);
  return absl::OkStatus();
}

}  // namespace mxgrid::tensor
