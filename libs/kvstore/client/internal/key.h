// DistStore::Key: one initialized key of a DistStore — its shape, dtype, optimizer index and
// parts, the engine variable that orders the key's pushes before its pulls, and the error of
// its latest failed push (reported by the next pull). Shared by the store and the engine
// operations on the key.
//
// Thread-safety: meta and var are immutable after construction; push_error is guarded.
#ifndef MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_KEY_H_
#define MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_KEY_H_

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/base/mutex.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/client/dist_store.h"
#include "libs/kvstore/client/internal/completion.h"
#include "libs/kvstore/client/internal/shard_set.h"

namespace mxgrid::kvstore::client {

struct DistStore::Key {
  Key() : var(engine::Get()->NewVariable()) {}
  // The variable goes once the operations pushed on it are done.
  ~Key() { engine::Get()->DeleteVariable([](const engine::RunContext&) {}, Context::Cpu(), var); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  std::string name;
  KeyMeta meta;
  const engine::VarHandle var;

  base::Mutex mu;
  absl::Status push_error ABSL_GUARDED_BY(mu);
  // The error of the latest PushPull's shard calls, handed to its out by the operation
  // after it (so that the key's variable stays clean).
  absl::Status push_pull_error ABSL_GUARDED_BY(mu);
};

namespace internal {

// Takes the error of `k`'s latest failed push (clearing it), as the pull after it reports
// it: "the push before this pull failed: ..."; OK when there is none.
inline absl::Status TakePushError(DistStore::Key& k) {
  absl::Status push_error;
  {
    base::MutexLock lock(&k.mu);
    push_error = std::exchange(k.push_error, absl::OkStatus());
  }
  if (push_error.ok()) return push_error;
  return absl::Status(push_error.code(), absl::StrCat("the push before this pull failed: ",
                                                      push_error.message()));
}

// Calls `call(connection, ref, i, deadline, done)` for each part i of `k` on its shard,
// through the shard set's retries; `done` once every part answered, with the first error.
template <typename PartCall>
void ForEachPart(ShardSet& shards, const DistStore::Key& k, const Membership& membership,
                 absl::Time deadline, PartCall call, Done done) {
  Done all = FanIn(static_cast<int>(k.meta.parts.size()), std::move(done));
  for (size_t i = 0; i < k.meta.parts.size(); ++i) {
    const PartRange& p = k.meta.parts[i];
    KeyRef ref{membership.job, k.name, p.part, membership.rank};
    shards.Call(p.shard, deadline,
                [ref, i, call](ShardConnection& c, absl::Time d, Done part_done) {
                  call(c, ref, i, d, std::move(part_done));
                },
                all);
  }
}

}  // namespace internal
}  // namespace mxgrid::kvstore::client

#endif  // MXGRID_LIBS_KVSTORE_CLIENT_INTERNAL_KEY_H_
