#include "libs/shm/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/shm/copy.h"
#include "libs/shm/internal/sigbus_guard.h"

namespace mxgrid::shm {
namespace {

constexpr long kTmpfsMagic = 0x01021994;  // TMPFS_MAGIC (linux/magic.h)

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

}  // namespace

absl::Status CheckRegionName(absl::string_view name) {
  const absl::string_view rest = name.empty() ? name : name.substr(1);
  bool ok = !name.empty() && name[0] == '/' && !rest.empty() && rest.size() <= 250 &&
            rest != "." && rest != "..";
  for (char c : rest) ok = ok && NameChar(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "shared-memory name ", Quoted(name),
      " must be '/' then 1 to 250 characters of [A-Za-z0-9._-] (no other '/', not '.' or "
      "'..'), as shm_open takes"));
}

absl::StatusOr<std::shared_ptr<Region>> Region::Open(absl::string_view name, int64_t byte_size) {
  if (absl::Status st = CheckRegionName(name); !st.ok()) return st;
  if (byte_size < 1 || byte_size > kMaxRegionBytes) {
    return absl::InvalidArgumentError(absl::StrCat("region byte_size ", byte_size,
                                                   " must be in [1, 2^40]"));
  }
  const std::string path(name);
  // glibc's shm_open adds O_NOFOLLOW | O_CLOEXEC: a symlink planted in /dev/shm is refused.
  const int fd = shm_open(path.c_str(), O_RDWR, 0);
  if (fd < 0) {
    const int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open shared memory ", Quoted(name), ": ", std::strerror(err),
        err == ENOENT ? " (no such object on the worker's host: is the client on another "
                        "host? use the gRPC streams)"
                      : ""));
  }
  auto fail = [&](absl::Status st) {
    close(fd);
    return st;
  };
  struct stat st;
  struct statfs fs;
  if (fstat(fd, &st) != 0 || fstatfs(fd, &fs) != 0 || !S_ISREG(st.st_mode) ||
      fs.f_type != kTmpfsMagic) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "shared memory ", Quoted(name), " is not a regular shared-memory object")));
  }
  if (st.st_size < byte_size) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "shared memory ", Quoted(name), " holds ", st.st_size, " bytes, fewer than the ",
        byte_size, " registered (ftruncate it first)")));
  }
  void* base = mmap(nullptr, static_cast<size_t>(byte_size), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_POPULATE, fd, 0);
  if (base == MAP_FAILED) {
    const int err = errno;
    return fail(absl::ResourceExhaustedError(absl::StrCat(
        "cannot map ", byte_size, " bytes of shared memory ", Quoted(name), ": ",
        std::strerror(err))));
  }
  auto region = std::make_shared<Region>(Token(), path, fd, base, byte_size);
  absl::StatusOr<int> slot = internal::GuardRange(base, static_cast<size_t>(byte_size),
                                                  &region->poisoned_);
  if (!slot.ok()) return slot.status();  // ~Region unmaps and closes.
  region->guard_slot_ = *slot;
  return region;
}

Region::Region(Token, std::string name, int fd, void* base, int64_t byte_size)
    : name_(std::move(name)), fd_(fd), base_(static_cast<char*>(base)), byte_size_(byte_size) {}

Region::~Region() {
  if (guard_slot_ >= 0) internal::UnguardRange(guard_slot_);
  munmap(base_, static_cast<size_t>(byte_size_));
  close(fd_);
}

absl::Status Region::CheckRange(int64_t offset, int64_t bytes) const {
  if (offset >= 0 && bytes >= 0 && offset <= byte_size_ && bytes <= byte_size_ - offset) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "bytes [", offset, ", ", offset, " + ", bytes, ") are outside shared memory ",
      Quoted(name_), " of ", byte_size_, " bytes"));
}

absl::Status Region::CheckAlive(int64_t offset, int64_t bytes) const {
  if (!poisoned()) {
    struct stat st;
    if (fstat(fd_, &st) == 0 && st.st_size >= offset + bytes) return absl::OkStatus();
  }
  poisoned_.store(true, std::memory_order_relaxed);
  return absl::FailedPreconditionError(absl::StrCat(
      "shared memory ", Quoted(name_),
      " was truncated below its registered size; unregister it and register it again"));
}

absl::Status Region::Read(int64_t offset, void* dst, int64_t bytes) const {
  if (absl::Status st = CheckRange(offset, bytes); !st.ok()) return st;
  if (absl::Status st = CheckAlive(offset, bytes); !st.ok()) return st;
  ParallelCopy(dst, base_ + offset, static_cast<size_t>(bytes));
  return CheckAlive(offset, bytes);
}

absl::Status Region::Write(int64_t offset, const void* src, int64_t bytes) const {
  if (absl::Status st = CheckRange(offset, bytes); !st.ok()) return st;
  if (absl::Status st = CheckAlive(offset, bytes); !st.ok()) return st;
  ParallelCopy(base_ + offset, src, static_cast<size_t>(bytes));
  return CheckAlive(offset, bytes);
}

absl::StatusOr<void*> Region::Address(int64_t offset, int64_t bytes) const {
  if (absl::Status st = CheckRange(offset, bytes); !st.ok()) return st;
  if (absl::Status st = CheckAlive(offset, bytes); !st.ok()) return st;
  return static_cast<void*>(base_ + offset);
}

absl::Status Region::StoreWord(int64_t offset, uint64_t value) const {
  if (absl::Status st = CheckRange(offset, 8); !st.ok()) return st;
  if (offset % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("word offset ", offset,
                                                   " is not a multiple of 8"));
  }
  if (absl::Status st = CheckAlive(offset, 8); !st.ok()) return st;
  __atomic_store_n(reinterpret_cast<uint64_t*>(base_ + offset), value, __ATOMIC_RELEASE);
  return absl::OkStatus();
}

}  // namespace mxgrid::shm
