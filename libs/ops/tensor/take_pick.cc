// Index-driven gathers: take (axis, mode clip/wrap/raise), pick [choose_element_0index]
// (axis, keepdims, mode clip/wrap) and batch_take, as MXNet 1.9.1 defines them. Indices
// of any numeric dtype are truncated toward zero; the index inputs get a zero gradient.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/tensor/gather_op.h"
#include "libs/ops/tensor/index_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::GatherOp;
using tensor_internal::IndexAt;
using tensor_internal::Names;
using tensor_internal::NormalizeAxis;
using tensor_internal::ReplaceAxis;
using tensor_internal::Source;
using tensor_internal::Unify;

using Mode = tensor_internal::TakeMode;
using tensor_internal::TakeParams;

// The index `j` into a dimension of `n` under `mode`; OutOfRange for raise.
absl::StatusOr<int64_t> Resolve(const char* op, int64_t j, int64_t n, Mode mode) {
  if (mode == Mode::kWrap) {
    const int64_t r = j % n;
    return r < 0 ? r + n : r;
  }
  if (j < 0 || j >= n) {
    if (mode == Mode::kRaise) {
      return absl::OutOfRangeError(
          absl::StrCat(op, ": index ", j, " is out of bounds for a dimension of ", n));
    }
    return j < 0 ? 0 : n - 1;
  }
  return j;
}

absl::StatusOr<std::shared_ptr<const OpParams>> ParseTake(const char* op, const AttrMap& attrs,
                                                         bool pick) {
  auto p = std::make_shared<TakeParams>();
  ParamReader r(op, attrs);
  std::string mode;
  if (pick) {
    std::optional<int64_t> axis;
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("axis", &axis));
    if (attrs.count("axis") && !axis) {
      return r.Error("axis=None is not supported by pick; specify an axis");
    }
    p->axis = axis.value_or(-1);
    MXGRID_RETURN_IF_ERROR(r.Bool("keepdims", &p->keepdims, false));
    MXGRID_RETURN_IF_ERROR(r.Enum("mode", &mode, {"wrap", "clip"}, "clip"));
  } else {
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, 0));
    MXGRID_RETURN_IF_ERROR(r.Enum("mode", &mode, {"raise", "wrap", "clip"}, "clip"));
  }
  MXGRID_RETURN_IF_ERROR(r.Finish());
  p->mode = mode == "wrap" ? Mode::kWrap : mode == "raise" ? Mode::kRaise : Mode::kClip;
  return std::shared_ptr<const OpParams>(std::move(p));
}

OpDef Take() {
  OpDef d = GatherOp(
      "take", {}, Names({"a", "indices"}), 1,
      [](const AttrMap& attrs) { return ParseTake("take", attrs, false); },
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& p = ParamsAs<TakeParams>(op);
        if (!(*in)[0] || !(*in)[1]) return InferShape();
        const Shape& a = *(*in)[0];
        if (a.ndim() == 0) return absl::InvalidArgumentError("take: a must not be a scalar");
        MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("take", p.axis, a.ndim()));
        return InferShape(ReplaceAxis(a, axis, (*in)[1]->dims()));
      },
      [](const OpParams& op, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const auto& p = ParamsAs<TakeParams>(op);
        const Shape& a = in[0].shape;
        MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("take", p.axis, a.ndim()));
        const int64_t outer = a.ProdRange(0, axis), n = a[axis];
        const int64_t inner = a.ProdRange(axis + 1, a.ndim()), m = in[1].size();
        if (n == 0) {
          // No index is valid; with no output element there is nothing to resolve.
          if (m > 0 && outer * inner > 0) {
            return absl::InvalidArgumentError("take: cannot take from an empty axis");
          }
          return std::vector<Source>();
        }
        std::vector<int64_t> idx(m);
        for (int64_t j = 0; j < m; ++j) {
          MXGRID_ASSIGN_OR_RETURN(idx[j], Resolve("take", IndexAt(in[1], j), n, p.mode));
        }
        std::vector<Source> map;
        map.reserve(out.Size());
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t j = 0; j < m; ++j) {
            for (int64_t i = 0; i < inner; ++i) map.push_back({0, (o * n + idx[j]) * inner + i});
          }
        }
        return map;
      });
  d.params = {{"axis", "int", "0", false, "The axis to take along."},
              {"mode", "{'clip', 'raise', 'wrap'}", "'clip'", false,
               "Out-of-bound indices: clip, wrap around, or raise an error."}};
  return d;
}

OpDef Pick() {
  OpDef d = GatherOp(
      "pick", {"choose_element_0index"}, Names({"data", "index"}), 1,
      [](const AttrMap& attrs) { return ParseTake("pick", attrs, true); },
      [](const OpParams& op, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        const auto& p = ParamsAs<TakeParams>(op);
        if (!(*in)[0]) return InferShape();
        const Shape& s = *(*in)[0];
        MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("pick", p.axis, s.ndim()));
        const Shape kept = ReplaceAxis(s, axis, {1});
        const Shape dropped = ReplaceAxis(s, axis, {});
        if ((*in)[1]) {
          MXGRID_RETURN_IF_ERROR(Unify("pick", "index",
                                       (*in)[1]->ndim() == s.ndim() ? kept : dropped, &(*in)[1]));
        }
        return InferShape(p.keepdims ? kept : dropped);
      },
      [](const OpParams& op, absl::Span<const TensorView> in, const Shape&)
          -> absl::StatusOr<std::vector<Source>> {
        const auto& p = ParamsAs<TakeParams>(op);
        const Shape& s = in[0].shape;
        MXGRID_ASSIGN_OR_RETURN(int axis, NormalizeAxis("pick", p.axis, s.ndim()));
        const int64_t outer = s.ProdRange(0, axis), n = s[axis];
        const int64_t inner = s.ProdRange(axis + 1, s.ndim());
        if (in[1].size() != outer * inner) {
          return absl::InvalidArgumentError(absl::StrCat(
              "pick: index has ", in[1].size(), " elements, expected ", outer * inner));
        }
        if (n == 0 && outer * inner > 0) {
          return absl::InvalidArgumentError("pick: cannot pick from an empty axis");
        }
        std::vector<Source> map(outer * inner);
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            const int64_t k = o * inner + i;
            MXGRID_ASSIGN_OR_RETURN(int64_t j, Resolve("pick", IndexAt(in[1], k), n, p.mode));
            map[k] = {0, (o * n + j) * inner + i};
          }
        }
        return map;
      });
  d.params = {{"axis", "int or None", "-1", false, "The axis to pick along."},
              {"keepdims", "boolean", "0", false, "Keep the reduced axis with length 1."},
              {"mode", "{'clip', 'wrap'}", "'clip'", false, "Out-of-bound indices."}};
  return d;
}

OpDef BatchTake() {
  return GatherOp(
      "batch_take", {}, Names({"a", "indices"}), 1, tensor_internal::NoParamsParser("batch_take"),
      [](const OpParams&, std::vector<InferShape>* in) -> absl::StatusOr<InferShape> {
        if ((*in)[0] && (*in)[0]->ndim() < 2) {
          return absl::InvalidArgumentError("batch_take: a must have at least 2 dimensions");
        }
        if ((*in)[0] && (*in)[1] && IsKnown((*in)[0]) && IsKnown((*in)[1])) {
          const Shape& a = *(*in)[0];
          if (a.Size() / std::max<int64_t>(a[a.ndim() - 1], 1) != (*in)[1]->Size() &&
              a[a.ndim() - 1] != 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                "batch_take: indices ", (*in)[1]->ToString(),
                " must have one element per row of a ", a.ToString()));
          }
        }
        return (*in)[1];
      },
      [](const OpParams&, absl::Span<const TensorView> in, const Shape& out)
          -> absl::StatusOr<std::vector<Source>> {
        const Shape& a = in[0].shape;
        const int64_t m = a[a.ndim() - 1];
        if (m == 0 && out.Size() > 0) {
          return absl::InvalidArgumentError("batch_take: rows of a are empty");
        }
        std::vector<Source> map(out.Size());
        for (int64_t i = 0; i < out.Size(); ++i) {
          MXGRID_ASSIGN_OR_RETURN(int64_t j,
                                  Resolve("batch_take", IndexAt(in[1], i), m, Mode::kClip));
          map[i] = {0, i * m + j};
        }
        return map;
      });
}

}  // namespace

absl::Status RegisterTakePickOps(Registry* registry) {
  for (OpDef d : {Take(), Pick(), BatchTake()}) {
    MXGRID_RETURN_IF_ERROR(registry->Register(std::move(d)));
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops
