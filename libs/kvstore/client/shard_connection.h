// ShardConnection: the transport from a dist KVStore client (the worker's DistStore) to ONE
// parameter-server shard (mxgrid-kvstore, proto/mxgrid/v1/kvstore.proto), in mxgrid's own
// types. Free of gRPC: services/worker/internal/kvstore_shards.h implements it over gRPC; tests
// use in-memory doubles.
//
//   conn->Push({.job = "j", .key = "3", .part = 0, .rank = 1}, grad, absl::Now() + timeout,
//              [](absl::Status s) { ... });  // returns at once; the callback runs later
//
// Every call is asynchronous: it returns at once and calls its completion callback exactly
// once, from any thread (possibly the calling one, before it returns), with the shard's
// status or the transport's (UNAVAILABLE: the shard could not be reached; DEADLINE_EXCEEDED:
// `deadline` passed; CANCELLED: Cancel()). Callers must not hold locks the callback takes.
//
// Arrays: values sent (Init, Push, PushPull, SetOptimizerStates) are CPU arrays the caller
// keeps readable, and unchanged, until the callback ran (inside an engine operation that
// reads them, or arrays nobody else writes). Pull and PushPull write into `out`, a CPU array
// the caller keeps writable until the callback (an engine operation that writes it): the
// shard's value must have out's element count and dtype (it may be a 1-D range of a larger
// array), else INVALID_ARGUMENT and out is left partly written.
//
// Thread-safety: implementations are thread-safe.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_SHARD_CONNECTION_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_SHARD_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kvstore/optimizer.h"
#include "libs/kvstore/part_rows.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::kvstore::client {

// dist_sync (rounds over the active ranks) or dist_async (each push applied at once).
enum class Mode { kUnspecified, kSync, kAsync };

// What JoinJob sends: this rank's membership in a job.
struct Membership {
  std::string job;
  int rank = 0;
  // 0: the shard's --num_workers.
  int num_workers = 0;
  Mode mode = Mode::kUnspecified;
  // Zero: the shard's --heartbeat_timeout.
  absl::Duration heartbeat_timeout = absl::ZeroDuration();
};

// The job as the shard holds it (JoinJobResponse).
struct JobInfo {
  int num_workers = 0;
  Mode mode = Mode::kUnspecified;
  absl::Duration heartbeat_timeout = absl::ZeroDuration();
  int64_t restored_round = 0;
  int restored_keys = 0;
};

// Which stored array a call is about (kvstore.proto KeyRef).
struct KeyRef {
  std::string job;
  std::string key;
  int part = 0;
  int rank = 0;
};

// The optimizer state of one (key, part) (kvstore.proto OptimizerState).
struct PartState {
  std::string key;
  int part = 0;
  int index = 0;
  int64_t update_count = 0;
  std::vector<tensor::NDArray> arrays;  // CPU
};

using Done = std::function<void(absl::Status)>;

class ShardConnection {
 public:
  virtual ~ShardConnection() = default;

  // The shard's address (host:port), for error messages.
  virtual const std::string& address() const = 0;

  virtual void JoinJob(const Membership& membership, absl::Time deadline,
                       std::function<void(absl::StatusOr<JobInfo>)> done) = 0;
  virtual void Heartbeat(const std::string& job, int rank, absl::Time deadline, Done done) = 0;
  virtual void LeaveJob(const std::string& job, int rank, absl::Time deadline, Done done) = 0;
  virtual void Barrier(const std::string& job, int rank, absl::Time deadline, Done done) = 0;

  // Init of `value` (the key's part) with optimizer index `index`.
  virtual void Init(const KeyRef& ref, int index, const tensor::NDArray& value,
                    absl::Time deadline, Done done) = 0;
  virtual void Push(const KeyRef& ref, const tensor::NDArray& value, absl::Time deadline,
                    Done done) = 0;
  // The stored value of ref's part, in out's dtype, written into `out`.
  virtual void Pull(const KeyRef& ref, const tensor::NDArray& out, absl::Time deadline,
                    Done done) = 0;
  // Push of `value` then Pull into `out` for the same ref, as one exchange where the
  // transport allows (kvstore.proto PushPull: one round trip); `value` and `out` follow the
  // rules of Push and Pull. A failed push ends the call with its error, out untouched.
  virtual void PushPull(const KeyRef& ref, const tensor::NDArray& value,
                        const tensor::NDArray& out, absl::Time deadline, Done done) = 0;

  // Row-sparse push of ref's part (kvstore.proto PushRequest.rows): `value` (1-D, the key's
  // dtype, rows.total() elements) holds the pieces of `rows` in the part, in id order.
  virtual void PushRows(const KeyRef& ref, const PartRows& rows, const tensor::NDArray& value,
                        absl::Time deadline, Done done) = 0;
  // kv.row_sparse_pull of ref's part: the pieces of `rows` written into `out` (1-D,
  // rows.total() elements, any dtype: converted), as Pull waits for the rank's rounds.
  virtual void PullRows(const KeyRef& ref, const PartRows& rows, const tensor::NDArray& out,
                        absl::Time deadline, Done done) = 0;

  virtual void SetOptimizer(const std::string& job, int rank, const std::string& name,
                            const std::map<std::string, std::string>& params,
                            const KeyMultipliers& mults, absl::Time deadline, Done done) = 0;
  virtual void GetOptimizerStates(
      const std::string& job, absl::Time deadline,
      std::function<void(absl::StatusOr<std::vector<PartState>>)> done) = 0;
  virtual void SetOptimizerStates(const std::string& job, std::vector<PartState> states,
                                  absl::Time deadline, Done done) = 0;

  // Coalescing, for transports that batch small calls: while held (Hold() calls not yet
  // matched by Release()), calls may wait in the connection instead of going out one by
  // one; the last Release() sends what waits, from its own thread. So a caller that issues
  // a set of calls at once (a list of keys in one engine operation) gets them into one
  // message. Calls made by other threads meanwhile may wait too, until that Release. A
  // transport that sends each call at once needs neither, hence the empty defaults.
  virtual void Hold() {}
  virtual void Release() {}

  // Ends every call in flight with CANCELLED (calls made afterwards still run).
  virtual void CancelAll() = 0;
};

}  // namespace mxgrid::kvstore::client

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_SHARD_CONNECTION_H_
