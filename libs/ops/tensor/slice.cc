// slice [crop]: the strided sub-array data[b0:e0:s0, b1:e1:s1, ...] with Python semantics
// (negative indices count from the end, None takes the default for the step's direction,
// out-of-range bounds clip), exactly as MXNet 1.9.1's GetIndexRange and
// SetSliceOpOutputDimSize compute it: axes past len(begin) are kept whole, an empty range
// gives a 0-length dim. Forward and backward take every numeric dtype; the backward writes
// the head gradient at the sliced positions and zero elsewhere.
#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::DispatchNumeric;
using tensor_internal::Strides;
using tensor_internal::Unify;
using OptTuple = std::vector<std::optional<int64_t>>;

constexpr char kOp[] = "slice";

struct SliceParams : OpParams {
  OptTuple begin, end, step;
};

// Parses "(0, None, -1)", "[None]", "(2,)" or a bare "3": ints or None.
bool ParseOptTuple(absl::string_view text, OptTuple* out) {
  text = absl::StripAsciiWhitespace(text);
  if (!text.empty() && (text.front() == '(' || text.front() == '[')) {
    const char close = text.front() == '(' ? ')' : ']';
    if (text.size() < 2 || text.back() != close) return false;
    text = text.substr(1, text.size() - 2);
  }
  out->clear();
  if (absl::StripAsciiWhitespace(text).empty()) return true;
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  if (absl::StripAsciiWhitespace(parts.back()).empty()) parts.pop_back();  // "(2,)"
  for (absl::string_view part : parts) {
    part = absl::StripAsciiWhitespace(part);
    if (part == "None") {
      out->push_back(std::nullopt);
      continue;
    }
    int64_t v;
    if (!ParseInt(part, &v)) return false;
    out->push_back(v);
  }
  return true;
}

absl::Status ReadOptTuple(const ParamReader& r, const AttrMap& attrs, const char* key,
                          bool required, OptTuple* out) {
  auto it = attrs.find(key);
  if (it == attrs.end()) {
    if (required) return r.Error(absl::StrCat("parameter '", key, "' is required"));
    return absl::OkStatus();
  }
  if (!ParseOptTuple(it->second, out)) {
    return r.Error(absl::StrCat("parameter '", key, "' = '", it->second,
                                "' is not a tuple of integers or None"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const OpParams>> ParseSlice(const AttrMap& attrs) {
  auto p = std::make_shared<SliceParams>();
  ParamReader r(kOp, attrs);
  MXGRID_RETURN_IF_ERROR(ReadOptTuple(r, attrs, "begin", true, &p->begin));
  MXGRID_RETURN_IF_ERROR(ReadOptTuple(r, attrs, "end", true, &p->end));
  MXGRID_RETURN_IF_ERROR(ReadOptTuple(r, attrs, "step", false, &p->step));
  // Marks the three keys as read so that Finish only reports unknown ones.
  AttrMap rest;
  for (const auto& [k, v] : attrs) {
    if (k != "begin" && k != "end" && k != "step") rest[k] = v;
  }
  MXGRID_RETURN_IF_ERROR(ParamReader(kOp, rest).Finish());
  if (p->begin.size() != p->end.size()) {
    return r.Error("begin and end must have the same length");
  }
  if (!p->step.empty() && p->step.size() != p->begin.size()) {
    return r.Error("step and begin must have the same length");
  }
  for (const auto& s : p->step) {
    if (s && *s == 0) return r.Error("step cannot be 0");
    // SliceRanges divides by -step.
    if (s && *s == std::numeric_limits<int64_t>::min()) return r.Error("step is out of range");
  }
  return std::shared_ptr<const OpParams>(std::move(p));
}

// Per-axis first index, step and output length for data of shape `s`.
struct Ranges {
  std::vector<int64_t> begin, step;
  Shape out;
};

absl::StatusOr<Ranges> SliceRanges(const SliceParams& p, const Shape& s) {
  const int nd = s.ndim();
  if (nd == 0) return absl::InvalidArgumentError("slice: cannot slice a scalar");
  if (static_cast<int>(p.begin.size()) > nd) {
    return absl::InvalidArgumentError(absl::StrCat("slice: begin has ", p.begin.size(),
                                                   " entries for ", s.ToString()));
  }
  Ranges r;
  r.begin.assign(nd, 0);
  r.step.assign(nd, 1);
  r.out = s;
  for (size_t i = 0; i < p.begin.size(); ++i) {
    const int64_t st = !p.step.empty() && p.step[i] ? *p.step[i] : 1;
    const int64_t len = s[i];
    int64_t b = 0, e = 0;
    if (len > 0) {
      b = p.begin[i] ? *p.begin[i] : (st < 0 ? len - 1 : 0);
      e = p.end[i] ? *p.end[i] : (st < 0 ? -1 : len);
      if (b < 0) b += len;
      if (e < 0 && p.end[i]) e += len;
      if (b < 0 && st > 0) b = 0;
      if (b > len - 1 && st < 0) b = len - 1;
      if (b < 0 || b > len - 1) b = -1;
      e = std::min(std::max(e, int64_t{-1}), len);
    }
    int64_t n = 0;
    if (e != b && b >= 0) {
      if (st > 0) {
        n = e > b ? (e - b - 1) / st + 1 : 0;
      } else {
        n = e < b ? (b - e - 1) / (-st) + 1 : 0;
      }
    }
    r.begin[i] = std::max(b, int64_t{0});
    r.step[i] = st;
    r.out[i] = n;
  }
  return r;
}

// Calls visit(k, offset) for each output element k (C order) with the offset of the input
// element it reads.
template <typename Visit>
void ForEachSliced(const Ranges& r, const Shape& in, Visit visit) {
  const int nd = in.ndim();
  const std::vector<int64_t> st = Strides(in);
  std::vector<int64_t> stride(nd);
  int64_t cur = 0;
  for (int i = 0; i < nd; ++i) {
    stride[i] = st[i] * r.step[i];
    cur += st[i] * r.begin[i];
  }
  std::vector<int64_t> coord(nd, 0);
  for (int64_t k = 0, n = r.out.Size(); k < n; ++k) {
    visit(k, cur);
    for (int i = nd - 1; i >= 0; --i) {  // odometer increment
      cur += stride[i];
      if (++coord[i] < r.out[i]) break;
      cur -= stride[i] * r.out[i];
      coord[i] = 0;
    }
  }
}

}  // namespace

absl::Status RegisterSliceOp(Registry* registry) {
  OpDef d;
  d.name = kOp;
  d.aliases = {"crop"};
  d.description = "data[begin:end:step] per axis (Python slicing; None takes the default).";
  d.params = {
      {"begin", "Shape(tuple)", "", true, "Starting indices (int or None per axis)."},
      {"end", "Shape(tuple)", "", true, "Ending indices, exclusive (int or None per axis)."},
      {"step", "Shape(tuple)", "[]", false, "Step per axis (int or None; default 1)."}};
  d.parse = ParseSlice;
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& p, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Ranges r, SliceRanges(ParamsAs<SliceParams>(p), *(*in)[0]));
    return Unify(kOp, "output 0", r.out, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& p, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(Ranges r, SliceRanges(ParamsAs<SliceParams>(p), in[0].shape));
    return DispatchNumeric(kOp, in[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = in[0].as<T>();
      T* y = out[0].as<T>();
      ForEachSliced(r, in[0].shape, [&](int64_t k, int64_t off) { Store(reqs[0], y, k, x[off]); });
      return absl::OkStatus();
    });
  };
  d.backward = [](const OpContext&, const OpParams& p, const BackwardArgs& a) -> absl::Status {
    const OpReq req = a.reqs[0];
    if (req == OpReq::kNull) return absl::OkStatus();
    const TensorView& dx = a.in_grads[0];
    MXGRID_ASSIGN_OR_RETURN(Ranges r, SliceRanges(ParamsAs<SliceParams>(p), dx.shape));
    return DispatchNumeric(kOp, dx.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* dy = a.out_grads[0].as<T>();
      T* g = dx.as<T>();
      if (req != OpReq::kAddTo) std::fill(g, g + dx.size(), T(0));
      ForEachSliced(r, dx.shape, [&](int64_t k, int64_t off) { g[off] += dy[k]; });
      return absl::OkStatus();
    });
  };
  return registry->Register(std::move(d));
}

}  // namespace mxgrid::ops
