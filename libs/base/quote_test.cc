#include "libs/base/quote.h"

#include <string>

#include "gtest/gtest.h"

namespace mxgrid {
namespace {

TEST(QuotedTest, ShortTextIsQuotedWhole) {
  EXPECT_EQ(Quoted("relu"), "'relu'");
  EXPECT_EQ(Quoted(""), "''");
  EXPECT_EQ(Quoted(std::string(kMaxQuotedBytes, 'a')),
            "'" + std::string(kMaxQuotedBytes, 'a') + "'");
}

TEST(QuotedTest, LongTextIsCutWithItsLength) {
  const std::string q = Quoted(std::string(20000, 'A'));
  EXPECT_EQ(q, "'" + std::string(kMaxQuotedBytes, 'A') + "\xE2\x80\xA6' (20000 bytes)");
  EXPECT_EQ(Quoted("abcdef", 3), "'abc\xE2\x80\xA6' (6 bytes)");
}

TEST(QuotedTest, ClippedIsQuotedWithoutQuotes) {
  EXPECT_EQ(Clipped("last read: 'x'"), "last read: 'x'");
  EXPECT_EQ(Clipped("abcdef", 4), "abcd\xE2\x80\xA6 (6 bytes)");
  EXPECT_LE(Clipped(std::string(1 << 20, 'z')).size(), kMaxQuotedBytes + 32);
}

TEST(QuotedTest, CutsAtUtf8CharacterBoundaries) {
  // "é" is 2 bytes, "€" 3, "😀" 4: a cut never splits one.
  EXPECT_EQ(Utf8Prefix("a\xC3\xA9", 2), "a");
  EXPECT_EQ(Utf8Prefix("a\xC3\xA9", 3), "a\xC3\xA9");
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 3), "ab");
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 4), "ab");
  EXPECT_EQ(Utf8Prefix("a\xF0\x9F\x98\x80z", 4), "a");
  EXPECT_EQ(Utf8Prefix("a\xF0\x9F\x98\x80z", 5), "a\xF0\x9F\x98\x80");
  std::string euros;
  for (int i = 0; i < 1000; ++i) euros += "\xE2\x82\xAC";
  const std::string q = Quoted(euros, 256);
  // 85 whole euros (255 bytes), the ellipsis, the length.
  std::string want = "'";
  for (int i = 0; i < 85; ++i) want += "\xE2\x82\xAC";
  EXPECT_EQ(q, want + "\xE2\x80\xA6' (3000 bytes)");
}

TEST(QuotedTest, MalformedUtf8IsCutWhereAsked) {
  const std::string continuation(10, '\x80');
  EXPECT_EQ(Utf8Prefix(continuation, 5).size(), 5u);
  EXPECT_EQ(Utf8Prefix("abc", 0), "");
}

}  // namespace
}  // namespace mxgrid
