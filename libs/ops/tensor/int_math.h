// MXNet 1.9.1's arithmetic on the integer dtypes (internal to libs/ops/tensor), as its CPU
// kernels compute it on x86, but with every step defined in C++:
//   - +, -, * and negation wrap around (two's complement);
//   - / truncates toward zero; INT_MIN / -1 wraps to INT_MIN (MXNet traps there for int32 and
//     int64, and wraps for int8 through C's promotion); a zero divisor is the caller's
//     "integer division by zero" error, checked before any element is computed;
//   - ops MXNet writes through its float math functions (square, rdiv, power) compute in
//     float32, abs and mod in float64, and convert back with MXCast.
// The float32/float64 forms of these helpers are the plain C++ operators, so the float
// kernels compile exactly as before. Thread-safety: pure functions.
#ifndef MXGRID_LIBS_OPS_TENSOR_INT_MATH_H_
#define MXGRID_LIBS_OPS_TENSOR_INT_MATH_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace mxgrid::ops::tensor_internal {

template <typename T>
inline constexpr bool kIsInt = std::is_integral_v<T>;

// MXNet's DType(v) for a float or double v on x86: in-range values truncate toward zero;
// out-of-range values and NaN give the "integer indefinite" of cvttsd2si (INT64_MIN for
// int64, INT32_MIN otherwise), and 8-bit types keep the low byte of the int32 conversion
// (DType(-3.0) is 253 as uint8, DType(1e10) is 0 as int8).
template <typename T>
T MXCast(double v) {
  if constexpr (!kIsInt<T>) {
    return static_cast<T>(v);
  } else if constexpr (sizeof(T) == 8) {
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
      return static_cast<T>(static_cast<int64_t>(v));
    }
    return static_cast<T>(std::numeric_limits<int64_t>::min());
  } else {
    const int32_t i = (v > -2147483649.0 && v < 2147483648.0)
                          ? static_cast<int32_t>(v)
                          : std::numeric_limits<int32_t>::min();
    return static_cast<T>(i);  // modular for 8-bit types
  }
}

template <typename T>
T Add(T a, T b) {
  if constexpr (kIsInt<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}

template <typename T>
T Sub(T a, T b) {
  if constexpr (kIsInt<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}

template <typename T>
T Mul(T a, T b) {
  if constexpr (kIsInt<T>) {
    using U = std::make_unsigned_t<T>;
    // uint8 * uint8 promotes to int: multiply as unsigned int so it cannot overflow.
    using W = std::conditional_t<(sizeof(U) < sizeof(unsigned)), unsigned, U>;
    return static_cast<T>(static_cast<U>(static_cast<W>(static_cast<U>(a)) *
                                         static_cast<W>(static_cast<U>(b))));
  } else {
    return a * b;
  }
}

template <typename T>
T Neg(T a) {
  if constexpr (kIsInt<T>) {
    return Sub(T(0), a);
  } else {
    return -a;
  }
}

// a / b. REQUIRES for integers: b != 0 (checked by the op before its loop).
template <typename T>
T Div(T a, T b) {
  if constexpr (kIsInt<T> && std::is_signed_v<T>) {
    if (b == T(-1)) return Neg(a);  // INT_MIN / -1 wraps instead of trapping
    return static_cast<T>(a / b);
  } else if constexpr (kIsInt<T>) {
    return static_cast<T>(a / b);
  } else {
    return a / b;
  }
}

// MXNet's mshadow_op::mod: Python's sign rule (the result takes the divisor's sign), computed
// with fmod in double for every dtype, and 0 for a zero divisor (integer ops reject that
// before calling). Large int64 values round through double as in MXNet.
template <typename T>
T Mod(T a, T b) {
  const double da = static_cast<double>(a), db = static_cast<double>(b);
  if (b == T(0)) return T(0);
  if constexpr (kIsInt<T> && std::is_unsigned_v<T>) {
    return MXCast<T>(std::fmod(da, db));
  } else if (b < T(0)) {
    if (a < T(0)) return MXCast<T>(-std::fmod(-da, -db));
    const double r = std::fmod(da, -db);
    const T ret = MXCast<T>(r + (r != 0.0 ? static_cast<double>(b) : 0.0));
    return ret == b ? T(0) : ret;
  } else {
    if (a >= T(0)) return MXCast<T>(std::fmod(da, db));
    const double r = std::fmod(-da, db);
    const T ret = MXCast<T>(-r + (r != 0.0 ? static_cast<double>(b) : 0.0));
    return ret == b ? T(0) : ret;
  }
}

// Writes of MXNet's float math on integers: DType(float(a) * float(a)) (mshadow's math::sqr).
template <typename T>
T SquareInt(T a) {
  const float f = static_cast<float>(a);
  return MXCast<T>(f * f);
}

// DType(fabs(double(a))): INT_MIN stays INT_MIN, int64 values beyond 2^53 round.
template <typename T>
T AbsInt(T a) {
  return MXCast<T>(std::fabs(static_cast<double>(a)));
}

// MXNet's hypot: hypotf for every dtype but float64, integers truncating the result
// (int32 hypot(3, 3) is 4).
template <typename T>
T Hypot(T a, T b) {
  if constexpr (std::is_same_v<T, double>) {
    return std::hypot(a, b);
  } else {
    return MXCast<T>(std::hypot(static_cast<float>(a), static_cast<float>(b)));
  }
}

// -1, 0 or 1 in T (1 for every nonzero unsigned value).
template <typename T>
T Sign(T a) {
  if constexpr (std::is_signed_v<T>) {
    if (a < T(0)) return T(-1);
  }
  return a > T(0) ? T(1) : T(0);
}

}  // namespace mxgrid::ops::tensor_internal

#endif  // MXGRID_LIBS_OPS_TENSOR_INT_MATH_H_
