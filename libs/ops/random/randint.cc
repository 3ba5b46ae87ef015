// _random_randint (MXNet src/operator/random/sample_op.cc): integers uniform on [low, high),
// int32 (default) or int64, with shape, ctx and dtype parameters and no inputs. No gradient.
#include <limits>
#include <memory>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_params.h"
#include "libs/ops/random/random_util.h"

namespace mxgrid::ops::random {
namespace {

constexpr char kOp[] = "_random_randint";

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const AttrMap& attrs) {
  auto p = std::make_shared<RandintParams>();
  AttrMap a = attrs;
  MXGRID_RETURN_IF_ERROR(TakeContext(kOp, &a));
  ParamReader r(kOp, a);
  MXGRID_RETURN_IF_ERROR(r.Int("low", &p->low));
  MXGRID_RETURN_IF_ERROR(r.Int("high", &p->high));
  MXGRID_RETURN_IF_ERROR(ReadShape(&r, &a, &p->shape));
  MXGRID_RETURN_IF_ERROR(ReadDType(&r, {"None", "int32", "int64"}, "None", &p->dtype));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (!(p->high > p->low)) {
    return r.Error(absl::StrCat("high must be greater than low, got low=", p->low,
                                " high=", p->high));
  }
  return std::shared_ptr<const OpParams>(std::move(p));
}

template <typename T>
absl::Status ForwardT(const OpContext& ctx, const RandintParams& p, const TensorView& out) {
  if constexpr (std::is_integral_v<T>) {
    if (p.high - 1 > static_cast<int64_t>(std::numeric_limits<T>::max()) ||
        p.low < static_cast<int64_t>(std::numeric_limits<T>::min())) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": [", p.low, ", ", p.high, ") does not fit in ", DTypeName(out.dtype)));
    }
  }
  std::uniform_int_distribution<int64_t> dist(p.low, p.high - 1);
  T* o = out.as<T>();
  for (int64_t i = 0; i < out.size(); ++i) {
    o[i] = FromDouble<T>(static_cast<double>(dist(*ctx.rng)));
  }
  return absl::OkStatus();
}

}  // namespace

OpDef MakeRandintOp() {
  OpDef d = NewOp(kOp, "Draws integers uniformly from [low, high).", {"random_randint"});
  d.params = {Spec("low", "long", "", "Lower bound (inclusive)."),
              Spec("high", "long", "", "Upper bound (exclusive)."),
              Spec("shape", "Shape(tuple)", "None", "Shape of the output."),
              Spec("ctx", "string", "''", "Context of the output: cpu(0), gpu(1) ..."),
              Spec("dtype", "{'None', 'int32', 'int64'}", "'None'",
                   "DType of the output (None: int32).")};
  d.parse = Parse;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 0, out->size(), 1));
    return InferFixedOutput(kOp, ParamsAs<RandintParams>(params).shape, out);
  };
  d.infer_type = [](const OpParams& params, std::vector<InferType>* in,
                    std::vector<InferType>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 0, out->size(), 1));
    return InferFixedType(kOp, ParamsAs<RandintParams>(params).dtype, DType::kInt32, out);
  };
  d.forward = [](const OpContext& ctx, const OpParams& params, absl::Span<const TensorView>,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    if (ctx.rng == nullptr) return absl::FailedPreconditionError("_random_randint: no rng");
    const auto& p = ParamsAs<RandintParams>(params);
    // int32 or int64 by inference; any dtype a caller allocates is written as it holds.
    return VisitDType(out[0].dtype, [&](auto tag) {
      return ForwardT<typename decltype(tag)::type>(ctx, p, out[0]);
    });
  };
  return d;
}

}  // namespace mxgrid::ops::random
