#include "libs/ops/linalg/linalg_common.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/ops/op_util.h"

namespace mxgrid::ops::linalg_internal {
namespace {

// For each element of `t` (C order), its position in the Batch layout.
std::vector<int64_t> BatchPositions(const Shape& s, int row_axis) {
  const int nd = s.ndim();
  const int64_t rows = s[row_axis], cols = s[nd - 1];
  std::vector<int64_t> pos(s.Size());
  std::vector<int64_t> coord(nd, 0);
  for (int64_t f = 0; f < static_cast<int64_t>(pos.size()); ++f) {
    int64_t b = 0;
    for (int d = 0; d < nd - 1; ++d) {
      if (d != row_axis) b = b * s[d] + coord[d];
    }
    pos[f] = (b * rows + coord[row_axis]) * cols + coord[nd - 1];
    for (int d = nd - 1; d >= 0; --d) {
      if (++coord[d] < s[d]) break;
      coord[d] = 0;
    }
  }
  return pos;
}

}  // namespace

Batch ZerosLike(const Batch& like) {
  Batch b;
  b.count = like.count;
  b.rows = like.rows;
  b.cols = like.cols;
  b.data.assign(like.data.size(), 0.0);
  return b;
}

Batch ZerosLike(const TensorView& t, int row_axis) {
  const Shape& s = t.shape;
  if (row_axis < 0) row_axis = s.ndim() - 2;
  Batch b;
  b.rows = s[row_axis];
  b.cols = s[s.ndim() - 1];
  b.count = b.rows * b.cols == 0 ? 0 : s.Size() / (b.rows * b.cols);
  b.data.assign(s.Size(), 0.0);
  return b;
}

absl::StatusOr<std::vector<double>> LoadFlat(absl::string_view op, const TensorView& t) {
  std::vector<double> v(t.size());
  MXGRID_RETURN_IF_ERROR(DispatchFloat(op, t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = t.as<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(x[i]);
    return absl::OkStatus();
  }));
  return v;
}

absl::Status SaveFlat(absl::string_view op, const std::vector<double>& v, OpReq req,
                      const TensorView& t) {
  if (req == OpReq::kNull) return absl::OkStatus();
  return DispatchFloat(op, t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = t.as<T>();
    for (size_t i = 0; i < v.size(); ++i) Store(req, y, i, static_cast<T>(v[i]));
    return absl::OkStatus();
  });
}

absl::StatusOr<Batch> Load(absl::string_view op, const TensorView& t, int row_axis) {
  const Shape& s = t.shape;
  Batch b;
  b.rows = s[row_axis];
  b.cols = s[s.ndim() - 1];
  b.count = b.rows * b.cols == 0 ? 0 : s.Size() / (b.rows * b.cols);
  MXGRID_ASSIGN_OR_RETURN(std::vector<double> flat, LoadFlat(op, t));
  if (row_axis == s.ndim() - 2) {
    b.data = std::move(flat);
    return b;
  }
  b.data.resize(flat.size());
  const std::vector<int64_t> pos = BatchPositions(s, row_axis);
  for (size_t f = 0; f < flat.size(); ++f) b.data[pos[f]] = flat[f];
  return b;
}

absl::StatusOr<Batch> Load(absl::string_view op, const TensorView& t) {
  return Load(op, t, t.shape.ndim() - 2);
}

absl::Status Save(absl::string_view op, const Batch& b, OpReq req, const TensorView& t,
                  int row_axis) {
  if (row_axis == t.shape.ndim() - 2) return SaveFlat(op, b.data, req, t);
  const std::vector<int64_t> pos = BatchPositions(t.shape, row_axis);
  std::vector<double> flat(pos.size());
  for (size_t f = 0; f < pos.size(); ++f) flat[f] = b.data[pos[f]];
  return SaveFlat(op, flat, req, t);
}

absl::Status Save(absl::string_view op, const Batch& b, OpReq req, const TensorView& t) {
  return Save(op, b, req, t, t.shape.ndim() - 2);
}

absl::Status CheckMatrices(absl::string_view op, absl::string_view what, const Shape& s,
                           bool square) {
  if (s.ndim() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " must be a tensor of "
                                                   "matrices (ndim >= 2), got shape ",
                                                   s.ToString()));
  }
  if (square && s[s.ndim() - 1] != s[s.ndim() - 2]) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " must be a tensor of "
                                                   "square matrices, got shape ",
                                                   s.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> RowAxis(absl::string_view op, int64_t axis, int ndim) {
  const int64_t a = axis < 0 ? ndim + axis : axis;
  if (a < 0 || a >= ndim - 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": invalid row axis ", axis, " for ",
                                                   ndim, "-d inputs"));
  }
  return static_cast<int>(a);
}

OpDef LinalgOp(const std::string& name, std::vector<std::string> inputs,
               std::string description) {
  OpDef d;
  d.name = "_linalg_" + name;
  d.aliases = {"linalg_" + name};
  d.description = std::move(description);
  d.input_names = [inputs](const OpParams&) { return inputs; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  return d;
}

}  // namespace mxgrid::ops::linalg_internal
