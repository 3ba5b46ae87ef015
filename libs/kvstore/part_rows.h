// PartRows: the elements of one stored part that a row_sparse push or pull touches
// (kvstore.proto PartRows). A key's value, seen as a matrix of rows of `row_length`
// elements, is stored flattened and split into parts of consecutive elements
// (client/partition.h); the part holding elements [first, first + size) holds of row r the
// piece [max(r * row_length, first), min((r + 1) * row_length, first + size)). A row_sparse
// value sent to or read from a part is the concatenation of its rows' pieces in id order.
//
//   MXGRID_ASSIGN_OR_RETURN(PartRows rows, PartRows::Make({2, 7}, /*row_length=*/4,
//                                                          /*first=*/10, /*size=*/20));
//   rows.Piece(0);  // {offset 0, length 2}: elements 10, 11 of row 2 (8..11)
//   rows.total();   // 6: row 2's piece and row 7's (28..29 -> offsets 18, 19; length 2)
//
// Thread-safety: an immutable value.
#ifndef MXGRID_LIBS_KVSTORE_PART_ROWS_H_
#define MXGRID_LIBS_KVSTORE_PART_ROWS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace mxgrid::kvstore {

// A piece of a row in part-local elements.
struct RowPiece {
  int64_t offset = 0;
  int64_t length = 0;
};

// The rows a request names (kvstore.proto PartRows); the part's size comes from the stored
// part.
struct RowsSpec {
  std::vector<int64_t> ids;
  int64_t row_length = 1;
  int64_t first = 0;
};

class PartRows {
 public:
  PartRows() = default;

  // InvalidArgument for row_length < 1, first < 0, size < 0, ids not strictly increasing,
  // or an id whose row has no element in the part (negative ones included).
  static absl::StatusOr<PartRows> Make(std::vector<int64_t> ids, int64_t row_length,
                                       int64_t first, int64_t size);
  // The ids among `rows` (strictly increasing) whose row has elements in the part.
  static std::vector<int64_t> Overlapping(absl::Span<const int64_t> rows, int64_t row_length,
                                          int64_t first, int64_t size);

  const std::vector<int64_t>& ids() const { return ids_; }
  int64_t row_length() const { return row_length_; }
  int64_t first() const { return first_; }
  int64_t size() const { return size_; }
  // The piece of ids()[i].
  RowPiece Piece(size_t i) const;
  // The element count of a value: the sum of the pieces' lengths.
  int64_t total() const { return total_; }
  // Whether `other` describes rows of the same part layout (row_length, first, size).
  bool SameLayout(const PartRows& other) const {
    return row_length_ == other.row_length_ && first_ == other.first_ && size_ == other.size_;
  }
  // The rows of either. REQUIRES: SameLayout(other).
  PartRows Union(const PartRows& other) const;
  // For each of this value's ids, its index in `wider`'s ids. REQUIRES: SameLayout(wider)
  // and every id of this one in `wider`.
  std::vector<int64_t> PositionsIn(const PartRows& wider) const;

 private:
  PartRows(std::vector<int64_t> ids, int64_t row_length, int64_t first, int64_t size);

  std::vector<int64_t> ids_;
  int64_t row_length_ = 1;
  int64_t first_ = 0;
  int64_t size_ = 0;
  int64_t total_ = 0;
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_PART_ROWS_H_
