// ElementWiseSum [add_n] (num_args inputs arg0.., one output; every MXNet dtype, integer
// sums wrapping) and _grad_add (lhs + rhs, used by the executor to accumulate gradients).
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::CheckArity;
using tensor_internal::DispatchNumeric;
using tensor_internal::ElemwiseShapes;
using tensor_internal::VariadicInputNames;
using ops::Store;

struct NumArgsParams : OpParams {
  int64_t num_args = 1;
};

OpDef ElementWiseSum() {
  OpDef d;
  d.name = "add_n";  // MXNet's canonical name; JSON files say "add_n"
  d.aliases = {"ElementWiseSum"};
  d.description = "Adds all input arguments element-wise.";
  d.params = {{"num_args", "int", "", true, "Number of inputs to be summed."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<NumArgsParams>();
    ParamReader r("ElementWiseSum", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("num_args", &p->num_args));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    MXGRID_RETURN_IF_ERROR(CheckArity(r, "num_args", p->num_args));
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams& p) {
    return VariadicInputNames(ParamsAs<NumArgsParams>(p).num_args);
  };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) {
    return ElemwiseShapes("ElementWiseSum", in, out);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    return DispatchNumeric("ElementWiseSum", out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* y = out[0].as<T>();
      for (int64_t i = 0, n = out[0].size(); i < n; ++i) {
        T sum = 0;  // Read every input before writing: output may alias input 0.
        for (const TensorView& v : in) sum = tensor_internal::Add(sum, v.as<T>()[i]);
        Store(reqs[0], y, i, sum);
      }
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams&, const BackwardArgs& a) {
    return DispatchNumeric("ElementWiseSum", a.out_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* dy = a.out_grads[0].as<T>();
      const int64_t n = a.out_grads[0].size();
      for (size_t k = 0; k < a.in_grads.size(); ++k) {
        if (a.reqs[k] == OpReq::kNull) continue;
        T* dx = a.in_grads[k].as<T>();
        if (dx == dy) continue;  // in place: already the gradient
        for (int64_t i = 0; i < n; ++i) Store(a.reqs[k], dx, i, dy[i]);
      }
      return absl::OkStatus();
    });
  };
  d.inplace = {{0, 0}};
  return d;
}

}  // namespace

absl::Status RegisterAggregateOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(ElementWiseSum()));
  return registry->Register(tensor_internal::BinaryOp(
      "_grad_add", {}, [](auto a, auto b) { return a + b; },
      [](auto, auto, auto g) { return g; }, [](auto, auto, auto g) { return g; },
      tensor_internal::kNoDeps));
}

}  // namespace mxgrid::ops
