// ShmRegions: the shared-memory regions that the ranks of a shard's jobs registered
// (kvstore.proto RegisterShardShm), so that a same-host worker moves pushed and pulled values
// through memory instead of messages. Free of gRPC; the mapping, its bounds checks and its
// guard against truncation are libs/shm's Region.
//
//   ShmRegions regions;
//   MXGRID_ASSIGN_OR_RETURN(uint64_t id, regions.Register("mnist", 1, "/mxgrid-kv-..", 8 << 20));
//   MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const shm::Region> r, regions.Find("mnist", 1, id));
//   regions.DropRank("mnist", 1);  // LeaveJob: every region of the rank is unmapped
//
// A region belongs to one (job, rank): ids name regions of that pair only, so a rank cannot
// reach another's memory by guessing ids. Membership (job known, rank joined) is the
// caller's check. Regions are shared (shared_ptr) so that a copy in flight keeps its mapping
// past an unregistration; the mapping goes when the last user lets go.
//
// Thread-safety: thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_SHM_REGIONS_H_
#define MXGRID_LIBS_KVSTORE_SHM_REGIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/base/mutex.h"
#include "libs/shm/region.h"

namespace mxgrid::kvstore {

// Regions one (job, rank) may hold at once (kvstore.proto).
inline constexpr int kMaxShmRegionsPerRank = 256;

class ShmRegions {
 public:
  ShmRegions() = default;
  ShmRegions(const ShmRegions&) = delete;
  ShmRegions& operator=(const ShmRegions&) = delete;

  // Maps `byte_size` bytes of object `name` for (job, rank); its id (never 0, never reused).
  // Errors of shm::Region::Open; ResourceExhausted when the rank holds
  // kMaxShmRegionsPerRank regions.
  absl::StatusOr<uint64_t> Register(const std::string& job, int rank, absl::string_view name,
                                    int64_t byte_size) ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an id (job, rank) does not hold.
  absl::Status Unregister(const std::string& job, int rank, uint64_t id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound for an id (job, rank) does not hold.
  absl::StatusOr<std::shared_ptr<const shm::Region>> Find(const std::string& job, int rank,
                                                          uint64_t id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets every region of (job, rank) (the rank left).
  void DropRank(const std::string& job, int rank) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets every region of every rank of `job` (the job was removed).
  void DropJob(const std::string& job) ABSL_LOCKS_EXCLUDED(mu_);
  // Regions held in all.
  int size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Owner = std::pair<std::string, int>;

  mutable base::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<Owner, std::map<uint64_t, std::shared_ptr<const shm::Region>>> regions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_SHM_REGIONS_H_
