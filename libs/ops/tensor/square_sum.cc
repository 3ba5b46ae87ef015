// _square_sum(data, axis, keepdims): the sum of squares along one axis, as MXNet 1.9.1's
// (src/operator/tensor/square_sum.cc), which the factorization machine example uses on
// row_sparse weights. Here it runs on dense arrays (sparse inputs reach it through the
// worker's storage fallback). Gradient: 2 * data * the head gradient broadcast back.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/reduce_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchReal;
using tensor_internal::NormalizeAxis;
using tensor_internal::SquareSumParams;
using tensor_internal::Unify;

// (outer, n, inner) of `shape` around `axis`.
void Split(const Shape& shape, int axis, int64_t* outer, int64_t* n, int64_t* inner) {
  *outer = shape.ProdRange(0, axis);
  *n = shape[axis];
  *inner = shape.ProdRange(axis + 1, shape.ndim());
}

OpDef SquareSum() {
  OpDef d;
  d.name = "_square_sum";
  d.description = "The sum of squares of data along axis.";
  d.params = {{"axis", "int", "0", false, "The axis to reduce."},
              {"keepdims", "boolean", "0", false, "Keep the reduced axis as size 1."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SquareSumParams>();
    ParamReader r("_square_sum", attrs);
    std::vector<int64_t> axes;
    MXGRID_RETURN_IF_ERROR(r.Tuple("axis", &axes));
    if (axes.size() > 1) return r.Error("_square_sum reduces one axis");
    if (!axes.empty()) p->axis = axes[0];
    MXGRID_RETURN_IF_ERROR(r.Bool("keepdims", &p->keepdims, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!(*in)[0]) return absl::OkStatus();
    const auto& p = ParamsAs<SquareSumParams>(params);
    const Shape& s = *(*in)[0];
    MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("_square_sum", p.axis, s.ndim()));
    std::vector<int64_t> dims;
    for (int i = 0; i < s.ndim(); ++i) {
      if (i != axis) dims.push_back(s[i]);
      else if (p.keepdims) dims.push_back(1);
    }
    return Unify("_square_sum", "output 0", Shape(dims), &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<SquareSumParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("_square_sum", p.axis, in[0].shape.ndim()));
    int64_t outer, n, inner;
    Split(in[0].shape, axis, &outer, &n, &inner);
    return DispatchReal("_square_sum", in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      T* y = out[0].as<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < inner; ++j) {
          double acc = 0;
          for (int64_t k = 0; k < n; ++k) {
            const double v = x[(o * n + k) * inner + j];
            acc += v * v;
          }
          Store(reqs[0], y, o * inner + j, static_cast<T>(acc));
        }
      }
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& params, const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<SquareSumParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int axis,
                            NormalizeAxis("_square_sum", p.axis, a.inputs[0].shape.ndim()));
    int64_t outer, n, inner;
    Split(a.inputs[0].shape, axis, &outer, &n, &inner);
    return DispatchReal("_square_sum", a.inputs[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = a.inputs[0].as<T>();
      const T* g = a.out_grads[0].as<T>();
      T* dx = a.in_grads[0].as<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t k = 0; k < n; ++k) {
          for (int64_t j = 0; j < inner; ++j) {
            const int64_t i = (o * n + k) * inner + j;
            Store(a.reqs[0], dx, i, static_cast<T>(2 * x[i] * g[o * inner + j]));
          }
        }
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = tensor_internal::kInputDeps;
  return d;
}

}  // namespace

absl::Status RegisterSquareSumOp(Registry* registry) { return registry->Register(SquareSum()); }

}  // namespace mxgrid::ops
