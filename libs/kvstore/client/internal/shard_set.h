// ShardSet: the connections of one dist KVStore client to all its shards, with the client's
// retry policy: a call that fails UNAVAILABLE is retried with exponential backoff, after a
// fresh JoinJob (the shard may have restarted from a snapshot and forgotten the rank), until
// the retry deadline; every error that comes back names the shard.
//
//   auto shards = std::make_shared<ShardSet>(std::move(connections), membership, policy);
//   shards->Call(0, absl::Now() + absl::Seconds(60),
//                [](ShardConnection& c, absl::Time deadline, Done done) {
//                  c.Barrier("job", 0, deadline, std::move(done));
//                },
//                [](absl::Status s) { ... });
//
// Engine operations in flight hold the ShardSet through a shared_ptr, so it outlives the
// DistStore that made it; Close() makes later retries fail at once and cancels the calls in
// flight.
//
// Thread-safety: thread-safe. Callbacks run on the connections' threads or the timer's.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_SHARD_SET_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_SHARD_SET_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/base/mutex.h"
#include "libs/kvstore/client/internal/timer.h"
#include "libs/kvstore/client/shard_connection.h"

namespace mxgrid::kvstore::client::internal {

struct RetryPolicy {
  // How long UNAVAILABLE calls are retried (from the first attempt).
  absl::Duration retry_timeout = absl::Seconds(60);
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  // The deadline of the JoinJob sent before a retry.
  absl::Duration join_timeout = absl::Seconds(10);
};

// One attempt of a call on a connection, with its deadline.
using ShardOp = std::function<void(ShardConnection&, absl::Time, Done)>;

class ShardSet : public std::enable_shared_from_this<ShardSet> {
 public:
  // REQUIRES: connections non-empty, none null; held by a shared_ptr (callbacks keep it
  // alive); Close() called before the last reference goes, from a thread that is not a
  // callback of the set.
  ShardSet(std::vector<std::unique_ptr<ShardConnection>> connections, Membership membership,
           RetryPolicy policy);
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  int size() const { return static_cast<int>(connections_.size()); }
  const Membership& membership() const { return membership_; }
  ShardConnection& connection(int shard) const { return *connections_[shard]; }
  // "kvstore shard 1 (host:port)".
  std::string Name(int shard) const;

  // Runs `op` on `shard` with `deadline` per attempt, retrying UNAVAILABLE (see the file
  // comment); `done` gets the final status, an error prefixed with the shard's Name.
  void Call(int shard, absl::Time deadline, ShardOp op, Done done) ABSL_LOCKS_EXCLUDED(mu_);
  // JoinJob on `shard`, retried the same way.
  void Join(int shard, absl::Time deadline, std::function<void(absl::StatusOr<JobInfo>)> done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Holds every connection (ShardConnection::Hold) for its lifetime, so that the calls made
  // meanwhile go out together, per shard, when it ends (from its thread).
  //   { ShardSet::Held held(*shards); for (...) shards->Call(...); }
  class Held {
   public:
    explicit Held(ShardSet& shards) : shards_(shards) {
      for (const auto& c : shards_.connections_) c->Hold();
    }
    ~Held() {
      for (const auto& c : shards_.connections_) c->Release();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    ShardSet& shards_;
  };

  // Later retries fail with CANCELLED; calls in flight are cancelled. Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);
  bool closed() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Attempt(int shard, absl::Time deadline, absl::Time retry_until, absl::Duration backoff,
               bool rejoin, ShardOp op, Done done) ABSL_LOCKS_EXCLUDED(mu_);
  void JoinAttempt(int shard, absl::Time deadline, absl::Time retry_until,
                   absl::Duration backoff, std::function<void(absl::StatusOr<JobInfo>)> done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `fn` after `delay` on the timer, or at once when closed.
  void After(absl::Duration delay, std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Named(int shard, const absl::Status& s) const;

  const std::vector<std::unique_ptr<ShardConnection>> connections_;
  const Membership membership_;
  const RetryPolicy policy_;
  mutable base::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Null once closed. unique_ptr: destroyed (joined) by Close, outside any callback.
  std::unique_ptr<Timer> timer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mxgrid::kvstore::client::internal

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_SHARD_SET_H_
