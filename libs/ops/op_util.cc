#include "libs/ops/op_util.h"

namespace mxgrid::ops {

absl::Status MergeShape(absl::string_view op, absl::string_view what, const Shape& inferred,
                        InferShape* slot) {
  if (!slot->has_value()) {
    *slot = inferred;
    return absl::OkStatus();
  }
  Shape& have = **slot;
  bool ok = have.ndim() == inferred.ndim();
  for (int i = 0; ok && i < have.ndim(); ++i) {
    ok = have[i] < 0 || inferred[i] < 0 || have[i] == inferred[i];
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " shape ", have.ToString(),
                                                   " conflicts with inferred ",
                                                   inferred.ToString()));
  }
  for (int i = 0; i < have.ndim(); ++i) {
    if (have[i] < 0) have[i] = inferred[i];
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
