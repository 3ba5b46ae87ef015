#include "libs/kvstore/part_rows.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"

namespace mxgrid::kvstore {
namespace {

// The piece of row `id` in the part [first, first + size), possibly empty.
RowPiece PieceOf(int64_t id, int64_t row_length, int64_t first, int64_t size) {
  const int64_t begin = std::max(id * row_length, first);
  const int64_t end = std::min((id + 1) * row_length, first + size);
  return RowPiece{begin - first, std::max<int64_t>(end - begin, 0)};
}

}  // namespace

PartRows::PartRows(std::vector<int64_t> ids, int64_t row_length, int64_t first, int64_t size)
    : ids_(std::move(ids)), row_length_(row_length), first_(first), size_(size) {
  for (size_t i = 0; i < ids_.size(); ++i) total_ += Piece(i).length;
}

absl::StatusOr<PartRows> PartRows::Make(std::vector<int64_t> ids, int64_t row_length,
                                        int64_t first, int64_t size) {
  if (row_length < 1 || first < 0 || size < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows: row_length ", row_length, ", first ", first, " and part size ", size,
        " do not describe a part (row_length >= 1, first >= 0, size >= 0)"));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0 && ids[i] <= ids[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rows: ids must be strictly increasing; id ", i, " is ", ids[i], " after ",
          ids[i - 1]));
    }
    // Guards the products in PieceOf against overflow as well.
    if (ids[i] < 0 || ids[i] > (first + size) / row_length ||
        PieceOf(ids[i], row_length, first, size).length == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rows: row ", ids[i], " (elements [", ids[i] * row_length, ", ",
          (ids[i] + 1) * row_length, ")) has no element in the part [", first, ", ",
          first + size, ")"));
    }
  }
  return PartRows(std::move(ids), row_length, first, size);
}

std::vector<int64_t> PartRows::Overlapping(absl::Span<const int64_t> rows, int64_t row_length,
                                           int64_t first, int64_t size) {
  std::vector<int64_t> out;
  if (row_length < 1) return out;
  const int64_t lo = first / row_length;                       // first row with elements
  const int64_t hi = (first + size + row_length - 1) / row_length;  // past the last
  auto begin = std::lower_bound(rows.begin(), rows.end(), lo);
  auto end = std::lower_bound(begin, rows.end(), size > 0 ? hi : lo);
  out.assign(begin, end);
  return out;
}

RowPiece PartRows::Piece(size_t i) const {
  return PieceOf(ids_[i], row_length_, first_, size_);
}

PartRows PartRows::Union(const PartRows& other) const {
  MXGRID_CHECK(SameLayout(other)) << "PartRows::Union of different part layouts";
  std::vector<int64_t> ids;
  ids.reserve(ids_.size() + other.ids_.size());
  std::set_union(ids_.begin(), ids_.end(), other.ids_.begin(), other.ids_.end(),
                 std::back_inserter(ids));
  return PartRows(std::move(ids), row_length_, first_, size_);
}

std::vector<int64_t> PartRows::PositionsIn(const PartRows& wider) const {
  MXGRID_CHECK(SameLayout(wider)) << "PartRows::PositionsIn of different part layouts";
  std::vector<int64_t> out;
  out.reserve(ids_.size());
  size_t j = 0;
  for (int64_t id : ids_) {
    while (j < wider.ids_.size() && wider.ids_[j] < id) ++j;
    MXGRID_CHECK(j < wider.ids_.size() && wider.ids_[j] == id)
        << "PartRows::PositionsIn: row " << id << " is not in the wider rows";
    out.push_back(static_cast<int64_t>(j));
  }
  return out;
}

}  // namespace mxgrid::kvstore
