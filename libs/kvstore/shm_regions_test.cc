// ShmRegions: ids scoped to their (job, rank), unregistration, DropRank, DropJob, the
// per-rank limit.
#include "libs/kvstore/shm_regions.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace mxgrid::kvstore {
namespace {

// A client's object of `bytes` bytes, unlinked by the destructor.
class Object {
 public:
  explicit Object(int64_t bytes) : name_(absl::StrCat("/mxgrid-regions-test-", getpid(), "-", n_++)) {
    const int fd = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, bytes), 0);
    close(fd);
  }
  ~Object() { shm_unlink(name_.c_str()); }
  const std::string& name() const { return name_; }

 private:
  static inline int n_ = 0;
  std::string name_;
};

TEST(ShmRegionsTest, IdsBelongToTheirJobAndRank) {
  Object obj(4096);
  ShmRegions regions;
  absl::StatusOr<uint64_t> id = regions.Register("j", 0, obj.name(), 4096);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_NE(*id, 0u);
  absl::StatusOr<std::shared_ptr<const shm::Region>> r = regions.Find("j", 0, *id);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->byte_size(), 4096);
  EXPECT_EQ(regions.Find("j", 1, *id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(regions.Find("k", 0, *id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(regions.Unregister("j", 1, *id).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(regions.Unregister("j", 0, *id).ok());
  EXPECT_EQ(regions.Find("j", 0, *id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(regions.size(), 0);
}

TEST(ShmRegionsTest, OpenErrorsPassThrough) {
  Object obj(4096);
  ShmRegions regions;
  EXPECT_EQ(regions.Register("j", 0, "bad/name", 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(regions.Register("j", 0, obj.name(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(regions.Register("j", 0, obj.name(), 8192).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(regions.Register("j", 0, "/mxgrid-regions-test-none", 4096).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ShmRegionsTest, DropRankForgetsOnlyThatRank) {
  Object obj(4096);
  ShmRegions regions;
  const uint64_t a = *regions.Register("j", 0, obj.name(), 4096);
  const uint64_t b = *regions.Register("j", 1, obj.name(), 4096);
  regions.DropRank("j", 0);
  EXPECT_EQ(regions.Find("j", 0, a).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(regions.Find("j", 1, b).ok());
  EXPECT_EQ(regions.size(), 1);
}

TEST(ShmRegionsTest, DropJobForgetsEveryRankOfThatJobOnly) {
  Object obj(4096);
  ShmRegions regions;
  const uint64_t a = *regions.Register("j", 0, obj.name(), 4096);
  const uint64_t b = *regions.Register("j", 1, obj.name(), 4096);
  const uint64_t c = *regions.Register("j2", 0, obj.name(), 4096);
  const uint64_t d = *regions.Register("i", 3, obj.name(), 4096);
  regions.DropJob("j");
  EXPECT_EQ(regions.Find("j", 0, a).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(regions.Find("j", 1, b).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(regions.Find("j2", 0, c).ok());
  EXPECT_TRUE(regions.Find("i", 3, d).ok());
  EXPECT_EQ(regions.size(), 2);
}

TEST(ShmRegionsTest, AtMost256PerRank) {
  Object obj(4096);
  ShmRegions regions;
  for (int i = 0; i < kMaxShmRegionsPerRank; ++i) {
    ASSERT_TRUE(regions.Register("j", 0, obj.name(), 4096).ok()) << i;
  }
  EXPECT_EQ(regions.Register("j", 0, obj.name(), 4096).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(regions.Register("j", 1, obj.name(), 4096).ok());
}

}  // namespace
}  // namespace mxgrid::kvstore
