#include "libs/kvstore/part_rows.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::pair<int64_t, int64_t>> Pieces(const PartRows& rows) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < rows.ids().size(); ++i) {
    out.emplace_back(rows.Piece(i).offset, rows.Piece(i).length);
  }
  return out;
}

TEST(PartRowsTest, WholePartHoldsWholeRows) {
  absl::StatusOr<PartRows> rows = PartRows::Make({0, 2, 3}, 4, 0, 16);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Pieces(*rows), ElementsAre(std::make_pair(0, 4), std::make_pair(8, 4),
                                         std::make_pair(12, 4)));
  EXPECT_EQ(rows->total(), 12);
}

TEST(PartRowsTest, SplitRowsAtBothEndsOfAPart) {
  // Rows of 4 elements; the part holds elements [10, 30): rows 2 (8..11) to 7 (28..31).
  absl::StatusOr<PartRows> rows = PartRows::Make({2, 5, 7}, 4, 10, 20);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Pieces(*rows), ElementsAre(std::make_pair(0, 2), std::make_pair(10, 4),
                                         std::make_pair(18, 2)));
  EXPECT_EQ(rows->total(), 8);
  const std::vector<int64_t> all = {0, 1, 2, 3, 5, 7, 8, 9};
  EXPECT_THAT(PartRows::Overlapping(all, 4, 10, 20), ElementsAre(2, 3, 5, 7));
  EXPECT_THAT(PartRows::Overlapping(all, 4, 0, 8), ElementsAre(0, 1));
  EXPECT_THAT(PartRows::Overlapping(all, 4, 8, 0), ElementsAre());
  // A part inside one row.
  EXPECT_THAT(PartRows::Overlapping(all, 100, 10, 20), ElementsAre(0));
}

TEST(PartRowsTest, UnionAndPositions) {
  const PartRows a = *PartRows::Make({1, 4}, 3, 0, 18);
  const PartRows b = *PartRows::Make({0, 4, 5}, 3, 0, 18);
  const PartRows u = a.Union(b);
  EXPECT_THAT(u.ids(), ElementsAre(0, 1, 4, 5));
  EXPECT_EQ(u.total(), 12);
  EXPECT_THAT(a.PositionsIn(u), ElementsAre(1, 2));
  EXPECT_THAT(b.PositionsIn(u), ElementsAre(0, 2, 3));
  EXPECT_TRUE(a.SameLayout(b));
  EXPECT_FALSE(a.SameLayout(*PartRows::Make({}, 3, 3, 15)));
  const PartRows none = *PartRows::Make({}, 3, 0, 18);
  EXPECT_EQ(none.total(), 0);
  EXPECT_THAT(none.Union(a).ids(), ElementsAre(1, 4));
}

TEST(PartRowsTest, RefusesRowsOutsideThePartAndBadLayouts) {
  EXPECT_THAT(PartRows::Make({2, 1}, 4, 0, 16).status().message(),
              HasSubstr("strictly increasing"));
  EXPECT_THAT(PartRows::Make({1, 1}, 4, 0, 16).status().message(),
              HasSubstr("strictly increasing"));
  EXPECT_THAT(PartRows::Make({4}, 4, 0, 16).status().message(), HasSubstr("no element"));
  EXPECT_THAT(PartRows::Make({1}, 4, 10, 20).status().message(), HasSubstr("no element"));
  EXPECT_THAT(PartRows::Make({-1}, 4, 0, 16).status().message(), HasSubstr("no element"));
  EXPECT_EQ(PartRows::Make({int64_t{1} << 62}, 4, 0, 16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartRows::Make({}, 0, 0, 16).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartRows::Make({}, 4, -1, 16).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartRows::Make({}, 4, 0, -1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::kvstore
