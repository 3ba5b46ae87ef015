#include "libs/tensor/format/byte_io.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::tensor::format {
namespace {

using ::testing::HasSubstr;

TEST(StringSinkTest, AppendsAndReleases) {
  StringSink sink;
  ASSERT_TRUE(sink.Append("ab", 2).ok());
  ASSERT_TRUE(sink.Append(nullptr, 0).ok());
  ASSERT_TRUE(sink.Append("c", 1).ok());
  EXPECT_EQ(sink.contents(), "abc");
  EXPECT_EQ(sink.Release(), "abc");
}

TEST(MemorySourceTest, ReadsAndTracksOffset) {
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5};
  MemorySource source(data);
  uint8_t out[3];
  ASSERT_TRUE(source.Read(out, 3).ok());
  EXPECT_EQ(out[2], 3);
  EXPECT_EQ(source.offset(), 3u);
  EXPECT_EQ(source.remaining(), 2u);
}

TEST(MemorySourceTest, TruncationIsDataLossWithOffset) {
  const std::vector<uint8_t> data = {1, 2, 3};
  MemorySource source(data);
  uint8_t out[8];
  ASSERT_TRUE(source.Read(out, 2).ok());
  absl::Status status = source.Read(out, 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("truncated at byte offset 2: needed 4 more bytes"));
}

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(FileIoTest, RoundTripsSmallAndLargeWrites) {
  const std::string path = TempPath("byte_io_round_trip.bin");
  std::string expected;
  {
    auto sink = OpenFileSink(path);
    ASSERT_TRUE(sink.ok()) << sink.status();
    // Small appends fill the buffer; the 200 KB block goes straight to the file.
    for (int i = 0; i < 1000; ++i) {
      std::string piece(i % 13 + 1, static_cast<char>('a' + i % 26));
      ASSERT_TRUE((*sink)->Append(piece.data(), piece.size()).ok());
      expected += piece;
    }
    std::string big(200 * 1024, 'z');
    big[12345] = 'y';
    ASSERT_TRUE((*sink)->Append(big.data(), big.size()).ok());
    expected += big;
    ASSERT_TRUE((*sink)->Append("tail", 4).ok());
    expected += "tail";
    ASSERT_TRUE((*sink)->Flush().ok());
  }
  auto source = OpenFileSource(path);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->remaining(), expected.size());
  std::string got(expected.size(), '\0');
  // Mixed read sizes: small reads from the buffer, one big read past it.
  ASSERT_TRUE((*source)->Read(got.data(), 5).ok());
  ASSERT_TRUE((*source)->Read(got.data() + 5, 100000).ok());
  ASSERT_TRUE((*source)->Read(got.data() + 100005, 7).ok());
  ASSERT_TRUE((*source)->Read(got.data() + 100012, got.size() - 100012).ok());
  EXPECT_EQ(got, expected);
  EXPECT_EQ((*source)->remaining(), 0u);
  char extra;
  absl::Status status = (*source)->Read(&extra, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("byte offset ", expected.size())));
}

TEST(FileIoTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = TempPath("no_such_dir/x.params");
  auto source = OpenFileSource(path);
  EXPECT_EQ(source.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(source.status().message(), HasSubstr(path));
  auto sink = OpenFileSink(path);
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(sink.status().message(), HasSubstr(path));
}

TEST(FileIoTest, DirectoryIsNotReadable) {
  auto source = OpenFileSource(::testing::TempDir());
  EXPECT_FALSE(source.ok());
}

}  // namespace
}  // namespace mxgrid::tensor::format
