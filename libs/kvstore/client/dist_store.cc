// DistStore: creation, membership (heartbeats, Close), Init, Barrier and the optimizer.
// Push and Pull are in dist_store_ops.cc.
#include "libs/kvstore/client/dist_store.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/kvstore/client/internal/completion.h"
#include "libs/kvstore/client/internal/key.h"

namespace mxgrid::kvstore::client {
namespace {

using internal::MakeWaiter;
using tensor::NDArray;

// The int of a key that is an int's canonical decimal text ("12", "-3"; not "012", "+3"),
// as libs/kvstore/store.h and MXNet's int keys.
bool ParseIntKey(const std::string& key, int* value) {
  return absl::SimpleAtoi(key, value) && absl::StrCat(*value) == key;
}

// Waits for the shard calls' own deadlines to report before giving up on them.
constexpr absl::Duration kGrace = absl::Seconds(2);

}  // namespace

absl::StatusOr<std::unique_ptr<DistStore>> DistStore::Create(
    std::vector<std::unique_ptr<ShardConnection>> connections, DistStoreOptions options,
    absl::Time deadline) {
  const Membership& m = options.membership;
  if (m.job.empty()) return absl::InvalidArgumentError("dist kvstore: the job name is empty");
  if (m.num_workers < 0 || m.rank < 0 || (m.num_workers > 0 && m.rank >= m.num_workers)) {
    return absl::InvalidArgumentError(absl::StrCat("dist kvstore: rank ", m.rank,
                                                   " is outside [0, num_workers = ",
                                                   m.num_workers, ")"));
  }
  if (connections.empty()) {
    return absl::FailedPreconditionError("dist kvstore: no kvstore shards given");
  }
  if (options.bigarray_bound <= 0) options.bigarray_bound = kDefaultBigArrayBound;
  auto shards = std::make_shared<internal::ShardSet>(std::move(connections), m, options.retry);
  const int n = shards->size();

  struct Joined {
    base::Mutex mu;
    std::vector<JobInfo> info ABSL_GUARDED_BY(mu);
  };
  auto joined = std::make_shared<Joined>();
  {
    base::MutexLock lock(&joined->mu);
    joined->info.resize(n);
  }
  auto waiter = MakeWaiter(n);
  for (int i = 0; i < n; ++i) {
    shards->Join(i, deadline, [i, joined, done = waiter->Callback()](absl::StatusOr<JobInfo> r) {
      if (r.ok()) {
        base::MutexLock lock(&joined->mu);
        joined->info[i] = *r;
      }
      done(r.status());
    });
  }
  absl::Status status = waiter->Wait(deadline + kGrace, "dist kvstore: JoinJob");
  std::vector<JobInfo> info;
  {
    base::MutexLock lock(&joined->mu);
    info = joined->info;
  }
  if (status.ok()) {
    for (int i = 1; i < n && status.ok(); ++i) {
      if (info[i].num_workers != info[0].num_workers || info[i].mode != info[0].mode) {
        status = absl::FailedPreconditionError(absl::StrCat(
            "dist kvstore: the shards disagree on job ", Quoted(m.job), ": ", shards->Name(0),
            " has ", info[0].num_workers, " workers, ", shards->Name(i), " has ",
            info[i].num_workers, " (restart the shards or use another job name)"));
      }
    }
  }
  if (status.ok() && m.rank >= info[0].num_workers) {
    status = absl::InvalidArgumentError(absl::StrCat("dist kvstore: rank ", m.rank,
                                                     " is outside [0, num_workers = ",
                                                     info[0].num_workers, ") of job ",
                                                     Quoted(m.job)));
  }
  if (!status.ok()) {
    // Leave what was joined, so that nobody waits for this rank.
    auto left = MakeWaiter(n);
    const absl::Time leave_deadline = absl::Now() + options.leave_timeout;
    for (int i = 0; i < n; ++i) {
      shards->connection(i).LeaveJob(m.job, m.rank, leave_deadline, left->Callback());
    }
    left->Wait(leave_deadline + kGrace, "LeaveJob").IgnoreError();
    shards->Close();
    return status;
  }
  int64_t restored = 0;
  for (const JobInfo& j : info) restored = std::max(restored, j.restored_round);
  return std::unique_ptr<DistStore>(
      new DistStore(std::move(shards), std::move(options), info[0], restored));
}

DistStore::DistStore(std::shared_ptr<internal::ShardSet> shards, DistStoreOptions options,
                     JobInfo job, int64_t restored_round)
    : shards_(std::move(shards)),
      options_(std::move(options)),
      job_(job),
      restored_round_(restored_round),
      partition_(shards_->size(), options_.bigarray_bound) {
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

DistStore::~DistStore() { Close(); }

std::vector<std::string> DistStore::ShardAddresses() const {
  std::vector<std::string> out;
  for (int i = 0; i < shards_->size(); ++i) out.push_back(shards_->connection(i).address());
  return out;
}

absl::Status DistStore::CheckOpen() const {
  base::MutexLock lock(&mu_);
  if (closed_) return absl::FailedPreconditionError("dist kvstore: the store was closed");
  return absl::OkStatus();
}

void DistStore::Close() {
  {
    base::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    stop_cv_.SignalAll();
  }
  heartbeat_.join();
  const int n = shards_->size();
  auto left = MakeWaiter(n);
  const absl::Time deadline = absl::Now() + options_.leave_timeout;
  for (int i = 0; i < n; ++i) {
    shards_->connection(i).LeaveJob(options_.membership.job, options_.membership.rank, deadline,
                                    left->Callback());
  }
  left->Wait(deadline + kGrace, "LeaveJob").IgnoreError();  // best effort: we are going
  shards_->Close();
}

void DistStore::HeartbeatLoop() {
  absl::Duration timeout = job_.heartbeat_timeout;
  if (timeout <= absl::ZeroDuration()) timeout = options_.membership.heartbeat_timeout;
  if (timeout <= absl::ZeroDuration()) timeout = absl::Seconds(10);
  // Every timeout / 4; at least every 10 s (a job without a timeout still shows it lives).
  const absl::Duration interval =
      std::clamp(timeout / 4, absl::Milliseconds(20), absl::Seconds(10));
  const int n = shards_->size();
  // Per shard: a heartbeat in flight, and whether the shard forgot this rank (restarted).
  struct State {
    std::vector<std::atomic<bool>> busy;
    std::vector<std::atomic<bool>> rejoin;
    explicit State(int n) : busy(n), rejoin(n) {}
  };
  auto state = std::make_shared<State>(n);
  const Membership& m = options_.membership;
  mu_.Lock();
  while (!closed_) {
    mu_.Unlock();
    const absl::Time deadline = absl::Now() + 2 * interval;
    for (int i = 0; i < n; ++i) {
      if (state->busy[i].exchange(true)) continue;
      ShardConnection& c = shards_->connection(i);
      if (state->rejoin[i].load()) {
        c.JoinJob(m, deadline, [state, i](absl::StatusOr<JobInfo> r) {
          if (r.ok()) state->rejoin[i] = false;
          state->busy[i] = false;
        });
        continue;
      }
      c.Heartbeat(m.job, m.rank, deadline, [state, i](absl::Status s) {
        // UNAVAILABLE: the shard may come back without this rank; FAILED_PRECONDITION /
        // NOT_FOUND: it did (restarted without the job or the rank).
        if (s.code() == absl::StatusCode::kUnavailable ||
            s.code() == absl::StatusCode::kFailedPrecondition ||
            s.code() == absl::StatusCode::kNotFound) {
          state->rejoin[i] = true;
        }
        state->busy[i] = false;
      });
    }
    mu_.Lock();
    stop_cv_.WaitFor(absl::ToChronoNanoseconds(interval));
  }
  mu_.Unlock();
}

absl::StatusOr<std::shared_ptr<DistStore::Key>> DistStore::FindKey(const std::string& key) const {
  base::MutexLock lock(&mu_);
  if (closed_) return absl::FailedPreconditionError("dist kvstore: the store was closed");
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    return absl::NotFoundError(
        absl::StrCat("dist kvstore: key ", Quoted(key), " doesn't exist. Did you init?"));
  }
  return it->second;
}

absl::StatusOr<DistStore::KeyMeta> DistStore::Meta(const std::string& key) const {
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(key));
  return k->meta;
}

std::vector<std::string> DistStore::Keys() const {
  base::MutexLock lock(&mu_);
  return init_order_;
}

absl::Status DistStore::Init(absl::Span<const std::pair<std::string, NDArray>> pairs,
                             absl::Time deadline) {
  // One Init at a time: string keys' indices follow init order.
  base::MutexLock init_lock(&init_mu_);
  std::vector<std::shared_ptr<Key>> keys;
  {
    base::MutexLock lock(&mu_);
    if (closed_) return absl::FailedPreconditionError("dist kvstore: the store was closed");
    std::set<std::string> seen;
    int ints = num_int_keys_, strings = num_string_keys_;
    for (const auto& [name, value] : pairs) {
      if (name.empty()) return absl::InvalidArgumentError("dist kvstore init: an empty key");
      if (value.is_none()) {
        return absl::InvalidArgumentError(
            absl::StrCat("dist kvstore init: key ", Quoted(name), " has no value"));
      }
      if (keys_.count(name)) {
        return absl::AlreadyExistsError(
            absl::StrCat("dist kvstore init: duplicate init of key ", Quoted(name)));
      }
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("dist kvstore init: key ", Quoted(name), " given twice"));
      }
      int int_key = 0;
      const bool is_int = ParseIntKey(name, &int_key);
      if ((is_int && strings > 0) || (!is_int && ints > 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "dist kvstore init: key ", Quoted(name),
            ": mixed key types are not allowed (use int keys or string keys, not both)"));
      }
      auto k = std::make_shared<Key>();
      k->name = name;
      k->meta.shape = value.shape();
      k->meta.dtype = value.dtype();
      k->meta.index = is_int ? int_key : strings;
      k->meta.parts = partition_.Split(name, value.size());
      (is_int ? ints : strings)++;
      keys.push_back(std::move(k));
    }
  }
  // Snapshots on the CPU: the values may still be written (or be on a GPU); the copies are
  // read by the shard calls and by nobody else.
  std::vector<NDArray> flat;
  for (size_t i = 0; i < keys.size(); ++i) {
    MXGRID_ASSIGN_OR_RETURN(NDArray copy, pairs[i].second.CopyTo(Context::Cpu()));
    MXGRID_RETURN_IF_ERROR(engine::Get()->WaitForVarUntil(copy.var(), deadline));
    MXGRID_ASSIGN_OR_RETURN(NDArray f, copy.Reshape(Shape{copy.size()}));
    flat.push_back(std::move(f));
  }
  int calls = 0;
  for (const auto& k : keys) calls += static_cast<int>(k->meta.parts.size());
  if (calls > 0) {
    auto waiter = MakeWaiter(calls);
    const absl::Time call_deadline = std::min(deadline, absl::Now() + options_.call_timeout);
    for (size_t i = 0; i < keys.size(); ++i) {
      for (const PartRange& p : keys[i]->meta.parts) {
        MXGRID_ASSIGN_OR_RETURN(NDArray slice, flat[i].Slice(p.begin, p.end));
        KeyRef ref{options_.membership.job, keys[i]->name, p.part, options_.membership.rank};
        const int index = keys[i]->meta.index;
        shards_->Call(p.shard, call_deadline,
                      [ref, index, slice](ShardConnection& c, absl::Time d, Done done) {
                        c.Init(ref, index, slice, d, std::move(done));
                      },
                      waiter->Callback());
      }
    }
    MXGRID_RETURN_IF_ERROR(waiter->Wait(call_deadline + kGrace, "dist kvstore init"));
  }
  {
    base::MutexLock lock(&mu_);
    for (auto& k : keys) {
      if (keys_.count(k->name)) {
        return absl::AlreadyExistsError(
            absl::StrCat("dist kvstore init: duplicate init of key ", Quoted(k->name)));
      }
      int unused;
      (ParseIntKey(k->name, &unused) ? num_int_keys_ : num_string_keys_)++;
      init_order_.push_back(k->name);
      keys_.emplace(k->name, std::move(k));
    }
  }
  // MXNet: every worker passes a barrier after init, so no rank pulls before rank 0's
  // values are stored.
  return Barrier(deadline);
}

absl::Status DistStore::Barrier(absl::Time deadline) {
  MXGRID_RETURN_IF_ERROR(CheckOpen());
  // One shard's barrier orders every rank's earlier calls on all shards: each rank reaches
  // it only after its own calls completed. Shard 0 is every rank's choice.
  deadline = std::min(deadline, absl::Now() + options_.pull_timeout);
  auto waiter = MakeWaiter(1);
  const Membership& m = options_.membership;
  shards_->Call(0, deadline,
                [job = m.job, rank = m.rank](ShardConnection& c, absl::Time d, Done done) {
                  c.Barrier(job, rank, d, std::move(done));
                },
                waiter->Callback());
  return waiter->Wait(deadline + kGrace, "dist kvstore barrier");
}

absl::Status DistStore::SetOptimizer(const std::string& name,
                                     const std::map<std::string, std::string>& params,
                                     const KeyMultipliers& mults, absl::Time deadline) {
  MXGRID_RETURN_IF_ERROR(CheckOpen());
  deadline = std::min(deadline, absl::Now() + options_.call_timeout);
  const int n = shards_->size();
  auto waiter = MakeWaiter(n);
  const Membership& m = options_.membership;
  for (int i = 0; i < n; ++i) {
    shards_->Call(i, deadline,
                  [job = m.job, rank = m.rank, name, params, mults](ShardConnection& c,
                                                                    absl::Time d, Done done) {
                    c.SetOptimizer(job, rank, name, params, mults, d, std::move(done));
                  },
                  waiter->Callback());
  }
  return waiter->Wait(deadline + kGrace, "dist kvstore set_optimizer");
}

absl::StatusOr<std::vector<PartState>> DistStore::GetOptimizerStates(absl::Time deadline) {
  MXGRID_RETURN_IF_ERROR(CheckOpen());
  deadline = std::min(deadline, absl::Now() + options_.call_timeout);
  const int n = shards_->size();
  struct Collected {
    base::Mutex mu;
    std::vector<std::vector<PartState>> by_shard ABSL_GUARDED_BY(mu);
  };
  auto collected = std::make_shared<Collected>();
  {
    base::MutexLock lock(&collected->mu);
    collected->by_shard.resize(n);
  }
  auto waiter = MakeWaiter(n);
  const std::string job = options_.membership.job;
  for (int i = 0; i < n; ++i) {
    shards_->Call(i, deadline,
                  [job, i, collected](ShardConnection& c, absl::Time d, Done done) {
                    c.GetOptimizerStates(
                        job, d,
                        [i, collected, done](absl::StatusOr<std::vector<PartState>> states) {
                          if (states.ok()) {
                            base::MutexLock lock(&collected->mu);
                            collected->by_shard[i] = std::move(*states);
                          }
                          done(states.status());
                        });
                  },
                  waiter->Callback());
  }
  MXGRID_RETURN_IF_ERROR(waiter->Wait(deadline + kGrace, "dist kvstore optimizer states"));
  std::vector<PartState> out;
  base::MutexLock lock(&collected->mu);
  for (auto& states : collected->by_shard) {
    for (PartState& s : states) out.push_back(std::move(s));
  }
  return out;
}

absl::Status DistStore::SetOptimizerStates(std::vector<PartState> states, absl::Time deadline) {
  MXGRID_RETURN_IF_ERROR(CheckOpen());
  deadline = std::min(deadline, absl::Now() + options_.call_timeout);
  std::map<int, std::vector<PartState>> by_shard;
  for (PartState& s : states) {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Key> k, FindKey(s.key));
    if (s.part < 0 || s.part >= static_cast<int>(k->meta.parts.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dist kvstore: key ", Quoted(s.key), " has ", k->meta.parts.size(),
          " part(s); got a state for part ", s.part));
    }
    s.index = k->meta.index;
    by_shard[k->meta.parts[s.part].shard].push_back(std::move(s));
  }
  if (by_shard.empty()) return absl::OkStatus();
  auto waiter = MakeWaiter(static_cast<int>(by_shard.size()));
  const std::string job = options_.membership.job;
  for (auto& [shard, list] : by_shard) {
    auto shared = std::make_shared<std::vector<PartState>>(std::move(list));
    shards_->Call(shard, deadline,
                  [job, shared](ShardConnection& c, absl::Time d, Done done) {
                    c.SetOptimizerStates(job, *shared, d, std::move(done));
                  },
                  waiter->Callback());
  }
  return waiter->Wait(deadline + kGrace, "dist kvstore load optimizer states");
}

}  // namespace mxgrid::kvstore::client
