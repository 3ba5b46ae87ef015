// Dropout (MXNet src/operator/nn/dropout-inl.h): in training (or mode=always) each mask
// element is 1/(1-p) with probability 1-p, else 0, drawn from OpContext::rng, and shared
// along `axes`; out = data * mask. Otherwise out = data and the mask is all ones, so the
// backward (head gradient * mask) is right in both cases. Outputs: output, hidden mask.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "Dropout";

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const AttrMap& attrs) {
  auto p = std::make_shared<DropoutParams>();
  AttrMap a = attrs;  // cudnn_off is an optional bool: "None" is absent.
  if (auto it = a.find("cudnn_off"); it != a.end() && it->second == "None") a.erase(it);
  ParamReader r(kOp, a);
  std::string mode;
  bool cudnn_off = false;
  MXGRID_RETURN_IF_ERROR(r.Float("p", &p->p, 0.5));
  MXGRID_RETURN_IF_ERROR(r.Enum("mode", &mode, {"training", "always"}, "training"));
  MXGRID_RETURN_IF_ERROR(r.Tuple("axes", &p->axes));
  MXGRID_RETURN_IF_ERROR(r.Bool("cudnn_off", &cudnn_off, false));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (!(p->p >= 0 && p->p <= 1)) return r.Error("p must be in [0, 1]");
  p->always = mode == "always";
  return std::shared_ptr<const OpParams>(std::move(p));
}

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<DropoutParams>(params);
  MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 1, out->size(), 2));
  std::vector<InferShape> visible = {(*out)[0]};
  MXGRID_RETURN_IF_ERROR(InferSameShape(kOp, in, &visible));
  (*out)[0] = visible[0];
  if (!(*in)[0]) return absl::OkStatus();
  Shape mask = *(*in)[0];
  for (int64_t axis : p.axes) {
    const int64_t a = axis < 0 ? axis + mask.ndim() : axis;
    if (a < 0 || a >= mask.ndim()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": axis ", axis, " is out of range for data shape ", mask.ToString()));
    }
    mask[static_cast<int>(a)] = 1;
  }
  return MergeShape(kOp, "mask", mask, &(*out)[1]);
}

// Index into the (broadcast) mask of each element of `data`, in C order.
std::vector<int64_t> MaskIndex(const Shape& data, const Shape& mask) {
  std::vector<int64_t> index(data.Size());
  std::vector<int64_t> pos(data.ndim(), 0);
  for (int64_t j = 0; j < data.Size(); ++j) {
    int64_t m = 0;
    for (int d = 0; d < data.ndim(); ++d) m = m * mask[d] + (mask[d] == 1 ? 0 : pos[d]);
    index[j] = m;
    for (int d = data.ndim() - 1; d >= 0; --d) {
      if (++pos[d] < data[d]) break;
      pos[d] = 0;
    }
  }
  return index;
}

template <typename T>
absl::Status ForwardT(const OpContext& ctx, const DropoutParams& p, absl::Span<const TensorView> in,
                      absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const TensorView& mask = out[1];
  T* m = mask.as<T>();
  const bool drop = (ctx.is_train || p.always) && p.p > 0;
  if (drop && ctx.rng == nullptr) {
    return absl::FailedPreconditionError("Dropout: OpContext::rng is null in training");
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double keep = 1.0 - p.p;
  for (int64_t j = 0; j < mask.size(); ++j) {
    if (!drop) {
      m[j] = T(1);
    } else {
      m[j] = uniform(*ctx.rng) < keep ? static_cast<T>(1.0 / keep) : T(0);
    }
  }
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  const T* x = in[0].as<T>();
  const std::vector<int64_t> index = MaskIndex(in[0].shape, mask.shape);
  for (int64_t j = 0; j < in[0].size(); ++j) Store(reqs[0], out[0].as<T>(), j, x[j] * m[index[j]]);
  return absl::OkStatus();
}

template <typename T>
absl::Status BackwardT(const BackwardArgs& a) {
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& mask = a.outputs[1];
  const T* g = a.out_grads[0].as<T>();
  const std::vector<int64_t> index = MaskIndex(a.outputs[0].shape, mask.shape);
  for (int64_t j = 0; j < a.outputs[0].size(); ++j) {
    Store(a.reqs[0], a.in_grads[0].as<T>(), j, g[j] * mask.as<T>()[index[j]]);
  }
  return absl::OkStatus();
}

}  // namespace

OpDef MakeDropoutOp() {
  OpDef d = NewOp(kOp, "Randomly zeroes elements in training, scaling the rest by 1/(1-p).");
  d.params = {Spec("p", "float", "0.5", "Fraction of the input that gets dropped out."),
              Spec("mode", "{'always', 'training'}", "'training'",
                   "Whether to drop only in training or always."),
              Spec("axes", "Shape(tuple)", "()", "Axes along which the mask is shared."),
              Spec("cudnn_off", "boolean or None", "0", "Ignored on CPU.")};
  d.parse = Parse;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.num_outputs = [](const OpParams&) { return 2; };
  d.infer_shape = Infer;
  d.forward = [](const OpContext& ctx, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    const auto& p = ParamsAs<DropoutParams>(params);
    return DispatchFloat(kOp, in[0].dtype, [&](auto tag) {
      return ForwardT<typename decltype(tag)::type>(ctx, p, in, reqs, out);
    });
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return DispatchFloat(kOp, a.outputs[0].dtype,
                         [&](auto tag) { return BackwardT<typename decltype(tag)::type>(a); });
  };
  d.backward_deps.outputs = true;
  d.random = true;
  d.inplace = {{0, 0}};
  d.backward_inplace = {{0, 0}};
  return d;
}

}  // namespace mxgrid::ops::nn
