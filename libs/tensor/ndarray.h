// NDArray: MXNet's n-dimensional array — a shape, a dtype and a context over a range of a
// reference-counted Storage, with every operation scheduled on the dependency engine.
//
//   MXGRID_ASSIGN_OR_RETURN(NDArray a, NDArray::Ones({2, 3}));      // cpu(0), float32
//   MXGRID_ASSIGN_OR_RETURN(NDArray c, Add(a, a));                   // returns at once
//   MXGRID_RETURN_IF_ERROR(MulInPlace(&c, 3.0));                     // c *= 3
//   MXGRID_ASSIGN_OR_RETURN(std::vector<float> v, c.ToVector<float>());  // waits: 6 6 6 ...
//
// Semantics follow MXNet: copying an NDArray object shares its data (`b = a` in Python);
// Slice and Reshape return views sharing storage; operations are lazy — they are pushed to the
// engine and return before the work is done, and reading values (CopyToHost, ToVector,
// WaitToRead) waits. An error inside a pushed operation surfaces at the next read of what it
// wrote. Arrays on different devices must be copied explicitly (CopyTo).
//
// Thread-safety: an NDArray object is thread-compatible (like a shared_ptr); operations on
// arrays that share storage from several threads are ordered by the engine in push order.
#ifndef MXGRID_LIBS_TENSOR_NDARRAY_H_
#define MXGRID_LIBS_TENSOR_NDARRAY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/engine/engine.h"
#include "libs/tensor/storage.h"

namespace mxgrid::tensor {

class NDArray {
 public:
  // A "none" array (MXNet's empty handle): no storage; every operation but is_none() fails.
  NDArray() = default;

  // Uninitialized memory (MXNet's nd.empty).
  static absl::StatusOr<NDArray> Empty(const Shape& shape, Context ctx = Context::Cpu(),
                                       DType dtype = DType::kFloat32);
  static absl::StatusOr<NDArray> Zeros(const Shape& shape, Context ctx = Context::Cpu(),
                                       DType dtype = DType::kFloat32);
  static absl::StatusOr<NDArray> Ones(const Shape& shape, Context ctx = Context::Cpu(),
                                      DType dtype = DType::kFloat32);
  // Full: InvalidArgument for a value the dtype cannot hold (see CheckFillValue).
  static absl::StatusOr<NDArray> Full(const Shape& shape, double value,
                                      Context ctx = Context::Cpu(),
                                      DType dtype = DType::kFloat32);
  // Values start, start+step, ... below stop (above, for a negative step): MXNet's nd.arange.
  // InvalidArgument for step 0 or more than 2^31 values.
  static absl::StatusOr<NDArray> Arange(double start, double stop, double step = 1.0,
                                        Context ctx = Context::Cpu(),
                                        DType dtype = DType::kFloat32);
  // An array on host context `ctx` whose storage is `data` itself (memory this process did
  // not allocate: see Storage::Wrap, which runs `release` once nothing uses it any more).
  // InvalidArgument for a bad shape, unaligned `data` or a GPU context.
  static absl::StatusOr<NDArray> WrapHost(void* data, const Shape& shape, DType dtype,
                                          Context ctx, std::function<void()> release);
  // A new array holding a copy of `values` (NumPy -> NDArray).
  template <typename T>
  static absl::StatusOr<NDArray> FromVector(const Shape& shape, absl::Span<const T> values,
                                            Context ctx = Context::Cpu());

  bool is_none() const { return storage_ == nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Context context() const;
  int64_t size() const { return shape_.Size(); }
  size_t nbytes() const { return static_cast<size_t>(size()) * DTypeSize(dtype_); }
  // The engine variable ordering all access to this array's storage (shared by views).
  engine::VarHandle var() const;
  // Where the first element lies within the storage, in bytes (distinguishes views of one
  // storage: var(), byte_offset(), shape and dtype together identify an array's entry).
  size_t byte_offset() const { return byte_offset_; }
  // True when both arrays view the same storage.
  bool SharesStorageWith(const NDArray& other) const { return storage_ == other.storage_; }
  // How many NDArray objects (views, copies, queued operations' captures) hold this array's
  // storage, this one included; 0 for a none array. A storage held once can be handed over.
  long storage_references() const { return storage_.use_count(); }

  // Sets every element to `value` (converted to dtype): the tutorial's `b[:] = 2`.
  // InvalidArgument for a value the dtype cannot hold (CheckFillValue); FailedPrecondition
  // for a none array.
  absl::Status Fill(double value) const;

  // Blocking copies between this array and host memory of exactly nbytes() bytes, in dtype's
  // C-order layout (the NumPy path). InvalidArgument if `bytes` differs.
  absl::Status CopyFromHost(const void* src, size_t bytes) const;
  absl::Status CopyToHost(void* dst, size_t bytes) const;
  // Waits and returns the values converted to T (any arithmetic type, Half or BFloat16).
  template <typename T>
  absl::StatusOr<std::vector<T>> ToVector() const;

  // Copies this array's values into `dst` (same shape; any dtype: values are converted as
  // MXNet's copyto does; any device). Asynchronous.
  absl::Status CopyTo(const NDArray& dst) const;
  // A copy of this array on `ctx`. Asynchronous.
  absl::StatusOr<NDArray> CopyTo(Context ctx) const;

  // View of rows [begin, end) along the first axis (a[begin:end]); shares storage.
  absl::StatusOr<NDArray> Slice(int64_t begin, int64_t end) const;
  // View of row `index` with the first axis dropped (a[index]); shares storage.
  absl::StatusOr<NDArray> At(int64_t index) const;
  // View with a new shape of the same size; shares storage.
  absl::StatusOr<NDArray> Reshape(const Shape& shape) const;
  // View of the bytes from this array's first element as `shape` of `dtype`, which may be
  // smaller than this array but not reach past its storage (InvalidArgument). For executors
  // that place several arrays in one planned block.
  absl::StatusOr<NDArray> ViewAs(const Shape& shape, DType dtype) const;

  // Blocks until pending writes (WaitToRead) or all pending work (WaitToWrite) on this
  // array's storage are done; returns the error of a failed operation that wrote it.
  absl::Status WaitToRead() const;
  absl::Status WaitToWrite() const;

  // Values as NumPy prints them, e.g. "[[1. 1. 1.]\n [1. 1. 1.]]". Waits.
  absl::StatusOr<std::string> ToString() const;

  // Raw address of the first element. REQUIRES: used only inside engine operations that
  // name var(), or after waiting on it. For kernels and the file format.
  void* data() const;

 private:
  NDArray(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, DType dtype)
      : storage_(std::move(storage)),
        byte_offset_(byte_offset),
        shape_(std::move(shape)),
        dtype_(dtype) {}

  // CopyTo when either array is on a GPU (dtype conversions go through the host).
  absl::Status CopyAcrossDevices(const NDArray& dst) const;

  // Error for operations on a none array.
  absl::Status CheckNotNone(const char* op) const;

  std::shared_ptr<Storage> storage_;  // Shared by views; null for a none array.
  size_t byte_offset_ = 0;            // Of the first element within storage_.
  Shape shape_;
  DType dtype_ = DType::kFloat32;
};

// Elementwise arithmetic (ndarray_math.cc). Array-array forms need equal shapes, dtypes and
// contexts, else InvalidArgument naming both sides; scalars broadcast. Results are new arrays
// on the operands' context; the *InPlace forms write into their first argument (`a += b`).
// Integer division by zero fails the operation (surfacing at the next read), never the process.
enum class BinaryOp { kAdd, kSub, kMul, kDiv };

absl::StatusOr<NDArray> Binary(BinaryOp op, const NDArray& lhs, const NDArray& rhs);
// lhs op scalar, or scalar op lhs when `scalar_on_left` (MXNet's _rminus_scalar, _rdiv_scalar).
absl::StatusOr<NDArray> BinaryScalar(BinaryOp op, const NDArray& lhs, double scalar,
                                     bool scalar_on_left = false);
absl::Status BinaryInPlace(BinaryOp op, const NDArray& lhs, const NDArray& rhs);
absl::Status BinaryScalarInPlace(BinaryOp op, const NDArray& lhs, double scalar);
// out = lhs op rhs into an existing array (MXNet's `out=`); `out` may alias an operand.
absl::Status BinaryInto(BinaryOp op, const NDArray& lhs, const NDArray& rhs, const NDArray& out);

inline absl::StatusOr<NDArray> Add(const NDArray& a, const NDArray& b) {
  return Binary(BinaryOp::kAdd, a, b);
}
inline absl::StatusOr<NDArray> Sub(const NDArray& a, const NDArray& b) {
  return Binary(BinaryOp::kSub, a, b);
}
inline absl::StatusOr<NDArray> Mul(const NDArray& a, const NDArray& b) {
  return Binary(BinaryOp::kMul, a, b);
}
inline absl::StatusOr<NDArray> Div(const NDArray& a, const NDArray& b) {
  return Binary(BinaryOp::kDiv, a, b);
}
inline absl::StatusOr<NDArray> Add(const NDArray& a, double s) {
  return BinaryScalar(BinaryOp::kAdd, a, s);
}
inline absl::StatusOr<NDArray> Sub(const NDArray& a, double s) {
  return BinaryScalar(BinaryOp::kSub, a, s);
}
inline absl::StatusOr<NDArray> Mul(const NDArray& a, double s) {
  return BinaryScalar(BinaryOp::kMul, a, s);
}
inline absl::StatusOr<NDArray> Div(const NDArray& a, double s) {
  return BinaryScalar(BinaryOp::kDiv, a, s);
}
inline absl::Status AddInPlace(const NDArray& a, const NDArray& b) {
  return BinaryInPlace(BinaryOp::kAdd, a, b);
}
inline absl::Status SubInPlace(const NDArray& a, const NDArray& b) {
  return BinaryInPlace(BinaryOp::kSub, a, b);
}
inline absl::Status MulInPlace(const NDArray& a, const NDArray& b) {
  return BinaryInPlace(BinaryOp::kMul, a, b);
}
inline absl::Status DivInPlace(const NDArray& a, const NDArray& b) {
  return BinaryInPlace(BinaryOp::kDiv, a, b);
}
inline absl::Status AddInPlace(const NDArray& a, double s) {
  return BinaryScalarInPlace(BinaryOp::kAdd, a, s);
}
inline absl::Status SubInPlace(const NDArray& a, double s) {
  return BinaryScalarInPlace(BinaryOp::kSub, a, s);
}
inline absl::Status MulInPlace(const NDArray& a, double s) {
  return BinaryScalarInPlace(BinaryOp::kMul, a, s);
}
inline absl::Status DivInPlace(const NDArray& a, double s) {
  return BinaryScalarInPlace(BinaryOp::kDiv, a, s);
}

// OK when `value` can be stored as `dtype` by NDArray::Fill: integer dtypes (uint8, int8,
// int32, int64) take finite values whose truncation toward zero lies in their range (3.9 ->
// 3, -0.5 -> 0); float16, bfloat16 and float32 take NaN, infinities and every finite value
// that does not round to an infinity; float64 and bool (nonzero is true) take any value.
// InvalidArgument otherwise, naming the value and the range. Stricter than MXNet 1.9.1, which
// stores garbage (nan -> -2147483648 in int32, 300 -> 44 and -1 -> 255 in uint8, 1e300 -> inf
// in float16): a server must not silently store values the client never asked for.
absl::Status CheckFillValue(double value, DType dtype);

// ---- template implementations ----

template <typename T>
absl::StatusOr<NDArray> NDArray::FromVector(const Shape& shape, absl::Span<const T> values,
                                            Context ctx) {
  DType dtype;
  if constexpr (std::is_same_v<T, float>) dtype = DType::kFloat32;
  else if constexpr (std::is_same_v<T, double>) dtype = DType::kFloat64;
  else if constexpr (std::is_same_v<T, Half>) dtype = DType::kFloat16;
  else if constexpr (std::is_same_v<T, BFloat16>) dtype = DType::kBFloat16;
  else if constexpr (std::is_same_v<T, uint8_t>) dtype = DType::kUint8;
  else if constexpr (std::is_same_v<T, int8_t>) dtype = DType::kInt8;
  else if constexpr (std::is_same_v<T, int32_t>) dtype = DType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>) dtype = DType::kInt64;
  else if constexpr (std::is_same_v<T, bool>) dtype = DType::kBool;
  else static_assert(sizeof(T) == 0, "FromVector: T is not an NDArray storage type");
  absl::StatusOr<NDArray> array = Empty(shape, ctx, dtype);
  if (!array.ok()) return array;
  absl::Status s = array->CopyFromHost(values.data(), values.size() * sizeof(T));
  if (!s.ok()) return s;
  return array;
}

template <typename T>
absl::StatusOr<std::vector<T>> NDArray::ToVector() const {
  if (!is_none() && context().is_gpu()) {
    absl::StatusOr<NDArray> host = CopyTo(Context::Cpu());
    if (!host.ok()) return host.status();
    return host->ToVector<T>();
  }
  absl::Status s = WaitToRead();
  if (!s.ok()) return s;
  std::vector<T> out(static_cast<size_t>(size()));
  const void* src = data();
  VisitDType(dtype_, [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* in = static_cast<const S*>(src);
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<S, T>) {
        out[i] = in[i];
      } else {
        out[i] = FromDouble<T>(ToDouble(in[i]));
      }
    }
  });
  return out;
}

}  // namespace mxgrid::tensor

#endif  // MXGRID_LIBS_TENSOR_NDARRAY_H_
