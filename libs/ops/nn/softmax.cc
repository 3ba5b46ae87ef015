// softmax, log_softmax, softmin (softmax of -x; axis, temperature) and SoftmaxActivation
// (instance | channel).
// Gradients use the output only (MXNet's _backward_softmax / _backward_log_softmax).
//
// The forward of float32 with temperature 1 over the innermost axis runs on oneDNN's
// softmax_v2 primitive (softmax_accurate or softmax_log) once the tensor has at least
// kDnnlElements elements; everything else, and every backward, uses the loops.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_dnnl.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

// The rule: oneDNN where it measured at least as fast as the loops (float32, 2 cores). Its
// forward over the innermost axis wins from ~1K elements (10x at (128, 1000)); below that its
// ~8 us primitive creation costs more than the loops. Over a non-innermost axis (inner > 1)
// its forward is ~5x slower, and its backward is 1-3x slower than the loops at every size
// measured ((8, 64) to (128, 1000)), so those stay on the loops.
constexpr int64_t kDnnlElements = 1024;

// The data as (outer, n, inner) with the softmax taken over n.
struct Layout {
  int64_t outer = 1, n = 1, inner = 1;
};

absl::StatusOr<Layout> GetLayout(const char* op, const SoftmaxParams& p, const Shape& s) {
  if (s.ndim() == 0) return absl::InvalidArgumentError(absl::StrCat(op, ": data is a scalar"));
  if (p.activation) {
    if (!p.channel) return Layout{s[0], s.ProdRange(1, s.ndim()), 1};
    if (s.ndim() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": channel mode needs at least 2 dims, got ", s.ToString()));
    }
    return Layout{s[0], s[1], s.ProdRange(2, s.ndim())};
  }
  int64_t axis = p.axis < 0 ? p.axis + s.ndim() : p.axis;
  if (axis < 0 || axis >= s.ndim()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": axis ", p.axis, " is out of range for shape ", s.ToString()));
  }
  return Layout{s.ProdRange(0, axis), s[axis], s.ProdRange(axis + 1, s.ndim())};
}

template <typename T>
void ForwardT(const SoftmaxParams& p, const Layout& l, const T* x, OpReq req, T* y) {
  const T t = static_cast<T>(p.temperature);
  const T sign = p.negate ? T(-1) : T(1);
  std::vector<T> row(l.n);
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      T mx = sign * x[base];
      for (int64_t k = 0; k < l.n; ++k) mx = std::max(mx, sign * x[base + k * l.inner]);
      T sum = 0;
      for (int64_t k = 0; k < l.n; ++k) {
        row[k] = (sign * x[base + k * l.inner] - mx) / t;
        sum += std::exp(row[k]);
      }
      const T log_sum = std::log(sum);
      for (int64_t k = 0; k < l.n; ++k) {
        Store(req, y, base + k * l.inner, p.log ? row[k] - log_sum : std::exp(row[k]) / sum);
      }
    }
  }
}

template <typename T>
void BackwardT(const SoftmaxParams& p, const Layout& l, const T* y, const T* g, OpReq req, T* gx) {
  const T t = static_cast<T>(p.negate ? -p.temperature : p.temperature);
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      T dot = 0;
      for (int64_t k = 0; k < l.n; ++k) {
        const int64_t j = base + k * l.inner;
        dot += p.log ? g[j] : g[j] * y[j];
      }
      for (int64_t k = 0; k < l.n; ++k) {
        const int64_t j = base + k * l.inner;
        const T v = p.log ? g[j] - std::exp(y[j]) * dot : y[j] * (g[j] - dot);
        Store(req, gx, j, v / t);
      }
    }
  }
}

// Whether a forward on `dtype` data of `size` elements goes to oneDNN.
bool UseDnnlForward(const SoftmaxParams& p, const Layout& l, DType dtype, int64_t size) {
  return dtype == DType::kFloat32 && !p.negate && p.temperature == 1.0 && l.inner == 1 &&
         size >= kDnnlElements;
}

absl::StatusOr<std::shared_ptr<const OpParams>> ParseSoftmax(const char* op, bool log,
                                                             const AttrMap& attrs,
                                                             bool negate = false) {
  auto p = std::make_shared<SoftmaxParams>();
  p->log = log;
  p->negate = negate;
  AttrMap a = attrs;  // Optional parameters given as "None" are absent.
  for (const char* key : {"temperature", "dtype", "use_length"}) {
    auto it = a.find(key);
    if (it != a.end() && it->second == "None") a.erase(it);
  }
  ParamReader r(op, a);
  MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, -1));
  MXGRID_RETURN_IF_ERROR(r.Float("temperature", &p->temperature, 1.0));
  std::optional<DType> dtype;
  MXGRID_RETURN_IF_ERROR(r.DTypeName("dtype", &dtype));
  bool use_length = false;
  MXGRID_RETURN_IF_ERROR(r.Bool("use_length", &use_length, false));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (dtype) return r.Error("an output dtype is not supported yet; leave dtype as None");
  if (use_length) return r.Error("use_length=True is not supported yet");
  if (p->temperature == 0) return r.Error("temperature must be non-zero");
  return std::shared_ptr<const OpParams>(std::move(p));
}

OpDef MakeSoftmaxLike(const char* op, std::string description) {
  OpDef d = NewUnaryOp(op, std::move(description));
  d.forward = [op](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                   absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    const auto& p = ParamsAs<SoftmaxParams>(params);
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Layout l, GetLayout(op, p, in[0].shape));
    const int64_t size = in[0].size();
    if (UseDnnlForward(p, l, in[0].dtype, size)) {
      const float* x = in[0].as<float>();
      const DnnlSoftmaxShape shape{l.outer, l.n, l.inner, p.log};
      return ComputeWithReq(reqs[0], out[0].as<float>(), size,
                            [&](float* y) { return DnnlSoftmaxForward(shape, x, y); });
    }
    return DispatchFloat(op, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      ForwardT<T>(p, l, in[0].as<T>(), reqs[0], out[0].as<T>());
      return absl::OkStatus();
    });
  };
  d.backward = [op](const OpContext&, const OpParams& params, const BackwardArgs& a) {
    const auto& p = ParamsAs<SoftmaxParams>(params);
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Layout l, GetLayout(op, p, a.outputs[0].shape));
    return DispatchFloat(op, a.outputs[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      BackwardT<T>(p, l, a.outputs[0].as<T>(), a.out_grads[0].as<T>(), a.reqs[0],
                   a.in_grads[0].as<T>());
      return absl::OkStatus();
    });
  };
  d.backward_deps.outputs = true;
  return d;
}

std::vector<ParamSpec> SoftmaxSpecs() {
  return {Spec("axis", "int", "-1", "The axis along which to compute softmax."),
          Spec("temperature", "double or None", "None", "Temperature parameter."),
          Spec("dtype", "{None, 'float16', 'float32', 'float64'}", "None",
               "Output dtype (only None is supported)."),
          Spec("use_length", "boolean or None", "0", "Whether to use a length input (no).")};
}

}  // namespace

OpDef MakeSoftmaxOp() {
  OpDef d = MakeSoftmaxLike("softmax", "Applies the softmax function along an axis.");
  d.params = SoftmaxSpecs();
  d.parse = [](const AttrMap& attrs) { return ParseSoftmax("softmax", false, attrs); };
  d.inplace = {{0, 0}};
  return d;
}

OpDef MakeLogSoftmaxOp() {
  OpDef d = MakeSoftmaxLike("log_softmax", "Computes the log softmax along an axis.");
  d.params = SoftmaxSpecs();
  d.parse = [](const AttrMap& attrs) { return ParseSoftmax("log_softmax", true, attrs); };
  d.inplace = {{0, 0}};
  return d;
}

OpDef MakeSoftminOp() {
  OpDef d = MakeSoftmaxLike("softmin", "Applies the softmin (the softmax of -x) along an axis.");
  d.params = SoftmaxSpecs();
  d.parse = [](const AttrMap& attrs) { return ParseSoftmax("softmin", false, attrs, true); };
  d.inplace = {{0, 0}};
  return d;
}

OpDef MakeSoftmaxActivationOp() {
  OpDef d = MakeSoftmaxLike("SoftmaxActivation",
                            "Softmax over each instance (flattened) or over the channel axis.");
  d.params = {Spec("mode", "{'channel', 'instance'}", "'instance'",
                   "instance: softmax over d[1:]; channel: over axis 1.")};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SoftmaxParams>();
    p->activation = true;
    ParamReader r("SoftmaxActivation", attrs);
    std::string mode;
    MXGRID_RETURN_IF_ERROR(r.Enum("mode", &mode, {"instance", "channel"}, "instance"));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    p->channel = mode == "channel";
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  return d;
}

}  // namespace mxgrid::ops::nn
