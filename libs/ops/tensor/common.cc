#include "libs/ops/tensor/common.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace mxgrid::ops::tensor_internal {

absl::StatusOr<std::shared_ptr<const OpParams>> ParseNoParams(const std::string& op,
                                                              const AttrMap& attrs) {
  ParamReader r(op, attrs);
  absl::Status s = r.Finish();
  if (!s.ok()) return s;
  return std::shared_ptr<const OpParams>(std::make_shared<NoParams>());
}

absl::Status Unify(absl::string_view op, absl::string_view what, const InferShape& src,
                   InferShape* dst) {
  if (!src) return absl::OkStatus();
  if (!*dst) {
    *dst = src;
    return absl::OkStatus();
  }
  auto conflict = [&] {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " shape ", src->ToString(),
                                                   " conflicts with ", (*dst)->ToString()));
  };
  if (src->ndim() != (*dst)->ndim()) return conflict();
  Shape merged = **dst;
  for (int i = 0; i < merged.ndim(); ++i) {
    const int64_t a = (*src)[i];
    const int64_t b = merged[i];
    if (a >= 0 && b >= 0 && a != b) return conflict();
    if (b < 0) merged[i] = a;
  }
  *dst = std::move(merged);
  return absl::OkStatus();
}

absl::Status ElemwiseShapes(absl::string_view op, std::vector<InferShape>* in,
                            std::vector<InferShape>* out) {
  InferShape common;
  for (size_t i = 0; i < in->size(); ++i) {
    absl::Status s = Unify(op, absl::StrCat("input ", i), (*in)[i], &common);
    if (!s.ok()) return s;
  }
  for (size_t i = 0; i < out->size(); ++i) {
    absl::Status s = Unify(op, absl::StrCat("output ", i), (*out)[i], &common);
    if (!s.ok()) return s;
  }
  for (auto& s : *in) s = common;
  for (auto& s : *out) s = common;
  return absl::OkStatus();
}

absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int ndim, bool extra) {
  const int64_t hi = extra ? ndim + 1 : ndim;
  if (axis < -hi || axis >= hi) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis,
                                                   " is out of range for ", ndim,
                                                   "-d input (allowed [", -hi, ", ", hi, "))"));
  }
  return static_cast<int>(axis < 0 ? axis + hi : axis);
}

std::vector<int64_t> Strides(const Shape& s) {
  std::vector<int64_t> st(s.ndim(), 1);
  for (int i = s.ndim() - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

// Offsets into an input of shape `in` for each element of `out` (broadcast dims stride 0).
std::vector<int64_t> BroadcastIndex(const Shape& in, const Shape& out) {
  const int nd = out.ndim(), off = nd - in.ndim();
  std::vector<int64_t> stride(nd, 0);
  int64_t s = 1;
  for (int i = nd - 1; i >= off; --i) {
    stride[i] = in[i - off] == 1 ? 0 : s;
    s *= in[i - off];
  }
  std::vector<int64_t> idx(out.Size());
  std::vector<int64_t> coord(nd, 0);
  int64_t cur = 0;
  for (int64_t k = 0; k < static_cast<int64_t>(idx.size()); ++k) {
    idx[k] = cur;
    for (int i = nd - 1; i >= 0; --i) {  // odometer increment
      cur += stride[i];
      if (++coord[i] < out[i]) break;
      cur -= stride[i] * out[i];
      coord[i] = 0;
    }
  }
  return idx;
}

SlotMap::SlotMap(const Shape& kept, const Shape& in)
    : size_(static_cast<size_t>(in.Size())), slots_(kept.Size()) {
  // Leading: reduced (kept 1) axes, then only kept (equal) ones; trailing: the reverse.
  // Axes of size 1 fit either.
  bool leading = true, trailing = true, seen_kept = false, seen_reduced = false;
  for (int d = 0; d < in.ndim(); ++d) {
    const bool equal = kept[d] == in[d], one = kept[d] == 1;
    if (seen_kept && !equal) leading = false;
    if (seen_reduced && !one) trailing = false;
    if (!one) seen_kept = true;
    if (!equal) seen_reduced = true;
  }
  if (slots_ <= 1) {
    mode_ = Mode::kAll;
  } else if (trailing) {
    mode_ = Mode::kTrailing;
    block_ = slots_ == 0 ? 1 : std::max<int64_t>(1, in.Size() / slots_);
  } else if (leading) {
    mode_ = Mode::kLeading;
  } else {
    table_ = BroadcastIndex(kept, in);
  }
}

absl::Status CheckArity(const ParamReader& r, absl::string_view key, int64_t n) {
  if (n >= 1 && n <= kMaxArity) return absl::OkStatus();
  return r.Error(absl::StrCat("parameter '", key, "' must be in [1, ", kMaxArity, "]"));
}

std::vector<std::string> VariadicInputNames(int64_t n) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

absl::Status CopyWithReq(const char* op, const TensorView& src, OpReq req,
                         const TensorView& dst) {
  if (req == OpReq::kNull) return absl::OkStatus();
  if (req != OpReq::kAddTo) {
    if (src.data != dst.data && src.size() > 0) {
      std::memcpy(dst.data, src.data, src.size() * DTypeSize(src.dtype));
    }
    return absl::OkStatus();
  }
  return DispatchNumeric(op, src.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* s = src.as<T>();
    T* d = dst.as<T>();
    for (int64_t i = 0; i < src.size(); ++i) d[i] += s[i];
    return absl::OkStatus();
  });
}

}  // namespace mxgrid::ops::tensor_internal
