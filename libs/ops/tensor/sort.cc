// Ordering ops as MXNet 1.9.1 defines them: topk (axis, k, ret_typ value/indices/mask/both,
// is_ascend, dtype), sort (axis, is_ascend) and argsort (axis, is_ascend, dtype). axis None
// sorts the flattened array. Ties keep index order (a stable sort; MXNet leaves them
// unspecified). sort and topk's value output carry MXNet's hidden int32 indices output.
// Gradients (every dtype the forward takes, integers included as in MXNet): values scatter
// back to their sources, found from the forward's hidden indices output (MXNet's backward
// reads it too); indices and masks get a zero gradient.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/sort_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

absl::StatusOr<SortGeometry> SortGeom(const char* op, const SortParams& p, const Shape& s) {
  SortGeometry g;
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

}  // namespace tensor_internal

namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::NormalizeAxis;
using tensor_internal::Unify;

using Kind = tensor_internal::SortKind;
using Ret = tensor_internal::SortRet;
using tensor_internal::SortParams;
using Geometry = tensor_internal::SortGeometry;

// Outputs: [values, indices] for value/both/sort, [indices] for indices/argsort, [mask].
int NumOutputs(const SortParams& p) {
  return p.ret == Ret::kValue || p.ret == Ret::kBoth ? 2 : 1;
}
int NumVisible(const SortParams& p) { return p.ret == Ret::kBoth ? 2 : 1; }

// A float's bits as an unsigned key with the same order (-0 as +0, so that zeros tie and go
// by index like other equal values).
inline uint32_t OrderedKey(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if (f == 0.f) u = 0;
  return (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
}

// Sorts `row` by `less`, only its first k when k < n: partial_sort is a heap sort, for all
// of a row (sort) introsort is faster.
template <typename It, typename Less>
void SortFirst(It begin, It end, int64_t k, Less less) {
  if (k < end - begin) {
    std::partial_sort(begin, begin + k, end, less);
  } else {
    std::sort(begin, end, less);
  }
}

// Sorts n entries of (key << 32 | index), indices ascending, by key, keeping index order
// among equal keys: an LSD radix sort over the key's four bytes (a byte every entry shares
// costs no pass), faster than comparison sorts for the thousand-element rows of a typical
// sort. `buf`: n entries of scratch.
void RadixSortByKey(uint64_t* a, uint64_t* buf, int64_t n) {
  uint32_t counts[4][256] = {};
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t key = static_cast<uint32_t>(a[i] >> 32);
    for (int b = 0; b < 4; ++b) ++counts[b][(key >> (8 * b)) & 255];
  }
  uint64_t* from = a;
  uint64_t* to = buf;
  for (int b = 0; b < 4; ++b) {
    uint32_t* c = counts[b];
    if (c[(from[0] >> (32 + 8 * b)) & 255] == static_cast<uint32_t>(n)) continue;
    uint32_t sum = 0;
    for (int v = 0; v < 256; ++v) {
      const uint32_t count = c[v];
      c[v] = sum;
      sum += count;
    }
    for (int64_t i = 0; i < n; ++i) to[c[(from[i] >> (32 + 8 * b)) & 255]++] = from[i];
    std::swap(from, to);
  }
  if (from != a) std::copy_n(from, n, a);
}

// For each row, the source positions (along the axis) of its first k sorted elements, laid
// out as the outputs (outer, k, inner). Ties go by index, so the order is a stable sort's.
// float32 rows sort as 64-bit integers (value key, then index), whole rows by radix; other
// types as (value, index) pairs.
template <typename T>
std::vector<int64_t> Order(const SortParams& p, const Geometry& g, const T* x) {
  std::vector<int64_t> sel(g.outer * g.inner * g.k);
  auto visit_rows = [&](auto&& sort_row) {
    for (int64_t o = 0; o < g.outer; ++o) {
      for (int64_t i = 0; i < g.inner; ++i) {
        const int64_t base = o * g.n * g.inner + i;
        sort_row(x + base, sel.data() + o * g.k * g.inner + i);
      }
    }
  };
  if constexpr (std::is_same_v<T, float>) {
    if (g.n <= (int64_t{1} << 32)) {
      constexpr int64_t kRadixMin = 64;  // below it introsort is as fast
      std::vector<uint64_t> row(g.n), buf(g.n >= kRadixMin ? g.n : 0);
      const uint32_t flip = p.is_ascend ? 0 : 0xffffffffu;
      visit_rows([&](const float* src, int64_t* out) {
        for (int64_t j = 0; j < g.n; ++j) {
          row[j] = uint64_t{OrderedKey(src[j * g.inner]) ^ flip} << 32 | uint64_t(j);
        }
        if (g.k == g.n && g.n >= kRadixMin) {
          RadixSortByKey(row.data(), buf.data(), g.n);
        } else {
          SortFirst(row.begin(), row.end(), g.k, std::less<uint64_t>());
        }
        for (int64_t j = 0; j < g.k; ++j) out[j * g.inner] = int64_t(row[j] & 0xffffffffu);
      });
      return sel;
    }
  }
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
  visit_rows([&](const T* src, int64_t* out) {
    for (int64_t j = 0; j < g.n; ++j) row[j] = {src[j * g.inner], j};
    if (p.is_ascend) {
      SortFirst(row.begin(), row.end(), g.k, ascending);
    } else {
      SortFirst(row.begin(), row.end(), g.k, descending);
    }
    for (int64_t j = 0; j < g.k; ++j) out[j * g.inner] = row[j].second;
  });
  return sel;
}

// Calls fn(e, source) for each selection entry e (row-major over outer, k, inner) with the
// flat input offset it selects.
template <typename Fn>
void ForEachSelected(const Geometry& g, const std::vector<int64_t>& sel, Fn&& fn) {
  int64_t e = 0;
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t j = 0; j < g.k; ++j) {
      for (int64_t i = 0; i < g.inner; ++i, ++e) fn(e, (o * g.n + sel[e]) * g.inner + i);
    }
  }
}

// Writes the selection `sel` as indices of t's dtype (one dispatch, then a loop).
absl::Status WriteIndices(const TensorView& t, OpReq req, const std::vector<int64_t>& sel) {
  return DispatchNumeric("topk", t.dtype, [&](auto tag) {
    using I = typename decltype(tag)::type;
    I* dst = t.as<I>();
    for (size_t e = 0; e < sel.size(); ++e) {
      Store(req, dst, e, FromDouble<I>(static_cast<double>(sel[e])));
    }
    return absl::OkStatus();
  });
}

// Whether the forward's indices output `t` holds every index of an axis of n exactly.
// Integer indices always; float ones only in the hidden output (ret value): visible float16
// indices reach the kernel as float32 copies already rounded (half_in_float.h).
bool ExactIndices(const SortParams& p, const TensorView& t, int64_t n) {
  switch (t.dtype) {
    case DType::kInt64: return true;
    case DType::kInt32: return n <= (int64_t{1} << 31);
    case DType::kFloat32: return p.ret == Ret::kValue && n <= (int64_t{1} << 24);
    case DType::kFloat64: return p.ret == Ret::kValue && n <= (int64_t{1} << 53);
    default: return false;
  }
}

// The selection a forward call made, for backward: read back from the forward's indices
// output (the hidden one of ret value and sort, or ret both's) instead of sorting again;
// sorted again from the input when that output cannot hold the indices exactly (ret both
// with uint8 or float indices). InvalidArgument for an index outside the axis (outputs come
// from the caller).
template <typename T>
absl::StatusOr<std::vector<int64_t>> ForwardSelection(const SortParams& p, const Geometry& g,
                                                      const BackwardArgs& a) {
  const int64_t m = g.outer * g.k * g.inner;
  if (a.outputs.size() > 1 && a.outputs[1].data != nullptr && a.outputs[1].size() == m &&
      ExactIndices(p, a.outputs[1], g.n)) {
    std::vector<int64_t> sel(m);
    bool in_range = true;
    MXGRID_RETURN_IF_ERROR(DispatchNumeric(SortName(p.kind), a.outputs[1].dtype, [&](auto tag) {
      using I = typename decltype(tag)::type;
      const I* idx = a.outputs[1].as<I>();
      for (int64_t e = 0; e < m; ++e) {
        if constexpr (std::is_integral_v<I>) {
          const int64_t j = static_cast<int64_t>(idx[e]);
          in_range &= j >= 0 && j < g.n;
          sel[e] = j;
        } else {
          const double j = static_cast<double>(idx[e]);
          in_range &= j >= 0 && j < static_cast<double>(g.n) && j == std::floor(j);
          sel[e] = in_range ? static_cast<int64_t>(j) : 0;
        }
      }
      return absl::OkStatus();
    }));
    if (!in_range) {
      return absl::InvalidArgumentError(absl::StrCat(
          SortName(p.kind), ": the forward's indices output holds values outside [0, ", g.n,
          ") or not whole; pass the outputs of the forward call"));
    }
    return sel;
  }
  if (a.inputs.empty() || a.inputs[0].data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(SortName(p.kind), ": backward needs the forward's data input"));
  }
  return Order(p, g, a.inputs[0].as<T>());
}

OpDef SortOp(Kind kind) {
  OpDef d;
  d.name = SortName(kind);
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
    ParamReader r(SortName(kind), attrs);
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
    const char* name = SortName(p.kind);
    if (!(*in)[0]) return absl::OkStatus();
    const Shape& s = *(*in)[0];
    Shape target = s;
    if (!p.axis && !IsKnown(s)) {
      // The flattened length is unknown: only a positive k fixes the output.
      if (p.ret != Ret::kMask) target = Shape{p.k > 0 ? p.k : -1};
    } else {
      MXGRID_ASSIGN_OR_RETURN(Geometry g, SortGeom(name, p, s));
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
    const char* name = SortName(p.kind);
    MXGRID_ASSIGN_OR_RETURN(Geometry g, SortGeom(name, p, in[0].shape));
    return DispatchNumeric(name, in[0].dtype, [&](auto tag) -> absl::Status {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      const std::vector<int64_t> sel = Order(p, g, x);
      if (p.ret == Ret::kMask) {
        if (reqs[0] == OpReq::kNull) return absl::OkStatus();
        std::vector<T> mask(in[0].size(), T(0));
        ForEachSelected(g, sel, [&](int64_t, int64_t src) { mask[src] = T(1); });
        for (int64_t i = 0; i < in[0].size(); ++i) Store(reqs[0], out[0].as<T>(), i, mask[i]);
        return absl::OkStatus();
      }
      const int idx_out = p.ret == Ret::kIndices ? 0 : 1;
      if (p.ret != Ret::kIndices && reqs[0] != OpReq::kNull) {
        T* y = out[0].as<T>();
        const OpReq req = reqs[0];
        ForEachSelected(g, sel, [&](int64_t e, int64_t src) { Store(req, y, e, x[src]); });
      }
      if (reqs[idx_out] != OpReq::kNull) {
        MXGRID_RETURN_IF_ERROR(WriteIndices(out[idx_out], reqs[idx_out], sel));
      }
      return absl::OkStatus();
    });
  };
  if (kind != Kind::kArgSort) {
    d.backward = [](const OpContext&, const OpParams& op, const BackwardArgs& a) -> absl::Status {
      const auto& p = ParamsAs<SortParams>(op);
      const char* name = SortName(p.kind);
      if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
      MXGRID_ASSIGN_OR_RETURN(Geometry g, SortGeom(name, p, a.in_grads[0].shape));
      return DispatchNumeric(name, a.in_grads[0].dtype, [&](auto tag) -> absl::Status {
        using T = typename decltype(tag)::type;
        T* dx = a.in_grads[0].as<T>();
        const int64_t n = a.in_grads[0].size();
        std::vector<T> acc(n, T(0));
        // Indices and masks have a zero gradient (MXNet's topk backward).
        if (p.ret == Ret::kValue || p.ret == Ret::kBoth) {
          MXGRID_ASSIGN_OR_RETURN(const std::vector<int64_t> sel, ForwardSelection<T>(p, g, a));
          const T* dy = a.out_grads[0].as<T>();
          ForEachSelected(g, sel, [&](int64_t e, int64_t src) {
            acc[src] = tensor_internal::Add(acc[src], dy[e]);
          });
        }
        for (int64_t i = 0; i < n; ++i) Store(a.reqs[0], dx, i, acc[i]);
        return absl::OkStatus();
      });
    };
    d.backward_deps = {true, true};  // the hidden indices; the data for ret both
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
