// UpSampling with sample_type 'nearest', as MXNet 1.9.1 defines it: num_args 4-D inputs
// (arg0, arg1, ...) each repeated to (H0 * scale, W0 * scale), H0/W0 those of arg0 (every
// input's height and width must divide them), then concatenated along channels
// (multi_input_mode 'concat') or summed ('sum', equal channels). Backward sums each output
// gradient block back into its source element. sample_type 'bilinear' (MXNet's
// Deconvolution with a weight input; inputs data and weight) parses, and shape inference
// refuses it with InvalidArgument.
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

constexpr char kOp[] = "UpSampling";

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<UpParams>(params);
  if (p.bilinear) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": sample_type 'bilinear' is not supported (use Deconvolution)"));
  }
  for (const auto& s : *in) {
    if (!IsKnown(s)) return absl::OkStatus();
  }
  const Shape& s0 = *(*in)[0];
  if (s0.ndim() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, ": input 0 must be 4-D, got ",
                                                   s0.ToString()));
  }
  Shape o{s0[0], p.sum ? s0[1] : 0, s0[2] * p.scale, s0[3] * p.scale};
  for (size_t i = 0; i < in->size(); ++i) {
    const Shape& s = *(*in)[i];
    if (s.ndim() != 4 || s[0] != s0[0] || s[2] == 0 || s[3] == 0 || o[2] % s[2] != 0 ||
        o[3] % s[3] != 0 || (p.sum && s[1] != s0[1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          kOp, ": input ", i, " ", s.ToString(), " cannot be upsampled to ", o.ToString(),
          " (same batch, a height and width dividing the output's",
          p.sum ? ", the same channels)" : ")"));
    }
    if (!p.sum) o[1] += s[1];
  }
  return MergeShape(kOp, "output", o, &(*out)[0]);
}

// Calls f(input, input offset, output offset) for every output element.
template <typename F>
void ForEach(const UpParams& p, absl::Span<const TensorView> in, const Shape& o, F f) {
  int64_t c_base = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& s = in[i].shape;
    const int64_t sy = o[2] / s[2], sx = o[3] / s[3];
    for (int64_t n = 0; n < s[0]; ++n) {
      for (int64_t c = 0; c < s[1]; ++c) {
        const int64_t oc = p.sum ? c : c_base + c;
        for (int64_t y = 0; y < o[2]; ++y) {
          for (int64_t x = 0; x < o[3]; ++x) {
            f(i, ((n * s[1] + c) * s[2] + y / sy) * s[3] + x / sx,
              ((n * o[1] + oc) * o[2] + y) * o[3] + x);
          }
        }
      }
    }
    c_base += s[1];
  }
}

absl::Status Forward(const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<UpParams>(params);
  if (p.bilinear) return absl::InvalidArgumentError("UpSampling: bilinear is not supported");
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  return DispatchFloat(kOp, out[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> acc(out[0].size(), T(0));
    ForEach(p, in, out[0].shape, [&](size_t i, int64_t src, int64_t dst) {
      acc[dst] += in[i].as<T>()[src];
    });
    for (size_t k = 0; k < acc.size(); ++k) Store(reqs[0], out[0].as<T>(), k, acc[k]);
    return absl::OkStatus();
  });
}

absl::Status Backward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<UpParams>(params);
  if (p.bilinear) return absl::InvalidArgumentError("UpSampling: bilinear is not supported");
  return DispatchFloat(kOp, a.out_grads[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<std::vector<T>> acc(a.in_grads.size());
    for (size_t i = 0; i < acc.size(); ++i) acc[i].assign(a.in_grads[i].size(), T(0));
    const T* dy = a.out_grads[0].as<T>();
    ForEach(p, a.in_grads, a.out_grads[0].shape, [&](size_t i, int64_t src, int64_t dst) {
      acc[i][src] += dy[dst];
    });
    for (size_t i = 0; i < acc.size(); ++i) {
      if (a.reqs[i] == OpReq::kNull) continue;
      for (size_t k = 0; k < acc[i].size(); ++k) {
        Store(a.reqs[i], a.in_grads[i].as<T>(), k, acc[i][k]);
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace

OpDef MakeUpSamplingOp() {
  OpDef d = NewOp(kOp, "Nearest-neighbour upsampling of 4-D inputs by `scale`.");
  d.params = {Spec("scale", "int", "", "Up sampling scale."),
              Spec("num_filter", "int", "0", "Input filter (bilinear only; ignored)."),
              Spec("sample_type", "{'nearest', 'bilinear'}", "", "Upsampling method."),
              Spec("multi_input_mode", "{'concat', 'sum'}", "'concat'",
                   "How several inputs combine."),
              Spec("num_args", "int", "", "Number of inputs."),
              Spec("workspace", "long", "512", "Ignored (MXNet's temporary workspace).")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<UpParams>();
    ParamReader r(kOp, attrs);
    std::string type, mode;
    MXGRID_RETURN_IF_ERROR(r.Int("scale", &p->scale));
    MXGRID_RETURN_IF_ERROR(r.Int("num_filter", &p->num_filter, 0));
    MXGRID_RETURN_IF_ERROR(r.Enum("sample_type", &type, {"nearest", "bilinear"}));
    MXGRID_RETURN_IF_ERROR(r.Enum("multi_input_mode", &mode, {"concat", "sum"}, "concat"));
    MXGRID_RETURN_IF_ERROR(r.Int("num_args", &p->num_args));
    MXGRID_RETURN_IF_ERROR(r.Int("workspace", &p->workspace, 512));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    p->bilinear = type == "bilinear";
    if (p->scale < 1) return r.Error("scale must be at least 1");
    if (p->num_args < 1 || p->num_args > kMaxArity) {
      return r.Error(absl::StrCat("num_args must be in [1, ", kMaxArity, "]"));
    }
    p->sum = mode == "sum";
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams& p) {
    if (ParamsAs<UpParams>(p).bilinear) return std::vector<std::string>{"data", "weight"};
    std::vector<std::string> names;
    for (int64_t i = 0; i < ParamsAs<UpParams>(p).num_args; ++i) {
      names.push_back("arg" + std::to_string(i));
    }
    return names;
  };
  d.infer_shape = Infer;
  d.forward = Forward;
  d.backward = Backward;
  return d;
}

}  // namespace mxgrid::ops::nn
