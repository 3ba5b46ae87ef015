#include "libs/base/dtype.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace mxgrid {
namespace {

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

constexpr DType kAllDTypes[] = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kUint8,    DType::kInt32,
    DType::kInt8,    DType::kInt64,   DType::kBool,    DType::kBFloat16,
};

}  // namespace

Half FloatToHalf(float value) {
  const uint32_t f = FloatBits(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN; keep NaNs quiet and non-zero.
    const uint32_t mantissa = abs > 0x7f800000u ? (0x200u | ((abs >> 13) & 0x3ffu)) : 0u;
    return Half{static_cast<uint16_t>(sign | 0x7c00u | mantissa)};
  }
  if (abs >= 0x477ff000u) {  // Rounds to >= 65520: overflow to infinity.
    return Half{static_cast<uint16_t>(sign | 0x7c00u)};
  }
  if (abs < 0x38800000u) {  // Below the smallest normal half: subnormal or zero.
    // Adding 0.5 makes the FPU round the value to a multiple of 2^-24 (nearest even).
    const float rounded = BitsFloat(abs) + 0.5f;
    return Half{static_cast<uint16_t>(sign | (FloatBits(rounded) - FloatBits(0.5f)))};
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
  const uint32_t odd = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xfffu + odd - (112u << 23);
  return Half{static_cast<uint16_t>(sign | (rounded >> 13))};
}

float HalfToFloat(Half value) {
  const uint32_t h = value.bits;
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return BitsFloat(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {  // Zero or subnormal: mantissa * 2^-24.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  return BitsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

BFloat16 FloatToBFloat16(float value) {
  const uint32_t f = FloatBits(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN.
    return BFloat16{static_cast<uint16_t>((f >> 16) | 0x40u)};
  }
  const uint32_t rounding = 0x7fffu + ((f >> 16) & 1u);
  return BFloat16{static_cast<uint16_t>((f + rounding) >> 16)};
}

float BFloat16ToFloat(BFloat16 value) {
  return BitsFloat(static_cast<uint32_t>(value.bits) << 16);
}

size_t DTypeSize(DType dtype) {
  return VisitDType(dtype, [](auto tag) { return sizeof(typename decltype(tag)::type); });
}

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kUint8: return "uint8";
    case DType::kInt32: return "int32";
    case DType::kInt8: return "int8";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kBFloat16: return "bfloat16";
  }
  MXGRID_CHECK(false) << "invalid DType " << static_cast<int>(dtype);
  return "";
}

absl::StatusOr<DType> DTypeFromFlag(int64_t flag) {
  for (DType d : kAllDTypes) {
    if (static_cast<int64_t>(d) == flag) return d;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype flag ", flag,
      "; MXNet 1.x stores float32=0, float64=1, float16=2, uint8=3, int32=4, int8=5, "
      "int64=6, bool=7, bfloat16=12"));
}

absl::StatusOr<DType> DTypeFromName(absl::string_view name) {
  for (DType d : kAllDTypes) {
    if (DTypeName(d) == name) return d;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name,
      "'; use float32, float64, float16, uint8, int32, int8, int64, bool or bfloat16"));
}

bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 || dtype == DType::kFloat16 ||
         dtype == DType::kBFloat16;
}

}  // namespace mxgrid
