#include "services/worker/internal/kvstore_shm_pool.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mxgrid::services::internal {
namespace {

// An unguessable name: another local user cannot plant or pre-open the object (O_EXCL
// refuses a name that exists).
std::string NewName() {
  static base::Mutex* const mu = new base::Mutex();
  static std::random_device* const random = new std::random_device();  // guarded by *mu
  uint64_t bits = 0;
  {
    base::MutexLock lock(mu);
    bits = (uint64_t{(*random)()} << 32) ^ (*random)();
  }
  return absl::StrFormat("/mxgrid-kv-%d-%016x", getpid(), bits);
}

// Creates, sizes and maps a new object of `bytes` bytes; its name stays linked (the caller
// unlinks it after the registration).
absl::StatusOr<std::shared_ptr<shm::Region>> CreateObject(const std::string& name,
                                                          int64_t bytes) {
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create shared memory ", name, ": ",
                                            std::strerror(errno)));
  }
  // Real pages now (not at first touch, where a full /dev/shm would be a SIGBUS).
  const int err = posix_fallocate(fd, 0, bytes);
  close(fd);
  if (err != 0) {
    shm_unlink(name.c_str());
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", bytes,
                                                     " bytes of shared memory: ",
                                                     std::strerror(err)));
  }
  // Maps with MAP_POPULATE: every page touched once, here.
  absl::StatusOr<std::shared_ptr<shm::Region>> region = shm::Region::Open(name, bytes);
  if (!region.ok()) shm_unlink(name.c_str());
  return region;
}

}  // namespace

int64_t ShmSizeClass(int64_t bytes) {
  bytes = std::max(bytes, kShmMinBytes);
  int bits = 0;
  while ((int64_t{1} << bits) < bytes) ++bits;  // 2^bits >= bytes > 2^(bits-1)
  const int64_t step = int64_t{1} << std::max(bits - 4, 0);  // an eighth of 2^(bits-1)
  return (bytes + step - 1) / step * step;
}

absl::StatusOr<ShmSlot> ShmSlotPool::Take(int64_t bytes, const Registrar& registrar) {
  const int64_t capacity = ShmSizeClass(bytes);
  uint64_t epoch = 0;
  {
    base::MutexLock lock(&mu_);
    // The smallest free slot that holds the value, up to 4x its class: batches vary in size
    // from one to the next, and a new slot costs an object, its page faults and a
    // registration with the shard.
    auto it = free_.lower_bound(capacity);
    if (it != free_.end() && it->first <= 4 * capacity) {
      ShmSlot slot = std::move(it->second);
      free_.erase(it);
      free_bytes_ -= slot.capacity;
      return slot;
    }
    if (live_ >= options_.max_slots) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "all ", options_.max_slots, " shared-memory slots of the connection are in use"));
    }
    ++live_;  // reserved while made, outside the lock
    epoch = epoch_;
  }
  auto unreserve = [&] {
    base::MutexLock lock(&mu_);
    if (epoch == epoch_) --live_;
  };
  const std::string name = NewName();
  absl::StatusOr<std::shared_ptr<shm::Region>> memory =
      CreateObject(name, kShmDataOffset + capacity);
  if (!memory.ok()) {
    unreserve();
    return memory.status();
  }
  absl::StatusOr<uint64_t> region = registrar(name, kShmDataOffset + capacity);
  // Registered (the shard mapped it) or refused: the name is not needed any more.
  shm_unlink(name.c_str());
  if (!region.ok()) {
    unreserve();
    return region.status();
  }
  return ShmSlot{*std::move(memory), *region, capacity, epoch};
}

std::optional<uint64_t> ShmSlotPool::Give(ShmSlot slot) {
  std::optional<uint64_t> unregister;
  std::vector<ShmSlot> dropped;  // unmapped outside the lock
  {
    base::MutexLock lock(&mu_);
    if (slot.epoch != epoch_) return std::nullopt;  // the shard forgot it
    if (free_bytes_ + slot.capacity > options_.keep_bytes) {
      --live_;
      unregister = slot.region;
      dropped.push_back(std::move(slot));
    } else {
      free_bytes_ += slot.capacity;
      const int64_t capacity = slot.capacity;
      free_.emplace(capacity, std::move(slot));
    }
  }
  return unregister;
}

void ShmSlotPool::Invalidate() {
  std::multimap<int64_t, ShmSlot> dropped;  // unmapped outside the lock
  base::MutexLock lock(&mu_);
  ++epoch_;
  live_ = 0;
  free_bytes_ = 0;
  dropped.swap(free_);
}

int ShmSlotPool::live_slots() const {
  base::MutexLock lock(&mu_);
  return live_;
}

int ShmSlotPool::free_slots() const {
  base::MutexLock lock(&mu_);
  return static_cast<int>(free_.size());
}

}  // namespace mxgrid::services::internal
