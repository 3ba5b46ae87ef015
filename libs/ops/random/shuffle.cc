// _shuffle (MXNet src/operator/random/shuffle_op.cc): a random permutation of `data` along
// its first axis (Fisher-Yates on rows), any dtype. No gradient (as in MXNet).
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/random/random_util.h"

namespace mxgrid::ops::random {
namespace {

constexpr char kOp[] = "_shuffle";

struct ShuffleParams : OpParams {};

}  // namespace

OpDef MakeShuffleOp() {
  OpDef d = NewOp(kOp, "Randomly shuffles the elements along the first axis.", {"shuffle"});
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    ParamReader r(kOp, attrs);
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::make_shared<ShuffleParams>());
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.infer_shape = [](const OpParams&, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) {
    MXGRID_RETURN_IF_ERROR(CheckArity(kOp, in->size(), 1, out->size(), 1));
    if ((*in)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "output", *(*in)[0], &(*out)[0]));
    if ((*out)[0]) MXGRID_RETURN_IF_ERROR(MergeShape(kOp, "data", *(*out)[0], &(*in)[0]));
    return absl::OkStatus();
  };
  d.forward = [](const OpContext& ctx, const OpParams&, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    if (ctx.rng == nullptr) return absl::FailedPreconditionError("_shuffle: no rng");
    const TensorView& data = in[0];
    const int64_t rows = data.shape.ndim() == 0 ? 1 : data.shape[0];
    const size_t row_bytes =
        rows == 0 ? 0 : static_cast<size_t>(data.size() / rows) * DTypeSize(data.dtype);
    std::vector<int64_t> perm(rows);
    std::iota(perm.begin(), perm.end(), 0);
    for (int64_t i = rows - 1; i > 0; --i) {
      std::uniform_int_distribution<int64_t> pick(0, i);
      std::swap(perm[i], perm[pick(*ctx.rng)]);
    }
    const char* src = static_cast<const char*>(data.data);
    char* dst = static_cast<char*>(out[0].data);
    for (int64_t i = 0; i < rows; ++i) {
      std::memcpy(dst + i * row_bytes, src + perm[i] * row_bytes, row_bytes);
    }
    return absl::OkStatus();
  };
  return d;
}

}  // namespace mxgrid::ops::random
