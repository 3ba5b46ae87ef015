// fill_element_0index (lhs, mhs, rhs), MXNet 1.9.1's legacy NDArray function
// (src/ndarray/ndarray_function.cc), the inverse of choose_element_0index: lhs (n, m)
// copied, then out[i, rhs[i]] = mhs[i] for each row i. Indices of any numeric dtype are
// truncated toward zero; one outside [0, m) is InvalidArgument. As in MXNet it has no
// gradient (its inputs get zero).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::ParseNoParams;
using tensor_internal::Unify;

constexpr char kOp[] = "fill_element_0index";

OpDef FillElement0Index() {
  OpDef d;
  d.name = kOp;
  d.description = "lhs with lhs[i, rhs[i]] replaced by mhs[i] for every row i.";
  d.parse = [](const AttrMap& attrs) { return ParseNoParams(kOp, attrs); };
  d.input_names = [](const OpParams&) {
    return std::vector<std::string>{"lhs", "mhs", "rhs"};
  };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    MXGRID_RETURN_IF_ERROR(Unify(kOp, "output 0", (*in)[0], &(*out)[0]));
    MXGRID_RETURN_IF_ERROR(Unify(kOp, "input 0", (*out)[0], &(*in)[0]));
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    const Shape& s = *(*in)[0];
    if (s.ndim() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOp, ": lhs must be 2-D, got ", s.ToString()));
    }
    MXGRID_RETURN_IF_ERROR(Unify(kOp, "mhs", Shape{s[0]}, &(*in)[1]));
    return Unify(kOp, "rhs", Shape{s[0]}, &(*in)[2]);
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const int64_t n = in[0].shape[0], m = in[0].shape[1];
    std::vector<int64_t> col(n);
    std::vector<double> val(n);
    for (int64_t i = 0; i < n; ++i) {
      MXGRID_RETURN_IF_ERROR(DispatchNumeric(kOp, in[2].dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        col[i] = static_cast<int64_t>(std::trunc(static_cast<double>(in[2].as<T>()[i])));
        return absl::OkStatus();
      }));
      if (col[i] < 0 || col[i] >= m) {
        return absl::InvalidArgumentError(absl::StrCat(kOp, ": index ", col[i], " of row ", i,
                                                       " is outside [0, ", m, ")"));
      }
    }
    return DispatchNumeric(kOp, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if (in[1].dtype != in[0].dtype) {
        return absl::InvalidArgumentError(absl::StrCat(kOp, ": mhs must have lhs's dtype"));
      }
      const T* x = in[0].as<T>();
      const T* v = in[1].as<T>();
      T* y = out[0].as<T>();
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < m; ++j) {
          Store(reqs[0], y, i * m + j, j == col[i] ? v[i] : x[i * m + j]);
        }
      }
      return absl::OkStatus();
    });
  };
  // The indices may have their own dtype; lhs, mhs and the output share one.
  d.infer_type = [](const OpParams&, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    for (InferType* t : {&(*in)[1], &(*out)[0]}) {
      if (!(*in)[0]) (*in)[0] = *t;
    }
    if (!(*in)[0]) return absl::OkStatus();
    for (InferType* t : {&(*in)[1], &(*out)[0]}) {
      if (*t && **t != *(*in)[0]) {
        return absl::InvalidArgumentError(absl::StrCat(
            kOp, ": dtype ", DTypeName(**t), " conflicts with lhs's ", DTypeName(*(*in)[0])));
      }
      *t = (*in)[0];
    }
    if (!(*in)[2]) (*in)[2] = (*in)[0];
    return absl::OkStatus();
  };
  return d;  // No gradient, as MXNet's.
}

}  // namespace

absl::Status RegisterFillElementOp(Registry* registry) {
  return registry->Register(FillElement0Index());
}

}  // namespace mxgrid::ops
