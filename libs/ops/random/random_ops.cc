#include "libs/ops/random/random_ops.h"

#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_util.h"

namespace mxgrid::ops {

absl::Status RegisterRandomOps(Registry* registry) {
  std::vector<OpDef> ops = random::MakeScalarSamplerOps();
  for (OpDef& d : random::MakeArraySamplerOps()) ops.push_back(std::move(d));
  ops.push_back(random::MakeRandintOp());
  ops.push_back(random::MakeMultinomialOp());
  ops.push_back(random::MakeShuffleOp());
  for (OpDef& d : ops) MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
