// Snapshots of a shard's jobs: what a snapshot holds (JobSnapshot) and its file format.
//
//   std::vector<JobSnapshot> jobs = ...;            // Job::Capture() of each job
//   MXGRID_RETURN_IF_ERROR(WriteSnapshot(jobs, file));   // any SnapshotSink
//   MXGRID_ASSIGN_OR_RETURN(std::vector<JobSnapshot> back, ReadSnapshot(bytes));
//
// Format (little-endian): "MXKVSNAP" magic, u32 version (2; 1 is read too), u64 payload
// bytes, the payload,
// then u32 CRC32C of the payload. Payload: u32 jobs, then per job: str name, i32
// num_workers, u8 sync, i64 heartbeat_timeout_ms, u32 keys, per key (in init order): str
// key, i32 part, i32 index, i64 applied_rounds, i32 dtype, u32 ndim, i64 dims..., u64 bytes,
// the value's bytes; u8 has_optimizer, and with one: str name, u32 params, (str, str)...,
// (version 2) the lr then the wd multipliers, each u32 count, (str key, f64)...; u32 states, per state: i32 slot (the key's position), i64 update_count, u32 arrays, per
// array: i32 dtype, u32 ndim, i64 dims..., u64 bytes, bytes. str = u32 length + bytes.
// Members are not stored: ranks join again after a restore.
//
// Thread-safety: the functions are thread-safe; a SnapshotSink is used by one thread.
#ifndef MXGRID_LIBS_KVSTORE_SNAPSHOT_H_
#define MXGRID_LIBS_KVSTORE_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "libs/kvstore/optimizer.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore {

struct KeySnapshot {
  std::string key;
  int part = 0;
  int index = 0;  // the client's optimizer index
  int64_t applied_rounds = 0;
  tensor::NDArray value;  // CPU, readable (waited for)
};

struct JobSnapshot {
  std::string name;
  int num_workers = 1;
  bool sync = true;
  int64_t heartbeat_timeout_ms = 0;
  std::vector<KeySnapshot> keys;  // init order; a key's optimizer slot is its position
  bool has_optimizer = false;
  std::string optimizer_name;
  std::map<std::string, std::string> optimizer_params;
  KeyMultipliers optimizer_mults;  // version 2 on; empty in version 1 files
  // OptimizerIndexState::index is the key's slot (its position in `keys`).
  std::vector<OptimizerIndexState> optimizer_states;

  // Least applied rounds over the keys (0 without keys).
  int64_t Round() const;
};

// Where WriteSnapshot puts its bytes (a file, a string).
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  virtual absl::Status Append(absl::string_view bytes) = 0;
};

class StringSink final : public SnapshotSink {
 public:
  absl::Status Append(absl::string_view bytes) override {
    out.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  std::string out;
};

// Writes `jobs` in the format above; the bytes written.
absl::StatusOr<int64_t> WriteSnapshot(absl::Span<const JobSnapshot> jobs, SnapshotSink* sink);

// Parses a whole snapshot. DataLoss (saying what is wrong) for a bad magic, an unknown
// version, a truncated file, a checksum mismatch or a malformed payload.
absl::StatusOr<std::vector<JobSnapshot>> ReadSnapshot(absl::string_view bytes);

// A CPU array in plain heap memory (std::aligned_alloc) for snapshot copies: its pages fault
// in 4 KiB at a time, where the tensor allocator's huge-page blocks may stall in memory
// compaction on a fragmented host (seconds per GiB). InvalidArgument for a bad shape;
// ResourceExhausted when the memory is not there.
absl::StatusOr<tensor::NDArray> NewHostArray(const Shape& shape, DType dtype);

// CRC32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
uint32_t Crc32c(uint32_t crc, absl::string_view data);

}  // namespace mxgrid::kvstore

#endif  // MXGRID_LIBS_KVSTORE_SNAPSHOT_H_
