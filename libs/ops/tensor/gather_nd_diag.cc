// gather_nd, scatter_nd, _scatter_set_nd, diag (k, axis1, axis2) and slice_like (axes), as MXNet 1.9.1
// defines them, built on GatherOp. gather_nd's indices wrap negatives (-d..d-1) and reject
// anything beyond (OutOfRange); scatter_nd writes zeros where no index points and, for
// duplicate indices, keeps the last (MXNet leaves duplicates unspecified). slice_like's
// shape_like input and the index inputs get a zero gradient.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/gather_op.h"
#include "libs/ops/tensor/shape_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::GatherOp;
using tensor_internal::IndexAt;
using tensor_internal::Names;
using tensor_internal::NormalizeAxis;
using tensor_internal::Source;
using tensor_internal::Strides;
using tensor_internal::DiagGeometry;
using tensor_internal::DiagParams;
using tensor_internal::SliceLikeParams;

// Checks indices (M, Y...) against data dims: M in [1, min(ndim, 10)].
absl::Status CheckIndexShape(const char* op, const Shape& idx, const Shape& data) {
  if (idx.ndim() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": indices must have at least 2 "
                                                   "dimensions, got ", idx.ToString()));
  }
  if (idx[0] > data.ndim() || idx[0] > 10 || idx[0] < 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": indices ", idx.ToString(),
                                                   " index more axes than ", data.ToString(),
                                                   " has (or more than 10)"));
  }
  return absl::OkStatus();
}

// Flat offsets into `data` (C order) of the index columns of `idx` (M, Y...), times the
// trailing block size; negatives wrap, others out of range fail.
absl::StatusOr<std::vector<int64_t>> NdOffsets(const char* op, const TensorView& idx,
                                               const Shape& data) {
  const int64_t m = idx.shape[0], n = idx.size() / std::max<int64_t>(m, 1);
  const std::vector<int64_t> st = Strides(data);
  std::vector<int64_t> off(n, 0);
  for (int64_t j = 0; j < m; ++j) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = IndexAt(idx, j * n + i);
      if (v < -data[j] || v >= data[j]) {
        return absl::OutOfRangeError(absl::StrCat(op, ": index ", v,
                                                  " is out of bounds for axis ", j,
                                                  " with size ", data[j]));
      }
      if (v < 0) v += data[j];
      off[i] += v * st[j];
    }
  }
  return off;
}

struct ScatterParams : OpParams {
  std::vector<int64_t> shape;
};

OpDef GatherNd() {
  return GatherOp(
      "gather_nd", {}, Names({"data", "indices"}), 1, tensor_internal::NoParamsParser("gather_nd"),
      [](const OpParams&, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        if (!(*in)[0] || !(*in)[1]) return InferShape();
        const Shape &d = *(*in)[0], &idx = *(*in)[1];
        MXGRID_RETURN_IF_ERROR(CheckIndexShape("gather_nd", idx, d));
        std::vector<int64_t> dims(idx.dims().begin() + 1, idx.dims().end());
        dims.insert(dims.end(), d.dims().begin() + idx[0], d.dims().end());
        return InferShape(Shape(dims));
      },
      [](const OpParams&, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> off,
                                NdOffsets("gather_nd", in[1], in[0].shape));
        const int64_t block = in[0].shape.ProdRange(in[1].shape[0], in[0].shape.ndim());
        std::vector<Source> map(out.Size());
        for (size_t i = 0; i < off.size(); ++i) {
          for (int64_t r = 0; r < block; ++r) map[i * block + r] = {0, off[i] + r};
        }
        return map;
      });
}

OpDef ScatterNd() {
  OpDef d = GatherOp(
      "scatter_nd", {}, Names({"data", "indices"}), 1,
      [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
        auto p = std::make_shared<ScatterParams>();
        ParamReader r("scatter_nd", attrs);
        MXGRID_RETURN_IF_ERROR(r.Tuple("shape", &p->shape, /*required=*/true));
        MXGRID_RETURN_IF_ERROR(r.Finish());
        MXGRID_RETURN_IF_ERROR(Shape::Make(p->shape).status());
        return std::shared_ptr<const OpParams>(std::move(p));
      },
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const Shape out(ParamsAs<ScatterParams>(op).shape);
        if ((*in)[1]) {
          const Shape& idx = *(*in)[1];
          MXGRID_RETURN_IF_ERROR(CheckIndexShape("scatter_nd", idx, out));
          std::vector<int64_t> dims(idx.dims().begin() + 1, idx.dims().end());
          dims.insert(dims.end(), out.dims().begin() + idx[0], out.dims().end());
          MXGRID_RETURN_IF_ERROR(tensor_internal::Unify("scatter_nd", "data", Shape(dims),
                                                        &(*in)[0]));
        }
        return InferShape(out);
      },
      [](const OpParams&, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> off, NdOffsets("scatter_nd", in[1], out));
        const int64_t block = out.ProdRange(in[1].shape[0], out.ndim());
        std::vector<Source> map(out.Size(), Source{-1, 0});
        for (size_t i = 0; i < off.size(); ++i) {
          for (int64_t r = 0; r < block; ++r) {
            map[off[i] + r] = {0, static_cast<int64_t>(i) * block + r};
          }
        }
        return map;
      });
  d.params = {{"shape", "Shape(tuple)", "", true, "Shape of the output."}};
  return d;
}

// _scatter_set_nd(lhs, rhs, indices; shape): lhs with the elements (or trailing blocks) the
// index columns name set to rhs's, as scatter_nd places them; meant for out=lhs
// (NDArray.__setitem__ with advanced indices). No gradient, as in MXNet.
OpDef ScatterSetNd() {
  constexpr char kOp[] = "_scatter_set_nd";
  OpDef d;
  d.name = kOp;
  d.description = "lhs with the positions `indices` names set from rhs (scatter_nd without "
                  "zeroing the rest); meant for out=lhs.";
  d.params = {{"shape", "Shape(tuple)", "", true, "Shape of lhs and of the output."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ScatterParams>();
    ParamReader r("_scatter_set_nd", attrs);
    MXGRID_RETURN_IF_ERROR(r.Tuple("shape", &p->shape, /*required=*/true));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    MXGRID_RETURN_IF_ERROR(Shape::Make(p->shape).status());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = Names({"lhs", "rhs", "indices"});
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& op, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    const Shape shape(ParamsAs<ScatterParams>(op).shape);
    MXGRID_RETURN_IF_ERROR(tensor_internal::Unify("_scatter_set_nd", "lhs", shape, &(*in)[0]));
    if ((*in)[2]) {
      const Shape& idx = *(*in)[2];
      MXGRID_RETURN_IF_ERROR(CheckIndexShape("_scatter_set_nd", idx, shape));
      std::vector<int64_t> dims(idx.dims().begin() + 1, idx.dims().end());
      dims.insert(dims.end(), shape.dims().begin() + idx[0], shape.dims().end());
      MXGRID_RETURN_IF_ERROR(
          tensor_internal::Unify("_scatter_set_nd", "rhs", Shape(dims), &(*in)[1]));
    }
    return tensor_internal::Unify("_scatter_set_nd", "output 0", shape, &(*out)[0]);
  };
  d.infer_type = [](const OpParams&, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    InferType t = (*out)[0] ? (*out)[0] : (*in)[0] ? (*in)[0] : (*in)[1];
    for (int i = 0; i < 2; ++i) {
      if ((*in)[i] && t && *(*in)[i] != *t) {
        return absl::InvalidArgumentError(absl::StrCat(
            "_scatter_set_nd: input ", i, " has dtype ", DTypeName(*(*in)[i]), ", expected ",
            DTypeName(*t)));
      }
      (*in)[i] = t;
    }
    (*out)[0] = t;
    if (!(*in)[2]) (*in)[2] = DType::kInt32;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    if (reqs[0] == OpReq::kAddTo) {
      return absl::InvalidArgumentError(
          "_scatter_set_nd: the output cannot be accumulated into; write it instead");
    }
    MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> off,
                            NdOffsets("_scatter_set_nd", in[2], out[0].shape));
    const int64_t block = out[0].shape.ProdRange(in[2].shape[0], out[0].shape.ndim());
    if (out[0].data != in[0].data && out[0].size() > 0) {
      std::memmove(out[0].data, in[0].data, out[0].size() * DTypeSize(out[0].dtype));
    }
    return tensor_internal::DispatchNumeric("_scatter_set_nd", out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* v = in[1].as<T>();
      T* y = out[0].as<T>();
      for (size_t i = 0; i < off.size(); ++i) {
        std::copy(v + i * block, v + (i + 1) * block, y + off[i]);
      }
      return absl::OkStatus();
    });
  };
  d.inplace = {{0, 0}};
  return d;
}

OpDef Diag() {
  auto axes = [](const DiagParams& p, int nd) -> absl::StatusOr<std::pair<int, int>> {
    MXGRID_ASSIGN_OR_RETURN(int a, NormalizeAxis("diag", p.axis1, nd));
    MXGRID_ASSIGN_OR_RETURN(int b, NormalizeAxis("diag", p.axis2, nd));
    if (a == b) {
      return absl::InvalidArgumentError("diag: axis1 and axis2 cannot refer to the same axis");
    }
    return std::make_pair(a, b);
  };
  OpDef d = GatherOp(
      "diag", {}, Names({"data"}), 0,
      [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
        auto p = std::make_shared<DiagParams>();
        ParamReader r("diag", attrs);
        MXGRID_RETURN_IF_ERROR(r.Int("k", &p->k, 0));
        MXGRID_RETURN_IF_ERROR(r.Int("axis1", &p->axis1, 0));
        MXGRID_RETURN_IF_ERROR(r.Int("axis2", &p->axis2, 1));
        MXGRID_RETURN_IF_ERROR(r.Finish());
        return std::shared_ptr<const OpParams>(std::move(p));
      },
      [axes](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& p = ParamsAs<DiagParams>(op);
        if (!(*in)[0]) return InferShape();
        const Shape& s = *(*in)[0];
        if (s.ndim() == 0) return absl::InvalidArgumentError("diag: input must be 1-D or more");
        if (s.ndim() == 1) {
          const int64_t n = s[0] < 0 ? -1 : s[0] + (p.k < 0 ? -p.k : p.k);
          return InferShape(Shape{n, n});
        }
        MXGRID_ASSIGN_OR_RETURN(auto ab, axes(p, s.ndim()));
        std::vector<int64_t> dims;
        for (int i = 0; i < s.ndim(); ++i) {
          if (i != ab.first && i != ab.second) dims.push_back(s[i]);
        }
        int64_t len = -1, r0, c0;
        if (s[ab.first] >= 0 && s[ab.second] >= 0) {
          DiagGeometry(s[ab.first], s[ab.second], p.k, &len, &r0, &c0);
        }
        dims.push_back(len);
        return InferShape(Shape(dims));
      },
      [axes](const OpParams& op, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const auto& p = ParamsAs<DiagParams>(op);
        const Shape& s = in[0].shape;
        if (s.ndim() == 1) {
          // A matrix with `data` on diagonal k, zeros elsewhere.
          std::vector<Source> map(out.Size(), Source{-1, 0});
          int64_t len, r0, c0;
          DiagGeometry(out[0], out[1], p.k, &len, &r0, &c0);
          for (int64_t i = 0; i < len; ++i) map[(r0 + i) * out[1] + c0 + i] = {0, i};
          return map;
        }
        MXGRID_ASSIGN_OR_RETURN(auto ab, axes(p, s.ndim()));
        const std::vector<int64_t> st = Strides(s);
        int64_t len, r0, c0;
        DiagGeometry(s[ab.first], s[ab.second], p.k, &len, &r0, &c0);
        std::vector<Source> map;
        map.reserve(out.Size());
        // Output coordinate: the other axes in order, then the diagonal position.
        std::vector<int> rest;
        for (int i = 0; i < s.ndim(); ++i) {
          if (i != ab.first && i != ab.second) rest.push_back(i);
        }
        std::vector<int64_t> c(rest.size(), 0);
        const int64_t outer = out.Size() / std::max<int64_t>(len, 1);
        for (int64_t o = 0; o < outer && len > 0; ++o) {
          int64_t base = 0;
          for (size_t j = 0; j < rest.size(); ++j) base += c[j] * st[rest[j]];
          for (int64_t i = 0; i < len; ++i) {
            map.push_back({0, base + (r0 + i) * st[ab.first] + (c0 + i) * st[ab.second]});
          }
          for (int j = static_cast<int>(rest.size()) - 1; j >= 0; --j) {
            if (++c[j] < s[rest[j]]) break;
            c[j] = 0;
          }
        }
        return map;
      });
  d.params = {{"k", "int", "0", false, "Diagonal offset (above the main one when > 0)."},
              {"axis1", "int", "0", false, "First axis of the 2-D planes."},
              {"axis2", "int", "1", false, "Second axis of the 2-D planes."}};
  return d;
}

// slice_like's output shape from data's and shape_like's.
absl::StatusOr<Shape> SliceLikeShape(const SliceLikeParams& p, const Shape& d, const Shape& l) {
  Shape o = d;
  auto take = [&](int ax) -> absl::Status {
    if (ax >= l.ndim()) {
      return absl::InvalidArgumentError(absl::StrCat("slice_like: axis ", ax,
                                                     " is out of range for shape_like ",
                                                     l.ToString()));
    }
    if (l[ax] >= 0 && d[ax] >= 0 && l[ax] > d[ax]) {
      return absl::InvalidArgumentError(absl::StrCat("slice_like: shape_like ", l.ToString(),
                                                     " exceeds data ", d.ToString(),
                                                     " on axis ", ax));
    }
    o[ax] = l[ax];
    return absl::OkStatus();
  };
  if (p.axes.empty()) {
    if (l.ndim() != d.ndim()) {
      return absl::InvalidArgumentError(absl::StrCat("slice_like: shape_like ", l.ToString(),
                                                     " and data ", d.ToString(),
                                                     " must have the same ndim"));
    }
    for (int i = 0; i < d.ndim(); ++i) MXGRID_RETURN_IF_ERROR(take(i));
  }
  for (int64_t a : p.axes) {
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("slice_like", a, d.ndim()));
    MXGRID_RETURN_IF_ERROR(take(ax));
  }
  return o;
}

OpDef SliceLike() {
  OpDef d = GatherOp(
      "slice_like", {}, Names({"data", "shape_like"}), 1,
      [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
        auto p = std::make_shared<SliceLikeParams>();
        ParamReader r("slice_like", attrs);
        MXGRID_RETURN_IF_ERROR(r.Tuple("axes", &p->axes));
        MXGRID_RETURN_IF_ERROR(r.Finish());
        return std::shared_ptr<const OpParams>(std::move(p));
      },
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        if (!(*in)[0] || !(*in)[1]) return InferShape();
        MXGRID_ASSIGN_OR_RETURN(Shape o, SliceLikeShape(ParamsAs<SliceLikeParams>(op),
                                                        *(*in)[0], *(*in)[1]));
        return InferShape(o);
      },
      [](const OpParams&, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        // Output coordinate c reads data at c.
        const std::vector<int64_t> st = Strides(in[0].shape);
        std::vector<Source> map(out.Size());
        std::vector<int64_t> c(out.ndim(), 0);
        for (int64_t k = 0; k < out.Size(); ++k) {
          int64_t off = 0;
          for (int i = 0; i < out.ndim(); ++i) off += c[i] * st[i];
          map[k] = {0, off};
          for (int i = out.ndim() - 1; i >= 0; --i) {
            if (++c[i] < out[i]) break;
            c[i] = 0;
          }
        }
        return map;
      });
  d.params = {{"axes", "Shape(tuple)", "()", false, "Axes to slice (all when empty)."}};
  return d;
}

}  // namespace

absl::Status RegisterGatherNdOps(Registry* registry) {
  for (OpDef d : {GatherNd(), ScatterNd(), ScatterSetNd(), Diag(), SliceLike()}) {
    MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
