#include "libs/tensor/ndarray.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/gpu/gpu.h"
#include "libs/tensor/internal/convert.h"
#include "libs/tensor/internal/push.h"

namespace mxgrid::tensor {

namespace {

// The integer dtype T holds trunc(value): finite and within [min, max].
template <typename T>
absl::Status CheckIntegerFill(double value, DType dtype) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fill: ", value, " cannot be stored in a ", DTypeName(dtype),
        " array (integers have no NaN or infinity)"));
  }
  const double t = std::trunc(value);
  constexpr double kMin = static_cast<double>(std::numeric_limits<T>::min());
  // max + 1 is a power of two, exact as a double (int64's max is not).
  constexpr double kMaxPlusOne = static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
  if (t >= kMin && t < kMaxPlusOne) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "fill: ", value, " is outside the range of ", DTypeName(dtype), " [",
      static_cast<int64_t>(std::numeric_limits<T>::min()), ", ",
      static_cast<int64_t>(std::numeric_limits<T>::max()), "]"));
}

// True when the finite `value` becomes an infinity stored as the floating-point `dtype`.
bool RoundsToInfinity(double value, DType dtype) {
  // The float32 rounding boundary: FLT_MAX plus half an ulp rounds (to even) to infinity.
  constexpr double kFloatOverflow = 0x1.ffffffp127;
  if (dtype == DType::kFloat64) return false;
  if (std::fabs(value) >= kFloatOverflow) return true;
  const float f = static_cast<float>(value);  // float16 and bfloat16 convert through float
  if (dtype == DType::kFloat16) return std::isinf(HalfToFloat(FloatToHalf(f)));
  if (dtype == DType::kBFloat16) return std::isinf(BFloat16ToFloat(FloatToBFloat16(f)));
  return false;
}

}  // namespace

absl::Status CheckFillValue(double value, DType dtype) {
  switch (dtype) {
    case DType::kUint8: return CheckIntegerFill<uint8_t>(value, dtype);
    case DType::kInt8: return CheckIntegerFill<int8_t>(value, dtype);
    case DType::kInt32: return CheckIntegerFill<int32_t>(value, dtype);
    case DType::kInt64: return CheckIntegerFill<int64_t>(value, dtype);
    case DType::kBool:
    case DType::kFloat64: return absl::OkStatus();
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16: break;
  }
  if (std::isfinite(value) && RoundsToInfinity(value, dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fill: ", value, " overflows ", DTypeName(dtype), " (it would be stored as ",
        value > 0 ? "inf" : "-inf", "; pass inf explicitly if that is meant)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NDArray> NDArray::Empty(const Shape& shape, Context ctx, DType dtype) {
  // Validates the dims (non-negative, no overflow) before sizing memory from them.
  MXGRID_ASSIGN_OR_RETURN(Shape checked, Shape::Make(shape.dims()));
  const size_t bytes = static_cast<size_t>(checked.Size()) * DTypeSize(dtype);
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Storage> storage, Storage::Create(bytes, ctx));
  return NDArray(std::move(storage), 0, std::move(checked), dtype);
}

absl::StatusOr<NDArray> NDArray::WrapHost(void* data, const Shape& shape, DType dtype,
                                          Context ctx, std::function<void()> release) {
  MXGRID_ASSIGN_OR_RETURN(Shape checked, Shape::Make(shape.dims()));
  const size_t bytes = static_cast<size_t>(checked.Size()) * DTypeSize(dtype);
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Storage> storage,
                          Storage::Wrap(data, bytes, ctx, std::move(release)));
  return NDArray(std::move(storage), 0, std::move(checked), dtype);
}

absl::StatusOr<NDArray> NDArray::Zeros(const Shape& shape, Context ctx, DType dtype) {
  return Full(shape, 0.0, ctx, dtype);
}

absl::StatusOr<NDArray> NDArray::Ones(const Shape& shape, Context ctx, DType dtype) {
  return Full(shape, 1.0, ctx, dtype);
}

absl::StatusOr<NDArray> NDArray::Full(const Shape& shape, double value, Context ctx,
                                      DType dtype) {
  MXGRID_ASSIGN_OR_RETURN(NDArray array, Empty(shape, ctx, dtype));
  MXGRID_RETURN_IF_ERROR(array.Fill(value));
  return array;
}

absl::StatusOr<NDArray> NDArray::Arange(double start, double stop, double step, Context ctx,
                                        DType dtype) {
  if (step == 0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(stop)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arange needs finite start, stop and a non-zero step; got start=", start,
        " stop=", stop, " step=", step));
  }
  const double count = std::ceil((stop - start) / step);
  if (count > double{1u << 31}) {
    return absl::InvalidArgumentError(
        absl::StrCat("arange would make ", count, " values; at most 2^31 allowed"));
  }
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  if (ctx.is_gpu()) {
    MXGRID_RETURN_IF_ERROR(gpu::CheckDevice(ctx.device_id));
    MXGRID_ASSIGN_OR_RETURN(NDArray host, Arange(start, stop, step, Context::Cpu(), dtype));
    return host.CopyTo(ctx);
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray array, Empty(Shape{n}, ctx, dtype));
  void* dst = array.data();
  internal::Push("arange", array.context(), {}, {array.var()}, [=]() {
    VisitDType(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* out = static_cast<T*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = FromDouble<T>(start + static_cast<double>(i) * step);
    });
    return absl::OkStatus();
  });
  return array;
}

Context NDArray::context() const { return storage_ ? storage_->context() : Context::Cpu(); }

engine::VarHandle NDArray::var() const { return storage_ ? storage_->var() : nullptr; }

void* NDArray::data() const {
  return storage_ ? static_cast<char*>(storage_->data()) + byte_offset_ : nullptr;
}

absl::Status NDArray::CheckNotNone(const char* op) const {
  if (storage_ != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(op, ": the array is empty (none); create it with empty/zeros/ones first"));
}

absl::Status NDArray::Fill(double value) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("fill"));
  MXGRID_RETURN_IF_ERROR(CheckFillValue(value, dtype_));
  void* dst = data();
  const DType dtype = dtype_;
  const int64_t n = size();
  if (context().is_gpu()) {
    uint64_t pattern = 0;
    internal::FillElements(&pattern, dtype, 1, value);
    const int device = context().device_id;
    const int element_bytes = static_cast<int>(DTypeSize(dtype));
    internal::PushOnGpu("fill", context(), engine::FnProperty::kNormal, {}, {var()},
                        [=](void* stream) {
                          return gpu::Fill(device, stream, dst, n, element_bytes, pattern);
                        });
    return absl::OkStatus();
  }
  internal::Push("fill", context(), {}, {var()}, [=]() {
    internal::FillElements(dst, dtype, n, value);
    return absl::OkStatus();
  });
  return absl::OkStatus();
}

absl::Status NDArray::CopyFromHost(const void* src, size_t bytes) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("copy from host"));
  if (bytes != nbytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "copy from host: array ", shape_.ToString(), " ", DTypeName(dtype_), " holds ",
        nbytes(), " bytes but ", bytes, " were given"));
  }
  void* dst = data();
  if (context().is_gpu()) {
    const int device = context().device_id;
    internal::PushOnGpu("copy_from_host", context(), engine::FnProperty::kCopyToGPU, {},
                        {var()}, [=](void* stream) {
                          return gpu::CopyHostToDevice(device, stream, dst, src, bytes);
                        });
    return engine::Get()->WaitForVar(var());
  }
  internal::Push("copy_from_host", context(), {}, {var()}, [=]() {
    if (bytes > 0) std::memcpy(dst, src, bytes);
    return absl::OkStatus();
  });
  return engine::Get()->WaitForVar(var());
}

absl::Status NDArray::CopyToHost(void* dst, size_t bytes) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("copy to host"));
  if (bytes != nbytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "copy to host: array ", shape_.ToString(), " ", DTypeName(dtype_), " holds ",
        nbytes(), " bytes but the buffer has ", bytes));
  }
  if (context().is_gpu()) {
    const void* src = data();
    const int device = context().device_id;
    // A write to a scratch variable carries the copy's status to the wait below.
    engine::VarHandle done = engine::Get()->NewVariable();
    internal::PushOnGpu("copy_to_host", context(), engine::FnProperty::kCopyFromGPU, {var()},
                        {done}, [=](void* stream) {
                          return gpu::CopyDeviceToHost(device, stream, dst, src, bytes);
                        });
    absl::Status status = engine::Get()->WaitForVar(done);
    engine::Get()->DeleteVariable([](const engine::RunContext&) {}, context(), done);
    return status;
  }
  MXGRID_RETURN_IF_ERROR(WaitToRead());
  if (bytes > 0) std::memcpy(dst, data(), bytes);
  return absl::OkStatus();
}

absl::Status NDArray::CopyTo(const NDArray& dst) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("copyto (source)"));
  MXGRID_RETURN_IF_ERROR(dst.CheckNotNone("copyto (destination)"));
  if (shape_ != dst.shape_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "copyto: source shape ", shape_.ToString(), " differs from destination shape ",
        dst.shape_.ToString()));
  }
  if (context().is_gpu() || dst.context().is_gpu()) return CopyAcrossDevices(dst);
  const void* src_ptr = data();
  void* dst_ptr = dst.data();
  const DType src_dtype = dtype_, dst_dtype = dst.dtype_;
  const int64_t n = size();
  if (SharesStorageWith(dst) && src_dtype != dst_dtype) {
    return absl::InvalidArgumentError("copyto: converting an array into its own storage");
  }
  internal::Push("copyto", dst.context(), {var()}, {dst.var()}, [=]() {
    internal::ConvertElements(src_ptr, src_dtype, dst_ptr, dst_dtype, n);
    return absl::OkStatus();
  });
  return absl::OkStatus();
}

absl::Status NDArray::CopyAcrossDevices(const NDArray& dst) const {
  const Context from = context(), to = dst.context();
  if (dtype_ != dst.dtype_) {
    // Converted on the host: the source's values in the destination's dtype, then copied.
    if (SharesStorageWith(dst)) {
      return absl::InvalidArgumentError("copyto: converting an array into its own storage");
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray host, NDArray::Empty(shape_, Context::Cpu(), dst.dtype_));
    if (from.is_gpu()) {
      MXGRID_ASSIGN_OR_RETURN(NDArray staged, CopyTo(Context::Cpu()));
      MXGRID_RETURN_IF_ERROR(staged.CopyTo(host));
    } else {
      MXGRID_RETURN_IF_ERROR(CopyTo(host));
    }
    return host.CopyTo(dst);
  }
  const size_t bytes = nbytes();
  const void* src_ptr = data();
  void* dst_ptr = dst.data();
  if (from.is_gpu() && to.is_gpu()) {
    const int src_device = from.device_id, dst_device = to.device_id;
    internal::PushOnGpu("copyto", to, engine::FnProperty::kNormal, {var()}, {dst.var()},
                        [=](void* stream) {
                          return gpu::CopyDeviceToDevice(dst_device, dst_ptr, src_device,
                                                         src_ptr, bytes, stream);
                        });
  } else if (to.is_gpu()) {
    const int device = to.device_id;
    internal::PushOnGpu("copyto", to, engine::FnProperty::kCopyToGPU, {var()}, {dst.var()},
                        [=](void* stream) {
                          return gpu::CopyHostToDevice(device, stream, dst_ptr, src_ptr, bytes);
                        });
  } else {
    const int device = from.device_id;
    internal::PushOnGpu("copyto", from, engine::FnProperty::kCopyFromGPU, {var()},
                        {dst.var()}, [=](void* stream) {
                          return gpu::CopyDeviceToHost(device, stream, dst_ptr, src_ptr, bytes);
                        });
  }
  return absl::OkStatus();
}

absl::StatusOr<NDArray> NDArray::CopyTo(Context ctx) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("copyto"));
  MXGRID_ASSIGN_OR_RETURN(NDArray out, Empty(shape_, ctx, dtype_));
  MXGRID_RETURN_IF_ERROR(CopyTo(out));
  return out;
}

absl::StatusOr<NDArray> NDArray::Slice(int64_t begin, int64_t end) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("slice"));
  if (shape_.ndim() == 0) {
    return absl::InvalidArgumentError("slice: cannot slice a scalar (0-d) array");
  }
  if (begin < 0 || end < begin || end > shape_[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slice [", begin, ", ", end, ") is out of range for first axis of shape ",
        shape_.ToString()));
  }
  Shape shape = shape_;
  shape[0] = end - begin;
  const size_t row_bytes = static_cast<size_t>(shape_.ProdRange(1, shape_.ndim())) *
                           DTypeSize(dtype_);
  return NDArray(storage_, byte_offset_ + static_cast<size_t>(begin) * row_bytes,
                 std::move(shape), dtype_);
}

absl::StatusOr<NDArray> NDArray::At(int64_t index) const {
  MXGRID_ASSIGN_OR_RETURN(NDArray row, Slice(index, index + 1));
  return NDArray(row.storage_, row.byte_offset_,
                 Shape(shape_.dims().subspan(1)), dtype_);
}

absl::StatusOr<NDArray> NDArray::Reshape(const Shape& shape) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("reshape"));
  MXGRID_ASSIGN_OR_RETURN(Shape checked, Shape::Make(shape.dims()));
  if (checked.Size() != size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reshape: cannot view shape ", shape_.ToString(), " (", size(), " elements) as ",
        checked.ToString(), " (", checked.Size(), " elements)"));
  }
  return NDArray(storage_, byte_offset_, std::move(checked), dtype_);
}

absl::StatusOr<NDArray> NDArray::ViewAs(const Shape& shape, DType dtype) const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("view"));
  MXGRID_ASSIGN_OR_RETURN(Shape checked, Shape::Make(shape.dims()));
  const size_t bytes = static_cast<size_t>(checked.Size()) * DTypeSize(dtype);
  if (byte_offset_ + bytes > storage_->bytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "view: ", checked.ToString(), " ", DTypeName(dtype), " needs ", bytes,
        " bytes; the storage has ", storage_->bytes() - byte_offset_, " from this array"));
  }
  return NDArray(storage_, byte_offset_, std::move(checked), dtype);
}

absl::Status NDArray::WaitToRead() const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("wait_to_read"));
  return engine::Get()->WaitForVar(var());
}

absl::Status NDArray::WaitToWrite() const {
  MXGRID_RETURN_IF_ERROR(CheckNotNone("wait_to_write"));
  // An empty write orders after every pending read and write.
  internal::Push("wait_to_write", context(), {}, {var()}, [] { return absl::OkStatus(); });
  return engine::Get()->WaitForVar(var());
}

}  // namespace mxgrid::tensor
