#include "libs/base/shape.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace mxgrid {
namespace {

TEST(ShapeTest, SizeAndPrinting) {
  Shape s{2, 3};
  EXPECT_EQ(s.ndim(), 2);
  EXPECT_EQ(s.Size(), 6);
  EXPECT_EQ(s.ToString(), "(2, 3)");
  EXPECT_EQ(Shape{5}.ToString(), "(5,)");
  EXPECT_EQ(Shape().ToString(), "()");
  EXPECT_EQ(Shape().Size(), 1);
  EXPECT_EQ((Shape{4, 0, 2}).Size(), 0);
  EXPECT_EQ((Shape{2, 3, 4}).ProdRange(1, 3), 12);
}

TEST(ShapeTest, EqualityComparesDims) {
  EXPECT_EQ((Shape{2, 3}), (Shape{2, 3}));
  EXPECT_NE((Shape{2, 3}), (Shape{3, 2}));
  EXPECT_NE((Shape{6}), (Shape{6, 1}));
}

TEST(ShapeTest, MakeRejectsNegativeHugeAndTooManyDims) {
  EXPECT_TRUE(Shape::Make(std::vector<int64_t>{2, 3}).ok());
  EXPECT_EQ(Shape::Make(std::vector<int64_t>{2, -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Shape::Make(std::vector<int64_t>{int64_t{1} << 40, int64_t{1} << 40}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Shape::Make(std::vector<int64_t>(33, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid
