// depth_to_space and space_to_depth (block_size), as MXNet 1.9.1
// (src/operator/tensor/matrix_op.cc) on 4-D NCHW data. With b = block_size and C' = C / b^2,
// depth_to_space maps (N, C, H, W) to (N, C', H*b, W*b) with
//   out[n, c, h*b + i, w*b + j] = in[n, (i*b + j)*C' + c, h, w]
// and space_to_depth is its inverse, (N, C, H, W) to (N, C*b^2, H/b, W/b). Both permute the
// elements, so the gradient is the inverse permutation of the head gradient. Every numeric
// dtype forward; backward float32/float64.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/shape_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::BlockParams;
using tensor_internal::DispatchNumeric;
using tensor_internal::kNoDeps;
using tensor_internal::Unify;

// The output shape for input `s`; InvalidArgument unless s is 4-D and divisible by the block.
absl::StatusOr<Shape> OutShape(const char* op, bool to_space, int64_t b, const Shape& s) {
  if (s.ndim() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": data must be 4-D (N, C, H, W), got ", s.ToString()));
  }
  if (to_space) {
    if (s[1] % (b * b) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": channels ", s[1], " are not a multiple of block_size^2 = ", b * b));
    }
    return Shape{s[0], s[1] / (b * b), s[2] * b, s[3] * b};
  }
  if (s[2] % b != 0 || s[3] % b != 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": height and width of ", s.ToString(),
                                                   " are not multiples of block_size ", b));
  }
  return Shape{s[0], s[1] * b * b, s[2] / b, s[3] / b};
}

// For each element k of the space-side array (N, C', H*b, W*b), the flat index of the
// element of the depth-side array (N, C'*b*b, H, W) it equals.
std::vector<int64_t> SpaceToDepthIndex(const Shape& space, int64_t b) {
  const int64_t n = space[0], c = space[1], hb = space[2], wb = space[3];
  const int64_t h = hb / b, w = wb / b;
  std::vector<int64_t> idx(space.Size());
  int64_t k = 0;
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t ic = 0; ic < c; ++ic) {
      for (int64_t y = 0; y < hb; ++y) {
        for (int64_t x = 0; x < wb; ++x) {
          const int64_t depth_c = ((y % b) * b + x % b) * c + ic;
          idx[k++] = ((in * c * b * b + depth_c) * h + y / b) * w + x / b;
        }
      }
    }
  }
  return idx;
}

// dst[map[k]] = src[k] (scatter) or dst[k] = src[map[k]] (gather), honouring `req`.
absl::Status Permute(const char* op, const TensorView& src, const std::vector<int64_t>& map,
                     bool gather, OpReq req, const TensorView& dst) {
  if (req == OpReq::kNull) return absl::OkStatus();
  return DispatchNumeric(op, src.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* s = src.as<T>();
    T* d = dst.as<T>();
    for (size_t k = 0; k < map.size(); ++k) {
      if (gather) {
        Store(req, d, static_cast<int64_t>(k), s[map[k]]);
      } else {
        Store(req, d, map[k], s[k]);
      }
    }
    return absl::OkStatus();
  });
}

// depth_to_space when `to_space`, else space_to_depth.
OpDef BlockOp(const char* name, bool to_space) {
  OpDef d;
  d.name = name;
  d.description = to_space ? "Moves channel blocks into block_size x block_size spatial tiles."
                           : "Moves block_size x block_size spatial tiles into channels.";
  d.params = {{"block_size", "int", "", true, "Edge of the square blocks that are moved."}};
  d.parse = [name](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<BlockParams>();
    ParamReader r(name, attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("block_size", &p->block_size));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (p->block_size < 1 || p->block_size > (int64_t{1} << 20)) {
      return r.Error(absl::StrCat("block_size must be in [1, 2^20], got ", p->block_size));
    }
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, to_space](const OpParams& params, std::vector<InferShape>* in,
                                   std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(
        Shape o, OutShape(name, to_space, ParamsAs<BlockParams>(params).block_size, *(*in)[0]));
    return Unify(name, "output 0", o, &(*out)[0]);
  };
  // The space-side shape of a call: the output of depth_to_space, the input of the other.
  d.forward = [name, to_space](const OpContext&, const OpParams& params,
                               absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                               absl::Span<const TensorView> out) {
    const int64_t b = ParamsAs<BlockParams>(params).block_size;
    const auto map = SpaceToDepthIndex(to_space ? out[0].shape : in[0].shape, b);
    return Permute(name, in[0], map, /*gather=*/to_space, reqs[0], out[0]);
  };
  d.backward = [name, to_space](const OpContext&, const OpParams& params,
                                const BackwardArgs& a) {
    const int64_t b = ParamsAs<BlockParams>(params).block_size;
    const auto map =
        SpaceToDepthIndex(to_space ? a.out_grads[0].shape : a.in_grads[0].shape, b);
    return Permute(name, a.out_grads[0], map, /*gather=*/!to_space, a.reqs[0], a.in_grads[0]);
  };
  d.backward_deps = kNoDeps;
  return d;
}

}  // namespace

absl::Status RegisterDepthSpaceOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(BlockOp("depth_to_space", true)));
  return registry->Register(BlockOp("space_to_depth", false));
}

}  // namespace mxgrid::ops
