#include "libs/ops/tensor/slice_util.h"

#include <algorithm>
#include <limits>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/base/status_macros.h"

namespace mxgrid::ops::tensor_internal {
namespace {

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

}  // namespace

absl::Status ReadSliceParams(const char* op, const AttrMap& attrs, SliceParams* p,
                             AttrMap* rest) {
  ParamReader r(op, attrs);
  MXGRID_RETURN_IF_ERROR(ReadOptTuple(r, attrs, "begin", true, &p->begin));
  MXGRID_RETURN_IF_ERROR(ReadOptTuple(r, attrs, "end", true, &p->end));
  MXGRID_RETURN_IF_ERROR(ReadOptTuple(r, attrs, "step", false, &p->step));
  rest->clear();
  for (const auto& [k, v] : attrs) {
    if (k != "begin" && k != "end" && k != "step") (*rest)[k] = v;
  }
  if (p->begin.size() != p->end.size()) {
    return r.Error("begin and end must have the same length");
  }
  if (!p->step.empty() && p->step.size() != p->begin.size()) {
    return r.Error("step and begin must have the same length");
  }
  for (const auto& s : p->step) {
    if (s && *s == 0) return r.Error("step cannot be 0");
    // ComputeSliceRanges divides by -step.
    if (s && *s == std::numeric_limits<int64_t>::min()) return r.Error("step is out of range");
  }
  return absl::OkStatus();
}

absl::StatusOr<SliceRanges> ComputeSliceRanges(const char* op, const SliceParams& p,
                                               const Shape& s) {
  const int nd = s.ndim();
  if (nd == 0) return absl::InvalidArgumentError(absl::StrCat(op, ": cannot slice a scalar"));
  if (static_cast<int>(p.begin.size()) > nd) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": begin has ", p.begin.size(),
                                                   " entries for ", s.ToString()));
  }
  SliceRanges r;
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

}  // namespace mxgrid::ops::tensor_internal
