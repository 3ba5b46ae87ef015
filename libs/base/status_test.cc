#include "libs/base/status.h"

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "libs/base/check.h"
#include "libs/base/status_macros.h"

namespace mxgrid {
namespace {

absl::StatusOr<int> Half(int v) {
  if (v % 2 != 0) return absl::InvalidArgumentError("odd");
  return v / 2;
}

absl::Status Quarter(int v, int* out) {
  MXGRID_ASSIGN_OR_RETURN(int h, Half(v));
  MXGRID_ASSIGN_OR_RETURN(*out, Half(h));
  return absl::OkStatus();
}

absl::Status Chain(int v) {
  int out = 0;
  MXGRID_RETURN_IF_ERROR(Quarter(v, &out));
  return out == v / 4 ? absl::OkStatus() : absl::InternalError("wrong");
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(Quarter(6, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Chain(12).ok());
  EXPECT_EQ(Chain(3).message(), "odd");
}

TEST(StatusTest, AnnotateKeepsCodeAndPrefixesMessage) {
  absl::Status s = Annotate(absl::NotFoundError("no key 3"), "pull");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "pull: no key 3");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kFailedPrecondition), "FAILED_PRECONDITION");
}

TEST(CheckDeathTest, FailedCheckAbortsWithMessage) {
  EXPECT_DEATH({ MXGRID_CHECK(1 + 1 == 3) << "arithmetic is broken"; },
               "check failed: 1 \\+ 1 == 3 arithmetic is broken");
}

}  // namespace
}  // namespace mxgrid
