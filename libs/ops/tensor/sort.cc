// Ordering ops as MXNet 1.9.1 defines them: topk (axis, k, ret_typ value/indices/mask/both,
// is_ascend, dtype), sort (axis, is_ascend) and argsort (axis, is_ascend, dtype). axis None
// sorts the flattened array. Ties keep index order (a stable sort; MXNet leaves them
// unspecified). sort and topk's value output carry MXNet's hidden int32 indices output.
// Gradients (every dtype the forward takes, integers included as in MXNet): values scatter
// back to their sources; indices and masks get a zero gradient.
#include <algorithm>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::NormalizeAxis;
using tensor_internal::Unify;

enum class Kind { kTopK, kSort, kArgSort };
enum class Ret { kValue, kIndices, kMask, kBoth };

struct SortParams : OpParams {
  Kind kind = Kind::kTopK;
  std::optional<int64_t> axis = -1;
  int64_t k = 1;
  Ret ret = Ret::kIndices;
  bool is_ascend = false;
  DType dtype = DType::kFloat32;
};

// Outputs: [values, indices] for value/both/sort, [indices] for indices/argsort, [mask].
int NumOutputs(const SortParams& p) {
  return p.ret == Ret::kValue || p.ret == Ret::kBoth ? 2 : 1;
}
int NumVisible(const SortParams& p) { return p.ret == Ret::kBoth ? 2 : 1; }

// The sorted geometry of a shape: `outer` x `n` x `inner` with the sort over `n`.
struct Geometry {
  int axis = -1;  // -1: flattened
  int64_t outer = 1, n = 0, inner = 1, k = 0;
};

absl::StatusOr<Geometry> Geom(const char* op, const SortParams& p, const Shape& s) {
  Geometry g;
  if (p.axis) {
    MXGRID_ASSIGN_OR_RETURN(g.axis, NormalizeAxis(op, *p.axis, s.ndim()));
    g.outer = s.ProdRange(0, g.axis);
    g.n = s[g.axis];
    g.inner = s.ProdRange(g.axis + 1, s.ndim());
  } else {
    g.n = s.Size();
  }
  g.k = p.k <= 0 ? g.n : p.k;
  if (g.n >= 0 && g.k > g.n) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": k must be smaller than or equal to ",
                                                   g.n, ", got k = ", g.k));
  }
  return g;
}

const char* Name(Kind k) {
  return k == Kind::kTopK ? "topk" : k == Kind::kSort ? "sort" : "argsort";
}

// For each row, the source flat offsets of its first k sorted elements. Each row is copied
// into contiguous (value, index) pairs; ties go by index, so the order is a stable sort's,
// and topk sorts only its first k (partial_sort).
template <typename T>
std::vector<int64_t> Order(const SortParams& p, const Geometry& g, const T* x) {
  std::vector<int64_t> sel(g.outer * g.inner * g.k);
  std::vector<std::pair<T, int64_t>> row(g.n);
  const auto ascending = [](const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) {
    if (a.first < b.first) return true;
    if (b.first < a.first) return false;
    return a.second < b.second;
  };
  const auto descending = [](const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) {
    if (b.first < a.first) return true;
    if (a.first < b.first) return false;
    return a.second < b.second;
  };
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i) {
      const int64_t base = o * g.n * g.inner + i;
      for (int64_t j = 0; j < g.n; ++j) row[j] = {x[base + j * g.inner], j};
      // partial_sort is a heap sort: for all of a row (sort) introsort is faster.
      const auto kth = row.begin() + g.k;
      if (p.is_ascend && g.k < g.n) {
        std::partial_sort(row.begin(), kth, row.end(), ascending);
      } else if (p.is_ascend) {
        std::sort(row.begin(), row.end(), ascending);
      } else if (g.k < g.n) {
        std::partial_sort(row.begin(), kth, row.end(), descending);
      } else {
        std::sort(row.begin(), row.end(), descending);
      }
      for (int64_t j = 0; j < g.k; ++j) sel[(o * g.k + j) * g.inner + i] = row[j].second;
    }
  }
  return sel;
}

// Flat input offset of selection entry e (row-major over outer, k, inner).
int64_t Source(const Geometry& g, int64_t e, int64_t j) {
  const int64_t i = e % g.inner, o = e / g.inner / g.k;
  return (o * g.n + j) * g.inner + i;
}

absl::Status WriteIndex(const TensorView& t, OpReq req, int64_t e, int64_t v) {
  return DispatchNumeric("topk", t.dtype, [&](auto tag) {
    using I = typename decltype(tag)::type;
    Store(req, t.as<I>(), e, FromDouble<I>(static_cast<double>(v)));
    return absl::OkStatus();
  });
}

OpDef SortOp(Kind kind) {
  OpDef d;
  d.name = Name(kind);
  d.description = std::string(d.name) + " (MXNet-compatible ordering op).";
  if (kind == Kind::kTopK) {
    d.params = {{"axis", "int or None", "-1", false, "Axis to sort along (None: flattened)."},
                {"k", "int", "1", false, "Number of elements to keep (k < 1: all)."},
                {"ret_typ", "{'both', 'indices', 'mask', 'value'}", "'indices'", false,
                 "What to return."},
                {"is_ascend", "boolean", "0", false, "Smallest first when true."},
                {"dtype", "{'float16', 'float32', 'float64', 'int32', 'int64', 'uint8'}",
                 "'float32'", false, "DType of the indices output."}};
  } else {
    d.params = {{"axis", "int or None", "-1", false, "Axis to sort along (None: flattened)."},
                {"is_ascend", "boolean", "1", false, "Smallest first when true."}};
    if (kind == Kind::kArgSort) {
      d.params.push_back({"dtype", "{'float16', 'float32', 'float64', 'int32', 'int64', "
                                   "'uint8'}", "'float32'", false, "DType of the indices."});
    }
  }
  d.parse = [kind](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SortParams>();
    p->kind = kind;
    ParamReader r(Name(kind), attrs);
    if (attrs.count("axis")) MXGRID_RETURN_IF_ERROR(r.OptionalInt("axis", &p->axis));
    MXGRID_RETURN_IF_ERROR(r.Bool("is_ascend", &p->is_ascend, kind != Kind::kTopK));
    p->k = 0;
    p->ret = kind == Kind::kSort ? Ret::kValue : Ret::kIndices;
    if (kind == Kind::kTopK) {
      MXGRID_RETURN_IF_ERROR(r.Int("k", &p->k, 1));
      std::string ret;
      MXGRID_RETURN_IF_ERROR(
          r.Enum("ret_typ", &ret, {"value", "indices", "mask", "both"}, "indices"));
      p->ret = ret == "value" ? Ret::kValue : ret == "mask" ? Ret::kMask
               : ret == "both" ? Ret::kBoth : Ret::kIndices;
    }
    if (kind != Kind::kSort) {
      std::string dt;
      MXGRID_RETURN_IF_ERROR(r.Enum("dtype", &dt,
                                    {"uint8", "int32", "int64", "float16", "float32", "float64"},
                                    "float32"));
      MXGRID_ASSIGN_OR_RETURN(p->dtype, DTypeFromName(dt));
    }
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams& p) {
    if (NumVisible(ParamsAs<SortParams>(p)) == 2) {
      return std::vector<std::string>{"output0", "output1"};
    }
    return std::vector<std::string>{"output"};
  };
  d.num_outputs = [](const OpParams& p) { return NumOutputs(ParamsAs<SortParams>(p)); };
  d.variable_outputs = kind == Kind::kTopK;
  d.infer_shape = [](const OpParams& op, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    const auto& p = ParamsAs<SortParams>(op);
    const char* name = Name(p.kind);
    if (!(*in)[0]) return absl::OkStatus();
    const Shape& s = *(*in)[0];
    Shape target = s;
    if (!p.axis && !IsKnown(s)) {
      // The flattened length is unknown: only a positive k fixes the output.
      if (p.ret != Ret::kMask) target = Shape{p.k > 0 ? p.k : -1};
    } else {
      MXGRID_ASSIGN_OR_RETURN(Geometry g, Geom(name, p, s));
      if (p.ret != Ret::kMask) {
        const int64_t k = g.n < 0 && p.k <= 0 ? -1 : g.k;
        if (p.axis) {
          target[g.axis] = k;
        } else {
          target = Shape{k};
        }
      }
    }
    for (size_t i = 0; i < out->size(); ++i) {
      MXGRID_RETURN_IF_ERROR(Unify(name, absl::StrCat("output ", i), target, &(*out)[i]));
    }
    return absl::OkStatus();
  };
  d.infer_type = [](const OpParams& op, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    const auto& p = ParamsAs<SortParams>(op);
    if (p.ret == Ret::kIndices) {
      (*out)[0] = p.dtype;
      return absl::OkStatus();
    }
    if (!(*in)[0]) (*in)[0] = (*out)[0];
    (*out)[0] = (*in)[0];
    if (out->size() > 1) (*out)[1] = p.ret == Ret::kBoth ? p.dtype : DType::kInt32;
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams& op, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    const auto& p = ParamsAs<SortParams>(op);
    const char* name = Name(p.kind);
    MXGRID_ASSIGN_OR_RETURN(Geometry g, Geom(name, p, in[0].shape));
    return DispatchNumeric(name, in[0].dtype, [&](auto tag) -> absl::Status {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      const std::vector<int64_t> sel = Order(p, g, x);
      const int64_t m = static_cast<int64_t>(sel.size());
      if (p.ret == Ret::kMask) {
        if (reqs[0] == OpReq::kNull) return absl::OkStatus();
        std::vector<T> mask(in[0].size(), T(0));
        for (int64_t e = 0; e < m; ++e) mask[Source(g, e, sel[e])] = T(1);
        for (int64_t i = 0; i < in[0].size(); ++i) Store(reqs[0], out[0].as<T>(), i, mask[i]);
        return absl::OkStatus();
      }
      const int idx_out = p.ret == Ret::kIndices ? 0 : 1;
      for (int64_t e = 0; e < m; ++e) {
        if (p.ret != Ret::kIndices && reqs[0] != OpReq::kNull) {
          Store(reqs[0], out[0].as<T>(), e, x[Source(g, e, sel[e])]);
        }
        if (reqs[idx_out] != OpReq::kNull) {
          MXGRID_RETURN_IF_ERROR(WriteIndex(out[idx_out], reqs[idx_out], e, sel[e]));
        }
      }
      return absl::OkStatus();
    });
  };
  if (kind != Kind::kArgSort) {
    d.backward = [](const OpContext&, const OpParams& op, const BackwardArgs& a) -> absl::Status {
      const auto& p = ParamsAs<SortParams>(op);
      const char* name = Name(p.kind);
      if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
      MXGRID_ASSIGN_OR_RETURN(Geometry g, Geom(name, p, a.in_grads[0].shape));
      return DispatchNumeric(name, a.in_grads[0].dtype, [&](auto tag) -> absl::Status {
        using T = typename decltype(tag)::type;
        T* dx = a.in_grads[0].as<T>();
        const int64_t n = a.in_grads[0].size();
        std::vector<T> acc(n, T(0));
        // Indices and masks have a zero gradient (MXNet's topk backward).
        if (p.ret == Ret::kValue || p.ret == Ret::kBoth) {
          const std::vector<int64_t> sel = Order(p, g, a.inputs[0].as<T>());
          const T* dy = a.out_grads[0].as<T>();
          for (size_t e = 0; e < sel.size(); ++e) {
            T& dst = acc[Source(g, e, sel[e])];
            dst = tensor_internal::Add(dst, dy[e]);
          }
        }
        for (int64_t i = 0; i < n; ++i) Store(a.reqs[0], dx, i, acc[i]);
        return absl::OkStatus();
      });
    };
    d.backward_deps = {true, false};
  }
  return d;
}

}  // namespace

absl::Status RegisterSortOps(Registry* registry) {
  for (Kind k : {Kind::kTopK, Kind::kSort, Kind::kArgSort}) {
    MXGRID_RETURN_IF_ERROR(registry->Register(SortOp(k)));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
