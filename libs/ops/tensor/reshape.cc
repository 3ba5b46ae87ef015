#include "libs/ops/tensor/reshape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/status_macros.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::tensor_internal {
namespace {

absl::Status Bad(const ReshapeParams& p, const Shape& in, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("Reshape: cannot reshape ", in.ToString(),
                                                 " with shape=(", absl::StrJoin(p.shape, ", "),
                                                 "): ", why));
}

}  // namespace

absl::Status ParseReshape(const AttrMap& attrs, ReshapeParams* p) {
  ParamReader r("Reshape", attrs);
  MXGRID_RETURN_IF_ERROR(r.Tuple("shape", &p->shape));
  MXGRID_RETURN_IF_ERROR(r.Bool("reverse", &p->reverse, false));
  std::vector<int64_t> target;
  bool keep_highest = false;
  MXGRID_RETURN_IF_ERROR(r.Tuple("target_shape", &target));
  MXGRID_RETURN_IF_ERROR(r.Bool("keep_highest", &keep_highest, false));
  MXGRID_RETURN_IF_ERROR(r.Finish());
  if (!target.empty() || keep_highest) {
    return r.Error("the deprecated 'target_shape'/'keep_highest' are not supported; use 'shape'");
  }
  for (int64_t d : p->shape) {
    if (d < -4) {
      return r.Error(absl::StrCat("invalid shape code ", d, " (allowed: >= 0, -1, -2, -3, -4)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Shape> InferReshape(const ReshapeParams& p, const Shape& in) {
  std::vector<int64_t> src(in.dims().begin(), in.dims().end());
  std::vector<int64_t> codes = p.shape;
  if (p.reverse) {
    std::reverse(src.begin(), src.end());
    std::reverse(codes.begin(), codes.end());
  }
  std::vector<int64_t> out;
  size_t si = 0;
  int infer = -1;
  for (size_t i = 0; i < codes.size(); ++i) {
    const int64_t c = codes[i];
    if (c == 0) {
      if (si >= src.size()) return Bad(p, in, "code 0 has no input dim to copy");
      out.push_back(src[si++]);
    } else if (c == -1) {
      if (infer >= 0) return Bad(p, in, "only one dim can be -1");
      infer = static_cast<int>(out.size());
      out.push_back(1);
      ++si;
    } else if (c == -2) {
      while (si < src.size()) out.push_back(src[si++]);
    } else if (c == -3) {
      if (si + 1 >= src.size()) return Bad(p, in, "code -3 needs two input dims");
      out.push_back(src[si] * src[si + 1]);
      si += 2;
    } else if (c == -4) {
      if (i + 2 >= codes.size()) return Bad(p, in, "code -4 needs two values after it");
      if (si >= src.size()) return Bad(p, in, "code -4 has no input dim to split");
      const int64_t d0 = src[si++];
      int64_t d1 = codes[++i], d2 = codes[++i];
      if (p.reverse) std::swap(d1, d2);
      if (d1 == -1 && d2 == -1) return Bad(p, in, "split dims cannot both be -1");
      if (d1 == -1 && d2 > 0) d1 = d0 / d2;
      if (d2 == -1 && d1 > 0) d2 = d0 / d1;
      if (d1 <= 0 || d2 <= 0 || d0 % d1 != 0 || d0 / d1 != d2) {  // d1 * d2 could wrap
        return Bad(p, in, absl::StrCat("split dims do not multiply to ", d0));
      }
      if (p.reverse) std::swap(d1, d2);
      out.push_back(d1);
      out.push_back(d2);
    } else {
      out.push_back(c);
      ++si;
    }
  }
  // Validated before any product is taken: the codes come from the request, and a product
  // that wrapped could pass the size check below.
  absl::StatusOr<Shape> known_dims = Shape::Make(out);
  if (!known_dims.ok()) return Bad(p, in, known_dims.status().message());
  if (infer >= 0) {
    const int64_t known = known_dims->Size();  // the -1 dim is 1 here
    if (known == 0 || in.Size() % known != 0) {
      return Bad(p, in, "the -1 dim cannot be inferred");
    }
    out[infer] = in.Size() / known;
  }
  if (p.reverse) std::reverse(out.begin(), out.end());
  Shape result(out);
  if (result.Size() != in.Size()) {
    return Bad(p, in, absl::StrCat("the sizes differ (", in.Size(), " vs ", result.Size(), ")"));
  }
  return result;
}

}  // namespace mxgrid::ops::tensor_internal
