// Typed element loops shared by NDArray creation, copies and printing (private).
#ifndef MXGRID_LIBS_TENSOR_INTERNAL_CONVERT_H_
#define MXGRID_LIBS_TENSOR_INTERNAL_CONVERT_H_

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "libs/base/dtype.h"

namespace mxgrid::tensor::internal {

// Writes `value`, converted to `dtype`, into n elements at dst.
inline void FillElements(void* dst, DType dtype, int64_t n, double value) {
  VisitDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = FromDouble<T>(value);
    T* out = static_cast<T*>(dst);
    if constexpr (std::is_arithmetic_v<T>) {
      if (v == T(0)) {
        std::memset(out, 0, static_cast<size_t>(n) * sizeof(T));
        return;
      }
    }
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  });
}

// Copies n elements from src (src_dtype) to dst (dst_dtype), converting like a C++ cast.
// src and dst may be the same buffer only when the dtypes match.
inline void ConvertElements(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                            int64_t n) {
  if (src_dtype == dst_dtype) {
    if (src != dst) std::memmove(dst, src, static_cast<size_t>(n) * DTypeSize(src_dtype));
    return;
  }
  VisitDType(src_dtype, [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    VisitDType(dst_dtype, [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      const S* in = static_cast<const S*>(src);
      D* out = static_cast<D*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = FromDouble<D>(ToDouble(in[i]));
    });
  });
}

}  // namespace mxgrid::tensor::internal

#endif  // MXGRID_LIBS_TENSOR_INTERNAL_CONVERT_H_
