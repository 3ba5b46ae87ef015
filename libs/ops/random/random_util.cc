#include "libs/ops/random/random_util.h"

#include <cmath>
#include <limits>
#include <utility>

#include "libs/base/context.h"
#include "libs/base/status_macros.h"

namespace mxgrid::ops::random {
namespace {

double Poisson(double lam, std::mt19937_64& gen) {
  if (lam <= 0) return 0;
  if (!std::isfinite(lam)) return std::numeric_limits<double>::infinity();
  return static_cast<double>(std::poisson_distribution<int64_t>(lam)(gen));
}

double Gamma(double shape, double scale, std::mt19937_64& gen) {
  if (scale <= 0) return 0;
  return std::gamma_distribution<double>(shape, scale)(gen);
}

absl::Status Bad(absl::string_view op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", what));
}

}  // namespace

const std::vector<DistInfo>& Distributions() {
  static const std::vector<DistInfo> kDists = {
      {Dist::kUniform, "uniform", {"low", "high"}, {0, 1}, {"low", "high"},
       "Draws samples from a uniform distribution on [low, high)."},
      {Dist::kNormal, "normal", {"loc", "scale"}, {0, 1}, {"mu", "sigma"},
       "Draws samples from a normal (Gaussian) distribution."},
      {Dist::kGamma, "gamma", {"alpha", "beta"}, {1, 1}, {"alpha", "beta"},
       "Draws samples from a gamma distribution (alpha: shape, beta: scale)."},
      {Dist::kExponential, "exponential", {"lam"}, {1}, {"lam"},
       "Draws samples from an exponential distribution with rate lam."},
      {Dist::kPoisson, "poisson", {"lam"}, {1}, {"lam"},
       "Draws samples from a Poisson distribution with mean lam."},
      {Dist::kNegativeBinomial, "negative_binomial", {"k", "p"}, {1, 1}, {"k", "p"},
       "Draws samples from a negative binomial distribution: failures before k successes "
       "of probability p."},
      {Dist::kGeneralizedNegativeBinomial, "generalized_negative_binomial", {"mu", "alpha"},
       {1, 1}, {"mu", "alpha"},
       "Draws samples from a generalized negative binomial distribution (mean mu, "
       "dispersion alpha)."},
  };
  return kDists;
}

absl::Status CheckParams(absl::string_view op, Dist dist, double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return Bad(op, "distribution parameters must not be NaN");
  switch (dist) {
    case Dist::kUniform:
      if (!(b >= a)) {
        return Bad(op, absl::StrCat("low must be less or equal to high in uniform "
                                    "distribution, got low=", a, " high=", b));
      }
      break;
    case Dist::kNormal:
      if (!(b > 0)) {
        return Bad(op, absl::StrCat("scale parameter in gaussian has to be positive, got ", b));
      }
      break;
    case Dist::kGamma:
      if (!(a > 0 && b > 0)) {
        return Bad(op, absl::StrCat("alpha and beta in gamma distribution have to be "
                                    "positive, got alpha=", a, " beta=", b));
      }
      break;
    case Dist::kExponential:
      if (!(a > 0)) {
        return Bad(op, absl::StrCat("lambda parameter in exponential distribution has to be "
                                    "positive, got ", a));
      }
      break;
    case Dist::kPoisson:
      if (!(a >= 0)) {
        return Bad(op, absl::StrCat("lambda parameter in poisson distribution has to be "
                                    "non-negative, got ", a));
      }
      break;
    case Dist::kNegativeBinomial:
      if (!(a > 0 && b >= 0 && b <= 1)) {
        return Bad(op, absl::StrCat("negative binomial needs k > 0 and p in [0, 1], got k=",
                                    a, " p=", b));
      }
      break;
    case Dist::kGeneralizedNegativeBinomial:
      if (!(a >= 0 && b >= 0)) {
        return Bad(op, absl::StrCat("generalized negative binomial needs mu >= 0 and "
                                    "alpha >= 0, got mu=", a, " alpha=", b));
      }
      break;
  }
  return absl::OkStatus();
}

double Draw(Dist dist, double a, double b, std::mt19937_64& gen) {
  switch (dist) {
    case Dist::kUniform:
      return a + (b - a) * std::uniform_real_distribution<double>(0.0, 1.0)(gen);
    case Dist::kNormal:
      return std::normal_distribution<double>(a, b)(gen);
    case Dist::kGamma:
      return Gamma(a, b, gen);
    case Dist::kExponential:
      return std::exponential_distribution<double>(a)(gen);
    case Dist::kPoisson:
      return Poisson(a, gen);
    case Dist::kNegativeBinomial:
      // A gamma-Poisson mixture, as MXNet's sampler: rate ~ Gamma(k, (1-p)/p).
      if (b == 0) return std::numeric_limits<double>::infinity();
      return Poisson(Gamma(a, (1 - b) / b, gen), gen);
    case Dist::kGeneralizedNegativeBinomial:
      if (b == 0) return Poisson(a, gen);
      return Poisson(Gamma(1 / b, a * b, gen), gen);
  }
  return 0;
}

double ReadDouble(const TensorView& v, int64_t i) {
  return VisitDType(v.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return ToDouble(v.as<T>()[i]);
  });
}

absl::Status ReadShape(ParamReader* r, AttrMap* attrs, std::vector<int64_t>* out) {
  out->clear();
  if (auto it = attrs->find("shape"); it != attrs->end() && it->second == "None") {
    attrs->erase(it);
  }
  MXGRID_RETURN_IF_ERROR(r->Tuple("shape", out));
  for (int64_t d : *out) {
    if (d < 0) return r->Error("shape dimensions must be >= 0");
  }
  if (out->size() > static_cast<size_t>(Shape::kMaxNdim)) {
    return r->Error(absl::StrCat("shape has more than ", Shape::kMaxNdim, " dimensions"));
  }
  return absl::OkStatus();
}

absl::Status TakeContext(absl::string_view op, AttrMap* attrs) {
  auto it = attrs->find("ctx");
  if (it == attrs->end()) return absl::OkStatus();
  if (!it->second.empty() && it->second != "None") {
    absl::StatusOr<Context> ctx = Context::FromString(it->second);
    if (!ctx.ok()) return Bad(op, ctx.status().message());
  }
  attrs->erase(it);
  return absl::OkStatus();
}

absl::Status ReadDType(ParamReader* r, std::initializer_list<absl::string_view> choices,
                       absl::string_view default_name, std::optional<DType>* out) {
  std::string name;
  MXGRID_RETURN_IF_ERROR(r->Enum("dtype", &name, choices, default_name));
  if (name == "None") {
    *out = std::nullopt;
    return absl::OkStatus();
  }
  absl::StatusOr<DType> dtype = DTypeFromName(name);
  if (!dtype.ok()) return r->Error(dtype.status().message());
  *out = *dtype;
  return absl::OkStatus();
}

absl::Status CheckArity(absl::string_view op, size_t n_in, size_t want_in, size_t n_out,
                        size_t want_out) {
  if (n_in != want_in || n_out != want_out) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": expected ", want_in, " inputs and ",
                                                   want_out, " outputs, got ", n_in, " and ",
                                                   n_out));
  }
  return absl::OkStatus();
}

OpDef NewOp(std::string name, std::string description, std::vector<std::string> aliases) {
  OpDef d;
  d.name = std::move(name);
  d.description = std::move(description);
  d.aliases = std::move(aliases);
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.random = true;
  return d;
}

ParamSpec Spec(std::string name, std::string type, std::string default_value,
               std::string description) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = std::move(type);
  s.required = default_value.empty();
  s.default_value = std::move(default_value);
  s.description = std::move(description);
  return s;
}

absl::Status InferFixedOutput(absl::string_view op, const std::vector<int64_t>& shape,
                              std::vector<InferShape>* out) {
  if (shape.empty()) {
    if (IsKnown((*out)[0])) return absl::OkStatus();
    return MergeShape(op, "output", Shape{1}, &(*out)[0]);
  }
  return MergeShape(op, "output", Shape(shape), &(*out)[0]);
}

absl::Status InferFixedType(absl::string_view op, std::optional<DType> dtype, DType fallback,
                            std::vector<InferType>* out) {
  InferType& o = (*out)[0];
  if (o && dtype && *o != *dtype) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": output dtype ", DTypeName(*o),
                                                   " conflicts with dtype=", DTypeName(*dtype)));
  }
  if (!o) o = dtype ? *dtype : fallback;
  return absl::OkStatus();
}

}  // namespace mxgrid::ops::random
