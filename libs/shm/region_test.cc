#include "libs/shm/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/shm/copy.h"
#include "libs/shm/internal/sigbus_guard.h"

namespace mxgrid::shm {
namespace {

// A client's object: created, sized and unlinked by the test.
class ClientObject {
 public:
  explicit ClientObject(int64_t bytes)
      : name_(absl::StrCat("/mxgrid-shm-test-", getpid(), "-", counter_++)) {
    fd_ = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, bytes), 0);
    base_ = static_cast<char*>(
        mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
    bytes_ = bytes;
  }
  ~ClientObject() {
    munmap(base_, bytes_);
    close(fd_);
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  char* data() { return base_; }
  void Truncate(int64_t bytes) { ASSERT_EQ(ftruncate(fd_, bytes), 0); }

 private:
  static inline int counter_ = 0;
  std::string name_;
  int fd_ = -1;
  char* base_ = nullptr;
  int64_t bytes_ = 0;
};

bool Mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int count = 0;
  while (std::getline(maps, line)) count += line.find("/dev/shm" + name) != std::string::npos;
  return count > 1;  // The test's own mapping is one.
}

TEST(RegionTest, ReadAndWriteSeeTheClientsBytes) {
  ClientObject obj(1 << 20);
  for (int i = 0; i < 1 << 20; ++i) obj.data()[i] = static_cast<char>(i * 7);
  absl::StatusOr<std::shared_ptr<Region>> r = Region::Open(obj.name(), 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<char> got(4096);
  ASSERT_TRUE((*r)->Read(4096, got.data(), 4096).ok());
  EXPECT_EQ(std::memcmp(got.data(), obj.data() + 4096, 4096), 0);
  std::vector<char> put(100, 'x');
  ASSERT_TRUE((*r)->Write((1 << 20) - 100, put.data(), 100).ok());
  EXPECT_EQ(obj.data()[(1 << 20) - 1], 'x');
}

TEST(RegionTest, RangesOutsideTheRegionAreInvalidArgument) {
  ClientObject obj(8192);
  absl::StatusOr<std::shared_ptr<Region>> r = Region::Open(obj.name(), 8192);
  ASSERT_TRUE(r.ok()) << r.status();
  char buf[16];
  EXPECT_EQ((*r)->Read(8190, buf, 16).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->Read(-1, buf, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->Read(0, buf, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->Write(INT64_MAX, buf, 16).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->CheckRange(8192, INT64_MAX).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*r)->CheckRange(8192, 0).ok());
}

TEST(RegionTest, BadNamesAndSizesAreRefused) {
  for (const char* name : {"", "/", "x", "/a/b", "/..", "/.", "/../etc/passwd", "/a b"}) {
    EXPECT_EQ(Region::Open(name, 10).status().code(), absl::StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_EQ(Region::Open("/" + std::string(251, 'a'), 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  ClientObject obj(4096);
  EXPECT_EQ(Region::Open(obj.name(), 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Region::Open(obj.name(), int64_t{1} << 41).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RegionTest, MissingOrSmallObjectsAreFailedPrecondition) {
  absl::Status missing = Region::Open("/mxgrid-shm-test-no-such-object", 10).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.message().find("another host"), std::string::npos) << missing;
  ClientObject obj(4096);
  EXPECT_EQ(Region::Open(obj.name(), 8192).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RegionTest, TruncationBeforeACopyFailsWithoutCrashing) {
  ClientObject obj(1 << 20);
  absl::StatusOr<std::shared_ptr<Region>> r = Region::Open(obj.name(), 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  obj.Truncate(4096);
  std::vector<char> buf(1 << 20);
  EXPECT_EQ((*r)->Read(0, buf.data(), buf.size()).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*r)->poisoned());
  // Later copies fail too, even of the bytes that remain.
  EXPECT_EQ((*r)->Read(0, buf.data(), 16).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SigbusGuardTest, FaultOnTruncatedPagesReadsZerosAndPoisons) {
  // What a truncation racing a copy does: the copy touches pages that are gone.
  ClientObject obj(1 << 20);
  const int fd = shm_open(obj.name().c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  char* mapped = static_cast<char*>(
      mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0));
  ASSERT_NE(mapped, MAP_FAILED);
  std::atomic<bool> poisoned{false};
  absl::StatusOr<int> slot = internal::GuardRange(mapped, 1 << 20, &poisoned);
  ASSERT_TRUE(slot.ok()) << slot.status();
  std::memset(obj.data(), 7, 1 << 20);
  obj.Truncate(4096);
  std::vector<char> buf(1 << 20, 1);
  std::memcpy(buf.data(), mapped, buf.size());  // SIGBUS past 4096 without the guard
  EXPECT_TRUE(poisoned.load());
  EXPECT_EQ(buf[0], 7);
  EXPECT_EQ(buf[(1 << 20) - 1], 0);
  std::memcpy(mapped + 8192, buf.data(), 4096);  // writes land in the zero pages
  internal::UnguardRange(*slot);
  munmap(mapped, 1 << 20);
  close(fd);
}

TEST(RegionTest, AddressAndStoreWordWorkInPlace) {
  ClientObject obj(8192);
  absl::StatusOr<std::shared_ptr<Region>> r = Region::Open(obj.name(), 8192);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<void*> p = (*r)->Address(4096, 4096);
  ASSERT_TRUE(p.ok()) << p.status();
  static_cast<char*>(*p)[1] = 'z';
  EXPECT_EQ(obj.data()[4097], 'z');
  EXPECT_EQ((*r)->Address(4096, 4097).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*r)->StoreWord(8, 0x0102030405060708).ok());
  uint64_t word;
  std::memcpy(&word, obj.data() + 8, 8);
  EXPECT_EQ(word, 0x0102030405060708u);
  EXPECT_EQ((*r)->StoreWord(4, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->StoreWord(8188, 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegionTest, UnmappedOnDestruction) {
  ClientObject obj(4096);
  {
    absl::StatusOr<std::shared_ptr<Region>> r = Region::Open(obj.name(), 4096);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(Mapped(obj.name()));
  }
  EXPECT_FALSE(Mapped(obj.name()));
}

TEST(ParallelCopyTest, CopiesEveryByteOfOddSizes) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{1000}, kParallelCopyMinBytes * 3 + 13}) {
    std::vector<unsigned char> src(bytes), dst(bytes, 0);
    std::iota(src.begin(), src.end(), 1);
    ParallelCopy(dst.data(), src.data(), bytes, 4);
    EXPECT_EQ(src, dst) << bytes;
  }
}

}  // namespace
}  // namespace mxgrid::shm
