// Linear/Logistic/MAERegressionOutput (MXNet src/operator/regression_output-inl.h).
// Forward: out = data (logistic: sigmoid(data)). Backward ignores the head gradient:
// grad = grad_scale / (label.Size() / label.shape[0]) * (out - label), MAE: sign(out - label).
// The label's gradient is zero (as MXNet 1.9.1 reports it).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {
namespace {

enum class Kind { kLinear, kLogistic, kMAE };

absl::Status Infer(const char* op, std::vector<InferShape>* in, std::vector<InferShape>* out) {
  MXGRID_RETURN_IF_ERROR(CheckArity(op, in->size(), 2, out->size(), 1));
  if ((*out)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(op, "data", *(*out)[0], &(*in)[0]));
  if (!IsKnown((*in)[0])) return absl::OkStatus();
  const Shape d = *(*in)[0];
  MXGRID_RETURN_IF_ERROR(MergeShape(op, "output", d, &(*out)[0]));
  InferShape& label = (*in)[1];
  if (!label) {
    label = d.ndim() == 2 && d[1] == 1 ? Shape{d[0]} : d;
    return absl::OkStatus();
  }
  if (!IsKnown(label)) return MergeShape(op, "label", d, &label);
  if (label->ndim() == 0 || d.ndim() == 0 || (*label)[0] != d[0] || label->Size() != d.Size()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": label shape ", label->ToString(),
                                                   " conflicts with inferred ", d.ToString()));
  }
  return absl::OkStatus();
}

template <typename T>
T Sign(T v) {
  return v > T(0) ? T(1) : v < T(0) ? T(-1) : T(0);
}

OpDef MakeRegression(const char* op, Kind kind, std::string description) {
  OpDef d = NewOp(op, std::move(description));
  d.params = {Spec("grad_scale", "float", "1", "Scale the gradient by a float factor.")};
  d.parse = [op](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<RegressionParams>();
    ParamReader r(op, attrs);
    MXGRID_RETURN_IF_ERROR(r.Float("grad_scale", &p->grad_scale, 1.0));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data", "label"}; };
  d.infer_shape = [op](const OpParams&, std::vector<InferShape>* in, std::vector<InferShape>* out) {
    return Infer(op, in, out);
  };
  d.forward = [op, kind](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                         absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    return DispatchFloat(op, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      for (int64_t j = 0; j < in[0].size(); ++j) {
        const T v = kind == Kind::kLogistic ? T(1) / (T(1) + std::exp(-x[j])) : x[j];
        Store(reqs[0], out[0].as<T>(), j, v);
      }
      return absl::OkStatus();
    });
  };
  d.backward = [op, kind](const OpContext&, const OpParams& params, const BackwardArgs& a) {
    const auto& p = ParamsAs<RegressionParams>(params);
    return DispatchFloat(op, a.outputs[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const TensorView& label = a.inputs[1];
      if (a.reqs[0] != OpReq::kNull) {
        const int64_t per_row =
            label.shape.ndim() == 0 || label.shape[0] == 0 ? 1 : label.size() / label.shape[0];
        const T scale = static_cast<T>(p.grad_scale / static_cast<double>(per_row));
        const T* y = a.outputs[0].as<T>();
        const T* l = label.as<T>();
        for (int64_t j = 0; j < a.outputs[0].size(); ++j) {
          const T diff = kind == Kind::kMAE ? Sign(y[j] - l[j]) : y[j] - l[j];
          Store(a.reqs[0], a.in_grads[0].as<T>(), j, scale * diff);
        }
      }
      if (a.reqs[1] != OpReq::kNull && a.reqs[1] != OpReq::kAddTo) {
        for (int64_t j = 0; j < label.size(); ++j) a.in_grads[1].as<T>()[j] = T(0);
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = {true, true};
  d.is_loss = true;
  d.inplace = {{0, 0}};
  return d;
}

}  // namespace

OpDef MakeLinearRegressionOutputOp() {
  return MakeRegression("LinearRegressionOutput", Kind::kLinear,
                        "Identity forward; squared-loss gradient (out - label).");
}

OpDef MakeLogisticRegressionOutputOp() {
  return MakeRegression("LogisticRegressionOutput", Kind::kLogistic,
                        "Sigmoid forward; logistic-loss gradient (out - label).");
}

OpDef MakeMAERegressionOutputOp() {
  return MakeRegression("MAERegressionOutput", Kind::kMAE,
                        "Identity forward; absolute-loss gradient sign(out - label).");
}

}  // namespace mxgrid::ops::nn
