// The random operator family (MXNet src/operator/random/): samplers with scalar parameters
// (_random_uniform, _random_normal, _random_gamma, _random_exponential, _random_poisson,
// _random_negative_binomial, _random_generalized_negative_binomial, _random_randint), their
// _like forms, samplers with array parameters (_sample_*), _sample_multinomial and _shuffle.
//
//   Registry registry;
//   MXGRID_RETURN_IF_ERROR(RegisterRandomOps(&registry));
//
// Every op has OpDef::random: it draws from OpContext::rng, which callers seed per call from
// the session's generator (libs/executor/random_source.h), so a seed reproduces the values.
// CPU kernels; float16, float32 and float64 outputs (int32/int64 for randint).
#ifndef MXGRID_LIBS_OPS_RANDOM_RANDOM_OPS_H_
#define MXGRID_LIBS_OPS_RANDOM_RANDOM_OPS_H_

#include "absl/status/status.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops {

// Adds every random operator; AlreadyExists when one of their names is taken.
absl::Status RegisterRandomOps(Registry* registry);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_RANDOM_RANDOM_OPS_H_
