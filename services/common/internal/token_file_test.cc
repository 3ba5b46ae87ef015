#include "services/common/internal/token_file.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace mxgrid::services::internal {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// Writes `text` to `path` by rename, as a Secret update does (a new inode).
void Write(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".new";
  std::ofstream(tmp) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

TEST(TokenFileTest, AcceptsEveryListedTokenAndNothingElse) {
  const std::string path = TempPath("tokens");
  Write(path, "# rotated 2026-12-01\nalpha-123\n\n  beta-456  \n");
  absl::StatusOr<std::unique_ptr<TokenFile>> tokens = TokenFile::Open(path, absl::Seconds(10));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_TRUE((*tokens)->Accepts("alpha-123"));
  EXPECT_TRUE((*tokens)->Accepts("beta-456"));
  EXPECT_FALSE((*tokens)->Accepts("alpha-12"));
  EXPECT_FALSE((*tokens)->Accepts(""));
  EXPECT_FALSE((*tokens)->Accepts("# rotated 2026-12-01"));
  EXPECT_EQ((*tokens)->First(), "alpha-123");
}

TEST(TokenFileTest, ReReadsTheFileWhenItChanges) {
  const std::string path = TempPath("rotating");
  Write(path, "old\n");
  absl::StatusOr<std::unique_ptr<TokenFile>> tokens =
      TokenFile::Open(path, absl::Milliseconds(10));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_TRUE((*tokens)->Accepts("old"));
  Write(path, "new\n");
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE((*tokens)->Accepts("new"));
  EXPECT_FALSE((*tokens)->Accepts("old"));
  EXPECT_EQ((*tokens)->First(), "new");
  // A broken update keeps the tokens read before.
  Write(path, "\n# nothing\n");
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE((*tokens)->Accepts("new"));
  ASSERT_EQ(unlink(path.c_str()), 0);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE((*tokens)->Accepts("new"));
}

TEST(TokenFileTest, MissingOrEmptyFilesAreErrors) {
  EXPECT_EQ(TokenFile::Open(TempPath("no-such-file"), absl::Seconds(1)).status().code(),
            absl::StatusCode::kNotFound);
  const std::string path = TempPath("empty");
  Write(path, "# only a comment\n\n");
  EXPECT_EQ(TokenFile::Open(path, absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::services::internal
