#include "libs/rpc/tensor_values.h"

#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace mxgrid::rpc {
namespace {

// The values field that carries a dtype's numbers.
enum class Field { kFloat, kDouble, kInt, kInt64, kBool };

Field FieldOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
      return Field::kFloat;
    case DType::kFloat64:
      return Field::kDouble;
    case DType::kInt64:
      return Field::kInt64;
    case DType::kBool:
      return Field::kBool;
    case DType::kUint8:
    case DType::kInt8:
    case DType::kInt32:
      return Field::kInt;
  }
  return Field::kFloat;
}

absl::string_view FieldName(Field field) {
  switch (field) {
    case Field::kFloat: return "float_values";
    case Field::kDouble: return "double_values";
    case Field::kInt: return "int_values";
    case Field::kInt64: return "int64_values";
    case Field::kBool: return "bool_values";
  }
  return "?";
}

int FieldSize(const v1::Tensor& t, Field field) {
  switch (field) {
    case Field::kFloat: return t.float_values_size();
    case Field::kDouble: return t.double_values_size();
    case Field::kInt: return t.int_values_size();
    case Field::kInt64: return t.int64_values_size();
    case Field::kBool: return t.bool_values_size();
  }
  return 0;
}

// Converts `field` element by element into T; integers must fit T.
template <typename T, typename Repeated>
absl::Status Convert(const Repeated& field, DType dtype, T* dst) {
  for (int i = 0; i < field.size(); ++i) {
    const auto v = field.Get(i);
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> && std::is_integral_v<V> &&
                  sizeof(T) < sizeof(V)) {
      if (v < static_cast<V>(std::numeric_limits<T>::min()) ||
          v > static_cast<V>(std::numeric_limits<T>::max())) {
        return absl::InvalidArgumentError(absl::StrCat("value ", v, " at index ", i,
                                                       " does not fit ", DTypeName(dtype)));
      }
    }
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      dst[i] = FromDouble<T>(v);
    } else {
      dst[i] = static_cast<T>(v);
    }
  }
  return absl::OkStatus();
}

// That `tensor` carries exactly `count` numbers in `dtype`'s field and none elsewhere.
absl::Status CheckValues(const v1::Tensor& tensor, DType dtype, int64_t count) {
  const Field want = FieldOf(dtype);
  for (Field f : {Field::kFloat, Field::kDouble, Field::kInt, Field::kInt64, Field::kBool}) {
    if (f != want && FieldSize(tensor, f) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("a ", DTypeName(dtype),
                                                     " tensor's numbers go in ", FieldName(want),
                                                     ", got ", FieldName(f)));
    }
  }
  if (FieldSize(tensor, want) != count) {
    return absl::InvalidArgumentError(absl::StrCat("tensor of ", count, " elements has ",
                                                   FieldSize(tensor, want), " ", FieldName(want)));
  }
  return absl::OkStatus();
}

}  // namespace

bool HasValues(const v1::Tensor& tensor) {
  for (Field f : {Field::kFloat, Field::kDouble, Field::kInt, Field::kInt64, Field::kBool}) {
    if (FieldSize(tensor, f) > 0) return true;
  }
  return false;
}

absl::StatusOr<std::string> ValuesToBytes(const v1::Tensor& tensor, DType dtype,
                                          int64_t count) {
  if (absl::Status s = CheckValues(tensor, dtype, count); !s.ok()) return s;
  const Field want = FieldOf(dtype);
  std::string bytes(static_cast<size_t>(count) * DTypeSize(dtype), '\0');
  absl::Status converted = VisitDType(dtype, [&](auto tag) -> absl::Status {
    using T = typename decltype(tag)::type;
    T* out = reinterpret_cast<T*>(bytes.data());
    switch (want) {
      case Field::kFloat: return Convert(tensor.float_values(), dtype, out);
      case Field::kDouble: return Convert(tensor.double_values(), dtype, out);
      case Field::kInt: return Convert(tensor.int_values(), dtype, out);
      case Field::kInt64: return Convert(tensor.int64_values(), dtype, out);
      case Field::kBool: return Convert(tensor.bool_values(), dtype, out);
    }
    return absl::OkStatus();
  });
  if (!converted.ok()) return converted;
  return bytes;
}

void BytesToValues(DType dtype, const void* src, int64_t count, v1::Tensor* out) {
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(src);
    for (int64_t i = 0; i < count; ++i) {
      if constexpr (std::is_same_v<T, int64_t>) {
        out->add_int64_values(in[i]);
      } else if constexpr (std::is_same_v<T, double>) {
        out->add_double_values(in[i]);
      } else if constexpr (std::is_same_v<T, bool>) {
        out->add_bool_values(in[i]);
      } else if constexpr (std::is_integral_v<T>) {
        out->add_int_values(in[i]);
      } else {  // float, float16, bfloat16
        out->add_float_values(static_cast<float>(ToDouble(in[i])));
      }
    }
  });
}

}  // namespace mxgrid::rpc
