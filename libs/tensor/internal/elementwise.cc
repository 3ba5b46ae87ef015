#include "libs/tensor/internal/elementwise.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/tensor/internal/parallel.h"

namespace mxgrid::tensor::internal {
namespace {

// The arithmetic type a storage type computes in.
template <typename T>
using ComputeT = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>,
                                    float, T>;

template <typename C>
inline C Apply(BinaryOp op, C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::make_unsigned_t<C>;
    switch (op) {
      case BinaryOp::kAdd: return static_cast<C>(static_cast<U>(a) + static_cast<U>(b));
      case BinaryOp::kSub: return static_cast<C>(static_cast<U>(a) - static_cast<U>(b));
      case BinaryOp::kMul: return static_cast<C>(static_cast<U>(a) * static_cast<U>(b));
      case BinaryOp::kDiv:
        if constexpr (std::is_signed_v<C>) {
          if (b == C(-1)) return static_cast<C>(U(0) - static_cast<U>(a));
        }
        return static_cast<C>(a / b);
    }
  } else {
    switch (op) {
      case BinaryOp::kAdd: return a + b;
      case BinaryOp::kSub: return a - b;
      case BinaryOp::kMul: return a * b;
      case BinaryOp::kDiv: return a / b;
    }
  }
  return a;
}

template <typename T>
inline ComputeT<T> ToComputed(T v) {
  if constexpr (std::is_same_v<T, Half>) return HalfToFloat(v);
  else if constexpr (std::is_same_v<T, BFloat16>) return BFloat16ToFloat(v);
  else return v;
}

template <typename T>
inline T FromComputed(ComputeT<T> v) {
  if constexpr (std::is_same_v<T, Half>) return FloatToHalf(v);
  else if constexpr (std::is_same_v<T, BFloat16>) return FloatToBFloat16(v);
  else return v;
}

template <typename T>
void TypedBinary(BinaryOp op, const T* lhs, const T* rhs, T* out, int64_t n) {
  using C = ComputeT<T>;
  switch (op) {
    case BinaryOp::kAdd:
      for (int64_t i = 0; i < n; ++i) {
        out[i] = FromComputed<T>(Apply<C>(BinaryOp::kAdd, ToComputed(lhs[i]), ToComputed(rhs[i])));
      }
      return;
    case BinaryOp::kSub:
      for (int64_t i = 0; i < n; ++i) {
        out[i] = FromComputed<T>(Apply<C>(BinaryOp::kSub, ToComputed(lhs[i]), ToComputed(rhs[i])));
      }
      return;
    case BinaryOp::kMul:
      for (int64_t i = 0; i < n; ++i) {
        out[i] = FromComputed<T>(Apply<C>(BinaryOp::kMul, ToComputed(lhs[i]), ToComputed(rhs[i])));
      }
      return;
    case BinaryOp::kDiv:
      for (int64_t i = 0; i < n; ++i) {
        out[i] = FromComputed<T>(Apply<C>(BinaryOp::kDiv, ToComputed(lhs[i]), ToComputed(rhs[i])));
      }
      return;
  }
}

template <typename T>
void TypedScalar(BinaryOp op, const T* lhs, ComputeT<T> s, bool scalar_on_left, T* out,
                 int64_t n) {
  using C = ComputeT<T>;
  if (scalar_on_left) {
    for (int64_t i = 0; i < n; ++i) out[i] = FromComputed<T>(Apply<C>(op, s, ToComputed(lhs[i])));
    return;
  }
  switch (op) {
    case BinaryOp::kAdd:
      for (int64_t i = 0; i < n; ++i) out[i] = FromComputed<T>(Apply<C>(BinaryOp::kAdd, ToComputed(lhs[i]), s));
      return;
    case BinaryOp::kSub:
      for (int64_t i = 0; i < n; ++i) out[i] = FromComputed<T>(Apply<C>(BinaryOp::kSub, ToComputed(lhs[i]), s));
      return;
    case BinaryOp::kMul:
      for (int64_t i = 0; i < n; ++i) out[i] = FromComputed<T>(Apply<C>(BinaryOp::kMul, ToComputed(lhs[i]), s));
      return;
    case BinaryOp::kDiv:
      for (int64_t i = 0; i < n; ++i) out[i] = FromComputed<T>(Apply<C>(BinaryOp::kDiv, ToComputed(lhs[i]), s));
      return;
  }
}

template <typename T>
bool HasZero(const T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] == T(0)) return true;
  }
  return false;
}

absl::Status CheckArithmeticDType(DType dtype) {
  if (dtype == DType::kBool) {
    return absl::InvalidArgumentError(
        "elementwise arithmetic is not defined on bool arrays (as in MXNet 1.x); cast to "
        "another dtype first");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BinaryKernel(BinaryOp op, DType dtype, const void* lhs, const void* rhs,
                          void* out, int64_t n) {
  if (absl::Status s = CheckArithmeticDType(dtype); !s.ok()) return s;
  absl::Status status;
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      const T* a = static_cast<const T*>(lhs);
      const T* b = static_cast<const T*>(rhs);
      if constexpr (std::is_integral_v<T>) {
        if (op == BinaryOp::kDiv && HasZero(b, n)) {
          status = absl::InvalidArgumentError(absl::StrCat(
              "integer division by zero in elementwise divide of ", DTypeName(dtype),
              " arrays"));
          return;
        }
      }
      T* c = static_cast<T*>(out);
      ParallelFor(n, [&](int64_t begin, int64_t end) {
        TypedBinary<T>(op, a + begin, b + begin, c + begin, end - begin);
      });
    }
  });
  return status;
}

absl::Status ScalarKernel(BinaryOp op, DType dtype, const void* lhs, double scalar,
                          bool scalar_on_left, void* out, int64_t n) {
  if (absl::Status s = CheckArithmeticDType(dtype); !s.ok()) return s;
  absl::Status status;
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, bool>) {
      using C = ComputeT<T>;
      const T* a = static_cast<const T*>(lhs);
      const C s = ToComputed(FromDouble<T>(scalar));
      if constexpr (std::is_integral_v<T>) {
        if (op == BinaryOp::kDiv && (scalar_on_left ? HasZero(a, n) : s == C(0))) {
          status = absl::InvalidArgumentError(absl::StrCat(
              "integer division by zero in scalar divide of a ", DTypeName(dtype), " array"));
          return;
        }
      }
      T* c = static_cast<T*>(out);
      ParallelFor(n, [&](int64_t begin, int64_t end) {
        TypedScalar<T>(op, a + begin, s, scalar_on_left, c + begin, end - begin);
      });
    }
  });
  return status;
}

}  // namespace mxgrid::tensor::internal
