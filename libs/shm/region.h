// Region: a POSIX shared-memory object a client created (shm_open + ftruncate) and this
// process maps, so that same-host clients move array bytes through memory instead of
// messages (Triton's system shared-memory extension; worker.proto's RegisterShm).
//
//   MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<shm::Region> r,
//                           shm::Region::Open("/mxgrid-4242-0", 64 << 20));
//   MXGRID_RETURN_IF_ERROR(r->Read(/*offset=*/0, dst, nbytes));   // region -> dst
//   MXGRID_RETURN_IF_ERROR(r->Write(/*offset=*/0, src, nbytes));  // src -> region
//
// The client is not trusted: every range is bounds-checked against the registered size,
// and a client that shrinks its object after registering it (even during a copy) cannot
// crash this process: the mapping is guarded (internal/sigbus_guard.h), a copy that touched
// the missing pages fails, and so does every later one (the region is "poisoned"; register
// it again). The mapping is populated up front (MAP_POPULATE), so copies take no page faults.
//
// Ownership: the client owns the object (and unlinks it); a Region owns its mapping and
// file descriptor, released on destruction. Callers share a Region through shared_ptr so
// that a copy in flight keeps the mapping alive past an unregistration.
//
// Thread-safety: thread-safe; concurrent copies to one range are the client's race.
#ifndef MXGRID_LIBS_SHM_REGION_H_
#define MXGRID_LIBS_SHM_REGION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxgrid::shm {

// The largest region Open accepts (1 TiB): keeps offset arithmetic far from overflow.
inline constexpr int64_t kMaxRegionBytes = int64_t{1} << 40;

// OK for a POSIX shared-memory name: "/" then 1 to 250 characters of [A-Za-z0-9._-], not
// "." or ".." (no path can escape /dev/shm). InvalidArgument otherwise.
absl::Status CheckRegionName(absl::string_view name);

class Region {
 public:
  // Opens the object `name` read-write and maps its first `byte_size` bytes.
  // InvalidArgument for a bad name (CheckRegionName) or byte_size outside
  // [1, kMaxRegionBytes]; FailedPrecondition when the object cannot be opened (none of that
  // name on this host: the client runs elsewhere; no permission), is not a regular
  // shared-memory file, or is smaller than byte_size; ResourceExhausted when the mapping
  // fails for lack of memory or too many regions are mapped.
  static absl::StatusOr<std::shared_ptr<Region>> Open(absl::string_view name, int64_t byte_size);

  // Use Open. Takes ownership of `fd` and the mapping at `base`.
  struct Token {
   private:
    friend class Region;
    Token() = default;
  };
  Region(Token, std::string name, int fd, void* base, int64_t byte_size);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  const std::string& name() const { return name_; }
  int64_t byte_size() const { return byte_size_; }

  // InvalidArgument unless 0 <= offset, 0 <= bytes and offset + bytes <= byte_size().
  absl::Status CheckRange(int64_t offset, int64_t bytes) const;

  // Copies `bytes` bytes at `offset` of the region into `dst` / from `src` (with several
  // threads when large). InvalidArgument for a range outside the region (CheckRange);
  // FailedPrecondition when the client shrank the object below the range before or during
  // the copy, or did so earlier (poisoned).
  absl::Status Read(int64_t offset, void* dst, int64_t bytes) const;
  absl::Status Write(int64_t offset, const void* src, int64_t bytes) const;

  // The address of [offset, offset + bytes), for memory used in place (an upload the
  // worker adopts as an array's storage). Valid while this Region lives; if the client
  // shrinks the object meanwhile, the missing pages read as zeros (the guard maps them) and
  // the region is poisoned. Errors as Read.
  absl::StatusOr<void*> Address(int64_t offset, int64_t bytes) const;
  // Atomically stores `value` into the 8-byte word at `offset` (release order), e.g. to
  // tell the client it may reuse adopted bytes. InvalidArgument for a range outside the
  // region or an offset not a multiple of 8; FailedPrecondition as Read.
  absl::Status StoreWord(int64_t offset, uint64_t value) const;

  // Whether a truncation was detected (every copy fails from then on).
  bool poisoned() const { return poisoned_.load(std::memory_order_relaxed); }

 private:
  // OK when the object still holds [offset, offset + bytes) and the region is not poisoned.
  absl::Status CheckAlive(int64_t offset, int64_t bytes) const;

  const std::string name_;
  const int fd_;
  char* const base_;
  const int64_t byte_size_;
  // Set by the SIGBUS handler; read by copies. Must outlive the guard slot.
  mutable std::atomic<bool> poisoned_{false};
  int guard_slot_ = -1;  // Set once in Open, before the Region is shared.
};

}  // namespace mxgrid::shm

#endif  // MXGRID_LIBS_SHM_REGION_H_
