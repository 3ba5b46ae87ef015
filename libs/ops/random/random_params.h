// The parsed parameter structs of the random family's operators (internal to
// libs/ops/random): shared by the CPU kernels (random_scalar.cc, randint.cc, sample_array.cc,
// multinomial.cc) and the CUDA kernels (*_cuda.cu), which read the same parsed values.
// Thread-safety: immutable once parsed.
#ifndef MXGRID_LIBS_OPS_RANDOM_RANDOM_PARAMS_H_
#define MXGRID_LIBS_OPS_RANDOM_RANDOM_PARAMS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "libs/base/dtype.h"
#include "libs/ops/op.h"

namespace mxgrid::ops::random {

// _random_<dist> and _random_<dist>_like: the distribution's scalar parameters (b is 0 for
// one-parameter distributions); shape and dtype of the zero-input form (empty / nullopt for
// the _like form).
struct ScalarParams : OpParams {
  double a = 0, b = 0;
  std::vector<int64_t> shape;
  std::optional<DType> dtype;
};

// _random_randint: integers on [low, high).
struct RandintParams : OpParams {
  int64_t low = 0, high = 0;
  std::vector<int64_t> shape;
  std::optional<DType> dtype;
};

// _sample_<dist>: `shape` draws per parameter element.
struct SampleParams : OpParams {
  std::vector<int64_t> shape;
  std::optional<DType> dtype;
};

// _sample_multinomial.
struct MultinomialParams : OpParams {
  std::vector<int64_t> shape;
  bool get_prob = false;
  DType dtype = DType::kInt32;
};

}  // namespace mxgrid::ops::random

#endif  // MXGRID_LIBS_OPS_RANDOM_RANDOM_PARAMS_H_
