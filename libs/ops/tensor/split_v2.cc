// _split_v2 (indices, axis, squeeze_axis, sections), as MXNet 1.9.1
// (src/operator/tensor/matrix_op.cc), behind mx.nd.split_v2 / mx.sym.split_v2: with
// sections = k > 0 the axis is cut into k parts, the first (len % k) one longer; otherwise
// output i is [indices[i], indices[i + 1]) and the last runs to the end of the axis
// (the Python wrappers pass indices with a leading 0). squeeze_axis drops the axis when
// every part has length 1. The gradient scatters the parts back (zero where no part reads).
// Every numeric dtype.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/shape_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> SplitV2Parts(const SplitV2Params& p,
                                                                      int64_t len) {
  std::vector<std::pair<int64_t, int64_t>> parts;
  if (p.sections > 0) {
    int64_t start = 0;
    for (int64_t i = 0; i < p.sections; ++i) {
      const int64_t size = len / p.sections + (i < len % p.sections ? 1 : 0);
      parts.emplace_back(start, start + size);
      start += size;
    }
    return parts;
  }
  for (size_t i = 0; i < p.indices.size(); ++i) {
    const int64_t start = p.indices[i];
    const int64_t end = i + 1 < p.indices.size() ? p.indices[i + 1] : len;
    if (len > 0 && (start < 0 || start > end || end > len)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "_split_v2: part ", i, " is [", start, ", ", end, ") of an axis of length ", len,
          "; indices must be sorted and within the axis"));
    }
    parts.emplace_back(len > 0 ? start : 0, len > 0 ? end : 0);
  }
  return parts;
}

}  // namespace tensor_internal

namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::kNoDeps;
using tensor_internal::NormalizeAxis;
using tensor_internal::SplitV2Params;
using tensor_internal::SplitV2Parts;
using tensor_internal::Unify;

constexpr char kOp[] = "_split_v2";

absl::StatusOr<std::vector<Shape>> OutShapes(const SplitV2Params& p, const Shape& s) {
  MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis(kOp, p.axis, s.ndim()));
  MXGRID_ASSIGN_OR_RETURN(auto parts, SplitV2Parts(p, s[ax]));
  std::vector<Shape> shapes;
  for (const auto& [b, e] : parts) {
    std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
    if (p.squeeze_axis) {
      if (e - b != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            kOp, ": squeeze_axis needs parts of length 1, got ", e - b));
      }
      dims.erase(dims.begin() + ax);
    } else {
      dims[ax] = e - b;
    }
    shapes.push_back(Shape(dims));
  }
  return shapes;
}

// Copies part [b, e) of the axis between `whole` (outer, len, inner) and `part`
// (outer, e - b, inner): into the part when `to_part`, else back into the whole.
template <typename T>
void CopyPart(T* whole, T* part, int64_t outer, int64_t len, int64_t inner, int64_t b,
              int64_t e, bool to_part, OpReq req) {
  const int64_t n = (e - b) * inner;
  for (int64_t o = 0; o < outer; ++o) {
    T* w = whole + (o * len + b) * inner;
    T* q = part + o * n;
    for (int64_t k = 0; k < n; ++k) {
      if (to_part) {
        Store(req, q, k, w[k]);
      } else {
        Store(req, w, k, q[k]);
      }
    }
  }
}

OpDef SplitV2() {
  OpDef d;
  d.name = kOp;
  d.description = "Splits the data along `axis` at `indices`, or into `sections` parts.";
  d.params = {{"indices", "Shape(tuple)", "", true, "Start of each part along the axis."},
              {"axis", "int", "1", false, "Axis along which to split."},
              {"squeeze_axis", "boolean", "0", false, "Remove the split axis (length 1)."},
              {"sections", "int", "0", false, "Number of parts; 0: split at indices."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SplitV2Params>();
    ParamReader r(kOp, attrs);
    MXGRID_RETURN_IF_ERROR(r.Tuple("indices", &p->indices, /*required=*/true));
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, 1));
    MXGRID_RETURN_IF_ERROR(r.Bool("squeeze_axis", &p->squeeze_axis, false));
    MXGRID_RETURN_IF_ERROR(r.Int("sections", &p->sections, 0));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->sections < 0) return r.Error("sections must not be negative");
    MXGRID_RETURN_IF_ERROR(tensor_internal::CheckArity(r, "sections or indices",
                                                       p->num_outputs()));
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.variable_outputs = true;
  d.output_names = [](const OpParams& p) {
    std::vector<std::string> names;
    for (int64_t i = 0; i < ParamsAs<SplitV2Params>(p).num_outputs(); ++i) {
      names.push_back("output" + std::to_string(i));
    }
    return names;
  };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(auto shapes,
                            OutShapes(ParamsAs<SplitV2Params>(params), *(*in)[0]));
    for (size_t i = 0; i < shapes.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(Unify(kOp, absl::StrCat("output ", i), shapes[i], &(*out)[i]));
    }
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<SplitV2Params>(params);
    const Shape& s = in[0].shape;
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis(kOp, p.axis, s.ndim()));
    MXGRID_ASSIGN_OR_RETURN(auto parts, SplitV2Parts(p, s[ax]));
    const int64_t outer = s.ProdRange(0, ax), inner = s.ProdRange(ax + 1, s.ndim());
    return DispatchNumeric(kOp, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (size_t i = 0; i < parts.size(); ++i) {
        if (reqs[i] == OpReq::kNull) continue;
        CopyPart<T>(in[0].as<T>(), out[i].as<T>(), outer, s[ax], inner, parts[i].first,
                    parts[i].second, true, reqs[i]);
      }
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<SplitV2Params>(params);
    const TensorView& g = a.in_grads[0];
    const Shape& s = g.shape;
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis(kOp, p.axis, s.ndim()));
    MXGRID_ASSIGN_OR_RETURN(auto parts, SplitV2Parts(p, s[ax]));
    const int64_t outer = s.ProdRange(0, ax), inner = s.ProdRange(ax + 1, s.ndim());
    OpReq req = a.reqs[0];
    if (req != OpReq::kAddTo) {  // parts need not cover the axis: zero it first, then add
      if (g.size() > 0) std::memset(g.data, 0, g.size() * DTypeSize(g.dtype));
      req = OpReq::kAddTo;
    }
    return DispatchNumeric(kOp, g.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (size_t i = 0; i < parts.size(); ++i) {
        CopyPart<T>(g.as<T>(), a.out_grads[i].as<T>(), outer, s[ax], inner, parts[i].first,
                    parts[i].second, false, req);
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = kNoDeps;
  return d;
}

}  // namespace

absl::Status RegisterSplitV2Op(Registry* registry) { return registry->Register(SplitV2()); }

}  // namespace mxgrid::ops
