// Helpers of the random operator family (internal to libs/ops/random): the distributions
// MXNet samples (src/operator/random/sampler.h), their parameter checks, and the OpDef
// builders of each op file.
//
// Draws come from OpContext::rng only, sequentially in C order, so one per-call seed gives
// the same array whatever thread runs the kernel. Thread-safety: stateless functions.
#ifndef MXGRID_LIBS_OPS_RANDOM_RANDOM_UTIL_H_
#define MXGRID_LIBS_OPS_RANDOM_RANDOM_UTIL_H_

#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"
#include "libs/ops/op_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::random {

// The distributions with scalar parameters (a, b): uniform(low, high), normal(loc, scale),
// gamma(alpha, beta), exponential(lam), poisson(lam), negative_binomial(k, p),
// generalized_negative_binomial(mu, alpha).
enum class Dist {
  kUniform,
  kNormal,
  kGamma,
  kExponential,
  kPoisson,
  kNegativeBinomial,
  kGeneralizedNegativeBinomial,
};

// What the op families need of a distribution: its name ("uniform"), its parameters as the
// `_random_<name>` ops call them (with MXNet's defaults), as the `_sample_<name>` ops name
// their input arrays, and a description.
struct DistInfo {
  Dist dist;
  const char* name;
  std::vector<const char*> params;         // 1 or 2
  std::vector<double> defaults;            // per param
  std::vector<const char*> sample_inputs;  // per param
  const char* description;
};
const std::vector<DistInfo>& Distributions();

// InvalidArgument (prefixed with `op`) when (a, b) are outside the distribution's domain
// (MXNet's checks: high >= low, scale > 0, alpha and beta > 0, lam > 0 (exponential) or
// >= 0 (poisson), k > 0 with p in [0, 1], mu and alpha >= 0).
absl::Status CheckParams(absl::string_view op, Dist dist, double a, double b);

// One draw. REQUIRES: CheckParams(dist, a, b) is OK.
double Draw(Dist dist, double a, double b, std::mt19937_64& gen);

// Calls fn(TypeTag<T>) for float16, float32 or float64; InvalidArgument otherwise.
template <typename Fn>
absl::Status DispatchReal(absl::string_view op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat16: return fn(TypeTag<Half>());
    case DType::kFloat32: return fn(TypeTag<float>());
    case DType::kFloat64: return fn(TypeTag<double>());
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": dtype ", DTypeName(dtype), " is not supported (float16, float32 or float64)"));
  }
}

// Reads element i of `v` (any dtype) as a double.
double ReadDouble(const TensorView& v, int64_t i);

// The `shape` parameter of the samplers: absent or "None" leaves `out` empty; InvalidArgument
// for negative dims.
absl::Status ReadShape(ParamReader* r, AttrMap* attrs, std::vector<int64_t>* out);
// The `ctx` parameter of the zero-input samplers: removed from `attrs` (the imperative layer
// reads it from the op's attributes); InvalidArgument when malformed.
absl::Status TakeContext(absl::string_view op, AttrMap* attrs);
// The `dtype` parameter, one of `choices` ("None" among them: nullopt).
absl::Status ReadDType(ParamReader* r, std::initializer_list<absl::string_view> choices,
                       absl::string_view default_name, std::optional<DType>* out);

absl::Status CheckArity(absl::string_view op, size_t n_in, size_t want_in, size_t n_out,
                        size_t want_out);
OpDef NewOp(std::string name, std::string description, std::vector<std::string> aliases);
ParamSpec Spec(std::string name, std::string type, std::string default_value,
               std::string description);
// MXNet's InitShape/InitType: an output fixed by `shape`/`dtype` (empty shape: the output's
// known shape, else (1,); unset dtype: the output's known one, else `fallback`).
absl::Status InferFixedOutput(absl::string_view op, const std::vector<int64_t>& shape,
                              std::vector<InferShape>* out);
absl::Status InferFixedType(absl::string_view op, std::optional<DType> dtype, DType fallback,
                            std::vector<InferType>* out);

// The OpDef builders, one file each.
std::vector<OpDef> MakeScalarSamplerOps();  // _random_<dist>, _random_<dist>_like
OpDef MakeRandintOp();
std::vector<OpDef> MakeArraySamplerOps();   // _sample_<dist>
OpDef MakeMultinomialOp();
OpDef MakeShuffleOp();

}  // namespace mxgrid::ops::random

#endif  // MXGRID_LIBS_OPS_RANDOM_RANDOM_UTIL_H_
