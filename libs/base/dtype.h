// DType: MXNet's element types, numbered by MXNet's type flags (mshadow `TypeFlag`), which
// are also the numbers in `.params` files and on the wire.
//
//   DType t = DType::kFloat32;  DTypeSize(t) == 4;  DTypeName(t) == "float32";
//   VisitDType(t, [&](auto tag) { using T = typename decltype(tag)::type; ... });
//
// float16 and bfloat16 are stored as uint16_t bit patterns (Half, BFloat16 below); arithmetic
// on them converts through float.
#ifndef MXGRID_LIBS_BASE_DTYPE_H_
#define MXGRID_LIBS_BASE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "libs/base/check.h"

namespace mxgrid {

enum class DType : int32_t {
  kFloat32 = 0,
  kFloat64 = 1,
  kFloat16 = 2,
  kUint8 = 3,
  kInt32 = 4,
  kInt8 = 5,
  kInt64 = 6,
  kBool = 7,
  kBFloat16 = 12,
};

// IEEE 754 binary16, stored as bits.
struct Half {
  uint16_t bits;
};
// bfloat16 (the upper half of a float32), stored as bits.
struct BFloat16 {
  uint16_t bits;
};
static_assert(sizeof(Half) == 2 && sizeof(BFloat16) == 2);

// Round-to-nearest-even conversions; NaN and infinities are preserved.
Half FloatToHalf(float value);
float HalfToFloat(Half value);
BFloat16 FloatToBFloat16(float value);
float BFloat16ToFloat(BFloat16 value);

// Bytes per element.
size_t DTypeSize(DType dtype);
// MXNet/NumPy name: "float32", "float64", "float16", "uint8", "int32", "int8", "int64",
// "bool", "bfloat16".
absl::string_view DTypeName(DType dtype);
// From an MXNet type flag; InvalidArgument for flags MXNet 1.x cannot store (8-11, others).
absl::StatusOr<DType> DTypeFromFlag(int64_t flag);
// From a name as DTypeName prints it; InvalidArgument otherwise.
absl::StatusOr<DType> DTypeFromName(absl::string_view name);
// True for float32, float64, float16, bfloat16.
bool IsFloatingPoint(DType dtype);

// The C++ storage type of each dtype.
template <DType D>
struct DTypeTraits;
template <> struct DTypeTraits<DType::kFloat32> { using type = float; };
template <> struct DTypeTraits<DType::kFloat64> { using type = double; };
template <> struct DTypeTraits<DType::kFloat16> { using type = Half; };
template <> struct DTypeTraits<DType::kUint8> { using type = uint8_t; };
template <> struct DTypeTraits<DType::kInt32> { using type = int32_t; };
template <> struct DTypeTraits<DType::kInt8> { using type = int8_t; };
template <> struct DTypeTraits<DType::kInt64> { using type = int64_t; };
template <> struct DTypeTraits<DType::kBool> { using type = bool; };
template <> struct DTypeTraits<DType::kBFloat16> { using type = BFloat16; };

// A value-less carrier of a storage type, passed to visitors.
template <typename T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<T>{}) with T the storage type of `dtype`; returns what fn returns.
template <typename Fn>
decltype(auto) VisitDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(TypeTag<float>{});
    case DType::kFloat64: return fn(TypeTag<double>{});
    case DType::kFloat16: return fn(TypeTag<Half>{});
    case DType::kUint8: return fn(TypeTag<uint8_t>{});
    case DType::kInt32: return fn(TypeTag<int32_t>{});
    case DType::kInt8: return fn(TypeTag<int8_t>{});
    case DType::kInt64: return fn(TypeTag<int64_t>{});
    case DType::kBool: return fn(TypeTag<bool>{});
    case DType::kBFloat16: return fn(TypeTag<BFloat16>{});
  }
  MXGRID_CHECK(false) << "invalid DType " << static_cast<int>(dtype);
  return fn(TypeTag<float>{});
}

// Converts between storage types and double (the common compute type for conversions).
template <typename T>
inline double ToDouble(T v) { return static_cast<double>(v); }
template <>
inline double ToDouble(Half v) { return HalfToFloat(v); }
template <>
inline double ToDouble(BFloat16 v) { return BFloat16ToFloat(v); }

// Converts like a C++ cast (truncating toward zero for integers, as MXNet's casts do), but
// defined for every input: out-of-range values saturate and NaN becomes 0 for integers.
template <typename T>
inline T FromDouble(double v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!(v == v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::min())) {
      return std::numeric_limits<T>::min();
    }
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
      return std::numeric_limits<T>::max();
    }
  }
  return static_cast<T>(v);
}
template <>
inline Half FromDouble(double v) { return FloatToHalf(static_cast<float>(v)); }
template <>
inline BFloat16 FromDouble(double v) { return FloatToBFloat16(static_cast<float>(v)); }

}  // namespace mxgrid

#endif  // MXGRID_LIBS_BASE_DTYPE_H_
