#include "libs/kvstore/shm_regions.h"

#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"

namespace mxgrid::kvstore {
namespace {

absl::Status Unknown(const std::string& job, int rank, uint64_t id) {
  return absl::NotFoundError(absl::StrCat(
      "kvstore: shared-memory region ", id, " is not registered by rank ", rank, " of job ",
      Quoted(job), " (the shard restarted or the rank left?); call RegisterShardShm again"));
}

}  // namespace

absl::StatusOr<uint64_t> ShmRegions::Register(const std::string& job, int rank,
                                              absl::string_view name, int64_t byte_size) {
  {
    base::MutexLock lock(&mu_);
    auto it = regions_.find(Owner(job, rank));
    if (it != regions_.end() && it->second.size() >= kMaxShmRegionsPerRank) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "kvstore: rank ", rank, " of job ", Quoted(job), " already holds ",
          kMaxShmRegionsPerRank, " shared-memory regions; unregister some first"));
    }
  }
  // Opened (and its pages populated) outside the lock: other ranks' calls go on.
  absl::StatusOr<std::shared_ptr<shm::Region>> region = shm::Region::Open(name, byte_size);
  if (!region.ok()) return region.status();
  base::MutexLock lock(&mu_);
  auto& mine = regions_[Owner(job, rank)];
  if (mine.size() >= kMaxShmRegionsPerRank) {  // concurrent registrations raced past the check
    return absl::ResourceExhaustedError(absl::StrCat(
        "kvstore: rank ", rank, " of job ", Quoted(job), " already holds ",
        kMaxShmRegionsPerRank, " shared-memory regions; unregister some first"));
  }
  const uint64_t id = next_id_++;
  mine.emplace(id, *std::move(region));
  return id;
}

absl::Status ShmRegions::Unregister(const std::string& job, int rank, uint64_t id) {
  std::shared_ptr<const shm::Region> gone;  // unmapped outside the lock
  {
    base::MutexLock lock(&mu_);
    auto it = regions_.find(Owner(job, rank));
    if (it == regions_.end()) return Unknown(job, rank, id);
    auto r = it->second.find(id);
    if (r == it->second.end()) return Unknown(job, rank, id);
    gone = std::move(r->second);
    it->second.erase(r);
    if (it->second.empty()) regions_.erase(it);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const shm::Region>> ShmRegions::Find(const std::string& job,
                                                                    int rank,
                                                                    uint64_t id) const {
  base::MutexLock lock(&mu_);
  auto it = regions_.find(Owner(job, rank));
  if (it == regions_.end()) return Unknown(job, rank, id);
  auto r = it->second.find(id);
  if (r == it->second.end()) return Unknown(job, rank, id);
  return r->second;
}

void ShmRegions::DropRank(const std::string& job, int rank) {
  std::map<uint64_t, std::shared_ptr<const shm::Region>> gone;  // unmapped outside the lock
  {
    base::MutexLock lock(&mu_);
    auto it = regions_.find(Owner(job, rank));
    if (it == regions_.end()) return;
    gone = std::move(it->second);
    regions_.erase(it);
  }
}

void ShmRegions::DropJob(const std::string& job) {
  std::vector<std::map<uint64_t, std::shared_ptr<const shm::Region>>> gone;  // unmapped later
  base::MutexLock lock(&mu_);
  for (auto it = regions_.lower_bound(Owner(job, std::numeric_limits<int>::min()));
       it != regions_.end() && it->first.first == job;) {
    gone.push_back(std::move(it->second));
    it = regions_.erase(it);
  }
}

int ShmRegions::size() const {
  base::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [owner, mine] : regions_) n += static_cast<int>(mine.size());
  return n;
}

}  // namespace mxgrid::kvstore
