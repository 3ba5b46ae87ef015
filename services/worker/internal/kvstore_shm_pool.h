// ShmSlotPool: shared-memory slots that one (job, rank) of a worker registered with one
// parameter-server shard (kvstore.proto RegisterShardShm), reused across pushes and pulls of
// large values. The C++ analogue of the Python client's pool (clients/python/mxgrid/_shm.py):
//
// - a slot is one POSIX shared-memory object of a size class (at least 256 KiB, a power of
//   two plus eighths: under 1/8 wasted), its value kShmDataOffset bytes in;
// - it is created with O_EXCL under an unguessable name, given its pages (posix_fallocate),
//   mapped with every page touched once (shm::Region::Open populates it: no page faults when
//   reused), registered, then unlinked at once, so nothing is left behind if the process
//   dies: the shard's mapping and ours keep the memory until both are gone;
// - free slots are kept up to `keep_bytes`; a slot given back past that is unmapped here and
//   its region returned to the caller to unregister.
//
//   ShmSlotPool pool({});
//   MXGRID_ASSIGN_OR_RETURN(ShmSlot slot, pool.Take(value.nbytes(), register_with_shard));
//   MXGRID_RETURN_IF_ERROR(slot.memory->Write(kShmDataOffset, value.data(), value.nbytes()));
//   ... a Push naming slot.region at kShmDataOffset ...
//   if (std::optional<uint64_t> gone = pool.Give(std::move(slot))) unregister(*gone);
//
// Invalidate() forgets every slot when the shard no longer knows them (it restarted, or the
// rank left): slots lent out then are dropped when given back. Free of gRPC: registration is
// the caller's function.
//
// Thread-safety: thread-safe; Take may run the registration concurrently for several slots.
#ifndef MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHM_POOL_H_
#define MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHM_POOL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "libs/base/mutex.h"
#include "libs/shm/region.h"

namespace mxgrid::services::internal {

// Where a value starts in its slot: half a page off page starts (see _shm.py: AMD's 4 KiB
// aliasing penalty of memcpy against arrays that start at or just past a page boundary), and
// a multiple of 64 so that the shard can use the bytes as an array in place.
inline constexpr int64_t kShmDataOffset = 2048;
// Values smaller than this go by message (a unary call is as fast).
inline constexpr int64_t kShmMinBytes = int64_t{256} << 10;

// The slot capacity for `bytes`: at least kShmMinBytes, rounded up to 2^k * (1 + j/8).
int64_t ShmSizeClass(int64_t bytes);

struct ShmSlot {
  // This process's mapping of the object (bounds-checked copies).
  std::shared_ptr<shm::Region> memory;
  // The shard's id of the region.
  uint64_t region = 0;
  // Value bytes the slot holds from kShmDataOffset.
  int64_t capacity = 0;
  // Invalidate() count when it was made.
  uint64_t epoch = 0;
};

struct ShmSlotPoolOptions {
  // Bytes of free slots kept for reuse.
  int64_t keep_bytes = int64_t{512} << 20;
  // Slots (lent and free) at most: the shard allows 256 regions per rank.
  int max_slots = 224;
};

class ShmSlotPool {
 public:
  // Registers object `name` of `byte_size` bytes with the shard; the region id.
  using Registrar =
      std::function<absl::StatusOr<uint64_t>(const std::string& name, int64_t byte_size)>;

  explicit ShmSlotPool(ShmSlotPoolOptions options) : options_(options) {}
  ShmSlotPool(const ShmSlotPool&) = delete;
  ShmSlotPool& operator=(const ShmSlotPool&) = delete;

  // A slot holding at least `bytes` value bytes: the smallest free one of at most four times
  // its size class, else a new one registered with `registrar`. ResourceExhausted at
  // max_slots; Internal when the object cannot be created; the registrar's error (the object
  // is gone again then).
  absl::StatusOr<ShmSlot> Take(int64_t bytes, const Registrar& registrar)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns a slot taken from this pool. The region to unregister when the slot was dropped
  // for the keep limit (nothing when dropped as invalidated: the shard forgot it already).
  std::optional<uint64_t> Give(ShmSlot slot) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets every slot: free ones now, lent ones when given back.
  void Invalidate() ABSL_LOCKS_EXCLUDED(mu_);

  int live_slots() const ABSL_LOCKS_EXCLUDED(mu_);
  int free_slots() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const ShmSlotPoolOptions options_;
  mutable base::Mutex mu_;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int live_ ABSL_GUARDED_BY(mu_) = 0;  // slots of this epoch, lent, free or being made
  int64_t free_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::multimap<int64_t, ShmSlot> free_ ABSL_GUARDED_BY(mu_);  // by capacity
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_WORKER_INTERNAL_KVSTORE_SHM_POOL_H_
