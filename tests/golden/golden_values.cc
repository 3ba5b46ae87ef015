#include "tests/golden/golden_values.h"

#include <cstring>

namespace mxgrid::golden {

double GoldenValue(DType dtype, int64_t i) {
  const int64_t v = i * 3 - 7;
  switch (dtype) {
    case DType::kBool: return i % 3 == 0 ? 1.0 : 0.0;
    case DType::kUint8: return static_cast<double>(static_cast<uint8_t>(v));
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16: return static_cast<double>(v) / 2.0;
    default: return static_cast<double>(v);
  }
}

std::vector<uint8_t> GoldenBytes(DType dtype, int64_t count) {
  std::vector<uint8_t> bytes(count * DTypeSize(dtype));
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < count; ++i) {
      const T value = FromDouble<T>(GoldenValue(dtype, i));
      std::memcpy(bytes.data() + i * sizeof(T), &value, sizeof(T));
    }
  });
  return bytes;
}

double ElementAt(DType dtype, const void* data, int64_t i) {
  return VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value;
    std::memcpy(&value, static_cast<const uint8_t*>(data) + i * sizeof(T), sizeof(T));
    return ToDouble(value);
  });
}

}  // namespace mxgrid::golden
