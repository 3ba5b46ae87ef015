// Unary math (exp, log, sqrt, square, abs, negative, sign, relu, sigmoid, tanh, reciprocal,
// clip), copies (_copy, BlockGrad, zeros_like, ones_like) and Cast. square, abs, negative,
// sign, relu, clip and the copies also run forward on MXNet's integer dtypes with its
// semantics (int_math.h); the transcendental ones stay float32/float64.
#include <algorithm>
#include <cmath>
#include <optional>
#include <type_traits>

#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"
#include "libs/ops/tensor/unary_params.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::AbsInt;
using tensor_internal::DispatchNumeric;
using tensor_internal::Dtypes;
using tensor_internal::kIsInt;
using tensor_internal::MXCast;
using tensor_internal::Neg;
using tensor_internal::Sign;
using tensor_internal::SquareInt;
using tensor_internal::ElemwiseShapes;
using tensor_internal::kInputDeps;
using tensor_internal::kNoDeps;
using tensor_internal::kOutputDeps;
using tensor_internal::NoParams;
using tensor_internal::NoParamsParser;
using tensor_internal::ParseFn;
using tensor_internal::UnaryOp;

using tensor_internal::CastParams;
using tensor_internal::ClipParams;

// `f` (a float function) for float arrays as is; for integer arrays computed in float32 and
// converted back as MXNet's DType(v) does (MXCast).
template <typename F>
auto ViaFloat32(F f) {
  return [f](auto x) {
    using T = decltype(x);
    if constexpr (kIsInt<T>) {
      return MXCast<T>(f(static_cast<float>(x)));
    } else {
      return f(x);
    }
  };
}

template <Dtypes kDtypes = Dtypes::kReal, typename Fwd, typename Bwd>
OpDef Math(const std::string& name, std::vector<std::string> aliases, Fwd fwd, Bwd bwd,
           BackwardDeps deps, bool has_grad = true) {
  return UnaryOp<NoParams, kDtypes>(
      name, std::move(aliases), NoParamsParser(name),
      [fwd](auto x, const NoParams&) { return fwd(x); },
      [bwd](auto x, auto y, auto g, const NoParams&) { return bwd(x, y, g); }, deps, has_grad);
}

OpDef Clip() {
  ParseFn parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ClipParams>();
    ParamReader r("clip", attrs);
    MXGRID_RETURN_IF_ERROR(r.Float("a_min", &p->a_min));
    MXGRID_RETURN_IF_ERROR(r.Float("a_max", &p->a_max));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  OpDef d = UnaryOp<ClipParams, Dtypes::kNumeric>(
      "clip", {}, parse,
      [](auto x, const ClipParams& p) {
        using T = decltype(x);
        if constexpr (kIsInt<T>) {
          // MXNet compares with float bounds and writes DType(bound): int8 clip(-3.7, 7.9)
          // maps -100 to -3 and 100 to 7; uint8 0 stays 0.
          const float lo = static_cast<float>(p.a_min), hi = static_cast<float>(p.a_max);
          if (x > hi) return MXCast<T>(hi);
          if (x < lo) return MXCast<T>(lo);
          return x;
        } else {
          return std::min(std::max(x, static_cast<T>(p.a_min)), static_cast<T>(p.a_max));
        }
      },
      [](auto x, auto, auto g, const ClipParams& p) {
        return (x < p.a_min || x > p.a_max) ? decltype(g)(0) : g;
      },
      kInputDeps);
  d.params = {{"a_min", "float", "", true, "Minimum value"},
              {"a_max", "float", "", true, "Maximum value"}};
  return d;
}

// Converts every element of `src` into `dst` (any dtypes, float16 and bfloat16 included, as
// MXNet's Cast), honouring `req`.
absl::Status Convert(const TensorView& src, OpReq req, const TensorView& dst) {
  if (req == OpReq::kNull) return absl::OkStatus();
  VisitDType(src.dtype, [&](auto in_tag) {
    using I = typename decltype(in_tag)::type;
    VisitDType(dst.dtype, [&](auto out_tag) {
      using O = typename decltype(out_tag)::type;
      const I* x = src.as<I>();
      O* y = dst.as<O>();
      for (int64_t i = 0, n = dst.size(); i < n; ++i) {
        const O v = FromDouble<O>(ToDouble(x[i]));
        if (req != OpReq::kAddTo) {
          y[i] = v;
        } else if constexpr (std::is_arithmetic_v<O>) {
          y[i] = static_cast<O>(y[i] + v);
        } else {  // float16 / bfloat16: summed in float, rounded once
          y[i] = FromDouble<O>(ToDouble(y[i]) + ToDouble(v));
        }
      }
    });
  });
  return absl::OkStatus();
}

OpDef Cast() {
  OpDef d;
  d.name = "Cast";
  d.aliases = {"cast"};
  d.description = "Casts every element to `dtype`.";
  d.native_half = true;
  d.params = {{"dtype", "{'float16', 'float32', 'float64', 'int32', ...}", "", true,
               "Output data type."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<CastParams>();
    ParamReader r("Cast", attrs);
    MXGRID_RETURN_IF_ERROR(r.DTypeName("dtype", &p->dtype));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (!p->dtype) return r.Error("parameter 'dtype' is required");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) { return ElemwiseShapes("Cast", in, out); };
  d.infer_type = [](const OpParams& p, std::vector<InferType>*, std::vector<InferType>* out) {
    (*out)[0] = ParamsAs<CastParams>(p).dtype;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return Convert(in[0], reqs[0], out[0]);
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return Convert(a.out_grads[0], a.reqs[0], a.in_grads[0]);
  };
  return d;
}

}  // namespace

absl::Status RegisterUnaryOps(Registry* registry) {
  std::vector<OpDef> defs;
  constexpr Dtypes kNum = Dtypes::kNumeric;
  auto zero = [](auto g) { return decltype(g)(0); };
  // exp, log, sqrt, sigmoid, tanh and reciprocal take integer arrays too, through MXNet's
  // float32 math and back (exp of int32 [1, 2, 4] is [2, 7, 54]; log(-3) is INT32_MIN).
  defs.push_back(Math<kNum>("exp", {}, ViaFloat32([](auto x) { return std::exp(x); }),
                            [](auto, auto y, auto g) { return g * y; }, kOutputDeps));
  defs.push_back(Math<kNum>("log", {}, ViaFloat32([](auto x) { return std::log(x); }),
                            [](auto x, auto, auto g) { return g / x; }, kInputDeps));
  defs.push_back(Math<kNum>("sqrt", {}, ViaFloat32([](auto x) { return std::sqrt(x); }),
                            [](auto, auto y, auto g) { return g / (2 * y); }, kOutputDeps));
  // Integer square and abs go through MXNet's float math (int_math.h): int32 46341^2 is
  // INT32_MIN, abs(INT32_MIN) is INT32_MIN.
  defs.push_back(Math<kNum>(
      "square", {},
      [](auto x) {
        if constexpr (kIsInt<decltype(x)>) return SquareInt(x); else return x * x;
      },
      [](auto x, auto, auto g) { return 2 * x * g; }, kInputDeps));
  defs.push_back(Math<kNum>(
      "abs", {},
      [](auto x) {
        if constexpr (kIsInt<decltype(x)>) return AbsInt(x); else return std::abs(x);
      },
      [=](auto x, auto, auto g) { return x > 0 ? g : x < 0 ? -g : zero(g); }, kInputDeps));
  defs.push_back(Math<kNum>("negative", {}, [](auto x) { return Neg(x); },
                            [](auto, auto, auto g) { return -g; }, kNoDeps));
  // MXNet's sign: -1, 0 or 1; its gradient is zero.
  defs.push_back(Math<kNum>("sign", {}, [](auto x) { return Sign(x); },
                            [=](auto, auto, auto g) { return zero(g); }, kNoDeps));
  // NaN passes through relu and its gradient, as MXNet's relu / relu_grad.
  defs.push_back(Math<kNum>("relu", {},
                            [](auto x) { return x != x || x > 0 ? x : decltype(x)(0); },
                            [=](auto, auto y, auto g) {
                              return y != y ? g * y : y > 0 ? g : zero(g);
                            },
                            kOutputDeps));
  defs.push_back(Math<kNum>("sigmoid", {},
                            ViaFloat32([](auto x) { return 1 / (1 + std::exp(-x)); }),
                            [](auto, auto y, auto g) { return g * y * (1 - y); }, kOutputDeps));
  defs.push_back(Math<kNum>("tanh", {}, ViaFloat32([](auto x) { return std::tanh(x); }),
                            [](auto, auto y, auto g) { return g * (1 - y * y); }, kOutputDeps));
  defs.push_back(Math<kNum>("reciprocal", {}, ViaFloat32([](auto x) { return 1 / x; }),
                            [](auto x, auto, auto g) { return -g / (x * x); }, kInputDeps));
  defs.push_back(Clip());
  defs.push_back(Math<kNum>("_copy", {"identity"}, [](auto x) { return x; },
                      [](auto, auto, auto g) { return g; }, kNoDeps));
  defs.push_back(Math<kNum>("BlockGrad", {"stop_gradient"}, [](auto x) { return x; },
                      [](auto, auto, auto g) { return g; }, kNoDeps, /*has_grad=*/false));
  defs.push_back(Math<kNum>("zeros_like", {}, [](auto x) { return decltype(x)(0); },
                      [](auto, auto, auto g) { return g; }, kNoDeps, /*has_grad=*/false));
  defs.push_back(Math<kNum>("ones_like", {}, [](auto x) { return decltype(x)(1); },
                      [](auto, auto, auto g) { return g; }, kNoDeps, /*has_grad=*/false));
  defs.push_back(Cast());
  for (OpDef& d : defs) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
