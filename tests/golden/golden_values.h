// The deterministic array values shared by the golden files (make_golden.py, which writes
// them with real MXNet) and their C++ readers and writers. For flat C-order index i:
//   integer dtypes   i*3 - 7 (uint8 wraps modulo 256)
//   floating dtypes  (i*3 - 7) / 2  (exact in float16 and bfloat16 for i < 24)
//   bool             i % 3 == 0
//
// Thread-safe (pure functions).
#ifndef MXGRID_TESTS_GOLDEN_GOLDEN_VALUES_H_
#define MXGRID_TESTS_GOLDEN_GOLDEN_VALUES_H_

#include <cstdint>
#include <vector>

#include "libs/base/dtype.h"

namespace mxgrid::golden {

// Element i of the formula, as a double.
double GoldenValue(DType dtype, int64_t i);

// `count` elements of the formula, encoded in `dtype`'s storage type.
std::vector<uint8_t> GoldenBytes(DType dtype, int64_t count);

// Element i of a buffer of `dtype` values, as a double.
double ElementAt(DType dtype, const void* data, int64_t i);

}  // namespace mxgrid::golden

#endif  // MXGRID_TESTS_GOLDEN_GOLDEN_VALUES_H_
