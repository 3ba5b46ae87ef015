// Job: keys — init, sync rounds and async pushes, pulls, the optimizer and its state.
#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/check.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/kvstore/job.h"

namespace mxgrid::kvstore {
namespace {

using tensor::NDArray;

std::string Describe(const KeyId& id) {
  return absl::StrCat("key ", Quoted(id.key), " part ", id.part);
}

// True when `key` is an int's canonical decimal text ("12", "-3"; not "012", "+3").
bool IsIntKey(const std::string& key) {
  int64_t value = 0;
  return absl::SimpleAtoi(key, &value) && absl::StrCat(value) == key;
}

absl::Status CheckValue(const char* what, const KeyId& id, const NDArray& stored,
                        const NDArray& value, size_t i) {
  if (value.is_none()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kvstore: ", what, " of ", Describe(id), ": value ", i, " is a none array"));
  }
  if (value.shape() != stored.shape() || value.dtype() != stored.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: ", what, " of ", Describe(id), ": value ", i, " is ", value.shape().ToString(),
        " ", DTypeName(value.dtype()), " but the key was initialized as ",
        stored.shape().ToString(), " ", DTypeName(stored.dtype())));
  }
  if (!value.context().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: ", what, " of ", Describe(id),
                                                   ": value ", i, " is not on the CPU"));
  }
  return absl::OkStatus();
}

// Adds `value` into `*total`, allocating `*total` (as a copy) on first use. Returns the bytes
// allocated.
absl::StatusOr<int64_t> Accumulate(const NDArray& value, NDArray* total) {
  if (total->is_none()) {
    MXGRID_ASSIGN_OR_RETURN(*total, NDArray::Empty(value.shape(), Context::Cpu(), value.dtype()));
    MXGRID_RETURN_IF_ERROR(value.CopyTo(*total));
    return static_cast<int64_t>(total->nbytes());
  }
  MXGRID_RETURN_IF_ERROR(tensor::AddInPlace(*total, value));
  return 0;
}

}  // namespace

absl::StatusOr<Job::Entry*> Job::FindEntry(const KeyId& id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("kvstore: ", Describe(id), " of job ",
                                            Quoted(name_), " doesn't exist. Did you init?"));
  }
  return &it->second;
}

absl::Status Job::AddKey(const KeyId& id, int index, NDArray stored) {
  const int kind = IsIntKey(id.key) ? 1 : 2;
  if (key_kind_ != 0 && key_kind_ != kind) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kvstore: key ", Quoted(id.key), " is ", kind == 1 ? "an int" : "a string",
        " key but job ", Quoted(name_), " holds ", kind == 1 ? "string" : "int",
        " keys. Mixed key types are not allowed"));
  }
  key_kind_ = kind;
  Entry entry;
  entry.stored = std::move(stored);
  entry.index = index;
  entry.slot = static_cast<int>(init_order_.size());
  if (options_.sync) entry.pushes_by_rank.assign(options_.num_workers, 0);
  bytes_in_use_ += static_cast<int64_t>(entry.stored.nbytes());
  if (optimizer_ != nullptr) mults_.ApplyTo(optimizer_.get(), entry.slot, id.key);
  entries_.emplace(id, std::move(entry));
  init_order_.push_back(id);
  return absl::OkStatus();
}

absl::StatusOr<bool> Job::Init(const KeyId& id, int rank, int index, const NDArray& value) {
  if (id.key.empty()) return absl::InvalidArgumentError("kvstore: init with an empty key");
  if (id.part < 0) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: init of ", Describe(id),
                                                   ": part must be >= 0"));
  }
  if (value.is_none()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: init of ", Describe(id),
                                                   " with a none array"));
  }
  base::MutexLock lock(&mu_);
  MXGRID_RETURN_IF_ERROR(Enter(rank, /*need_joined=*/true));
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    Entry& entry = it->second;
    MXGRID_RETURN_IF_ERROR(CheckValue("init", id, entry.stored, value, 0));
    if (entry.index != index) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore: init of ", Describe(id), " with optimizer index ", index,
          " but the key has index ", entry.index));
    }
    if (rank != 0) return entry.restored;  // other ranks' values are ignored
    if (!entry.restored) {
      return absl::AlreadyExistsError(
          absl::StrCat("kvstore: duplicate init of ", Describe(id), " by rank 0"));
    }
    return true;  // a restored key keeps its value; rank 0 may init it once per join
  }
  if (rank != 0) {
    // Rank 0's value is the one stored; its shape is checked against later inits.
    const int kind = IsIntKey(id.key) ? 1 : 2;
    if (key_kind_ != 0 && key_kind_ != kind) {
      return absl::FailedPreconditionError(absl::StrCat(
          "kvstore: key ", Quoted(id.key), " mixes int and string keys in job ", Quoted(name_)));
    }
    return false;
  }
  if (!value.context().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: init of ", Describe(id),
                                                   ": the value is not on the CPU"));
  }
  MXGRID_ASSIGN_OR_RETURN(NDArray stored,
                          NDArray::Empty(value.shape(), Context::Cpu(), value.dtype()));
  MXGRID_RETURN_IF_ERROR(value.CopyTo(stored));
  MXGRID_RETURN_IF_ERROR(AddKey(id, index, std::move(stored)));
  ++generation_;
  return false;
}

absl::Status Job::Apply(Entry* entry, const NDArray& total) {
  ++generation_;
  if (optimizer_ != nullptr) return optimizer_->Update(entry->slot, entry->stored, total);
  return total.CopyTo(entry->stored);
}

int64_t Job::SlowestPushes(const Entry& entry) const {
  int64_t slowest = -1;
  for (int r = 0; r < options_.num_workers; ++r) {
    if (!Counts(r)) continue;
    slowest = slowest < 0 ? entry.pushes_by_rank[r] : std::min(slowest, entry.pushes_by_rank[r]);
  }
  return slowest;  // -1: every rank left
}

absl::Status Job::ApplyCompleteRounds(Entry* entry) {
  absl::Status status;
  bool applied = false;
  while (!entry->pending.empty() && entry->pending.front().pushes > 0) {
    const int64_t slowest = SlowestPushes(*entry);
    // Round applied_rounds is complete when every rank that has not left pushed to it.
    if (slowest >= 0 && slowest <= entry->applied_rounds) break;
    PendingRound done = std::move(entry->pending.front());
    entry->pending.pop_front();
    entry->apply_status = ApplyRound(entry, std::move(done));
    status.Update(entry->apply_status);
    ++entry->applied_rounds;
    applied = true;
  }
  if (applied) changed_.SignalAll();
  return status;
}

absl::StatusOr<Job::PendingRound*> Job::NextRound(const KeyId& id, Entry* entry, int rank,
                                                  const WaitOptions& wait) {
  if (options_.max_rounds_ahead > 0) {
    const int64_t bound = options_.max_rounds_ahead;
    auto within = [&] {
      mu_.AssertHeld();  // called here and by WaitLocked, under mu_
      return entry->pushes_by_rank[rank] - SlowestPushes(*entry) < bound;
    };
    if (!within()) {
      // Ends early enough that the client still receives the answer before its deadline.
      WaitOptions bounded = wait;
      const absl::Duration left = wait.deadline - absl::Now();
      if (left != absl::InfiniteDuration()) {
        bounded.deadline -= std::min(absl::Milliseconds(250), left / 4);
      }
      absl::Status s = WaitLocked(rank, bounded, within, [&] {
        return absl::StrCat("push of ", Describe(id), " by rank ", rank);
      });
      if (absl::IsDeadlineExceeded(s)) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "kvstore: rank ", rank, " is ", entry->pushes_by_rank[rank] - SlowestPushes(*entry),
            " rounds ahead of the slowest rank on ", Describe(id), " of job ", Quoted(name_),
            " (--max_rounds_ahead = ", bound, "); pull before pushing again"));
      }
      MXGRID_RETURN_IF_ERROR(s);
    }
  }
  // This is the rank's round pushes_by_rank[rank] of the key.
  const int64_t slot = entry->pushes_by_rank[rank] - entry->applied_rounds;
  MXGRID_CHECK(slot >= 0) << "kvstore: round bookkeeping of " << Describe(id) << " is broken";
  while (static_cast<int64_t>(entry->pending.size()) <= slot) entry->pending.emplace_back();
  return &entry->pending[slot];
}

absl::Status Job::Push(const KeyId& id, int rank, absl::Span<const NDArray> values,
                       const WaitOptions& wait) {
  if (values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: push of ", Describe(id),
                                                   " with no values"));
  }
  base::MutexLock lock(&mu_);
  MXGRID_RETURN_IF_ERROR(Enter(rank, /*need_joined=*/true));
  MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(id));  // never erased: stable
  for (size_t i = 0; i < values.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(CheckValue("push", id, entry->stored, values[i], i));
  }
  if (!options_.sync) {
    NDArray total;
    if (values.size() == 1) return Apply(entry, values[0]);
    for (const NDArray& value : values) MXGRID_RETURN_IF_ERROR(Accumulate(value, &total).status());
    return Apply(entry, total);
  }

  MXGRID_ASSIGN_OR_RETURN(PendingRound * slot, NextRound(id, entry, rank, wait));
  PendingRound& round = *slot;
  if (round.total.is_none() && !entry->spare.is_none()) {
    round.total = std::move(entry->spare);
    entry->spare = NDArray();
    bytes_in_use_ += static_cast<int64_t>(round.total.nbytes());
    MXGRID_RETURN_IF_ERROR(values[0].CopyTo(round.total));
    values = values.subspan(1);
  }
  for (const NDArray& value : values) {
    // Cannot fail after CheckValue but for allocation, which comes first.
    MXGRID_ASSIGN_OR_RETURN(int64_t allocated, Accumulate(value, &round.total));
    bytes_in_use_ += allocated;
  }
  ++round.pushes;
  ++entry->pushes_by_rank[rank];
  changed_.SignalAll();  // a bounded push of another rank may proceed
  return ApplyCompleteRounds(entry);
}

absl::StatusOr<NDArray> Job::Pull(const KeyId& id, int rank, std::optional<DType> dtype,
                                  const WaitOptions& wait) {
  MXGRID_ASSIGN_OR_RETURN(PullTicket ticket, BeginPull(id, rank, dtype));
  return FinishPull(ticket, wait);
}

absl::StatusOr<NDArray> Job::PullInto(const KeyId& id, int rank, const WaitOptions& wait,
                                      const PullDestination& destination) {
  MXGRID_ASSIGN_OR_RETURN(PullTicket ticket, BeginPull(id, rank, std::nullopt));
  MXGRID_ASSIGN_OR_RETURN(NDArray out, FinishPullQueued(ticket, wait, &destination));
  MXGRID_RETURN_IF_ERROR(out.WaitToRead());
  return out;
}

absl::StatusOr<Job::PullTicket> Job::BeginPull(const KeyId& id, int rank,
                                               std::optional<DType> dtype) {
  base::MutexLock lock(&mu_);
  MXGRID_RETURN_IF_ERROR(Enter(rank, /*need_joined=*/true));
  MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(id));
  PullTicket ticket{id, rank, dtype, 0};
  if (options_.sync) ticket.target_rounds = entry->pushes_by_rank[rank];
  return ticket;
}

absl::StatusOr<NDArray> Job::FinishPull(const PullTicket& ticket, const WaitOptions& wait) {
  MXGRID_ASSIGN_OR_RETURN(NDArray out, FinishPullQueued(ticket, wait));
  MXGRID_RETURN_IF_ERROR(out.WaitToRead());
  return out;
}

absl::StatusOr<Job::Entry*> Job::AwaitTicket(const PullTicket& ticket, const WaitOptions& wait) {
  const KeyId& id = ticket.id;
  const int rank = ticket.rank;
  MXGRID_RETURN_IF_ERROR(Enter(rank, /*need_joined=*/true));
  MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(id));  // never erased: stable
  if (options_.sync) {
    const int64_t target = ticket.target_rounds;
    MXGRID_RETURN_IF_ERROR(WaitLocked(
        rank, wait,
        [&] {
          mu_.AssertHeld();  // WaitLocked calls it under mu_
          return entry->applied_rounds >= target;
        },
        [&] {
          return absl::StrCat("pull of ", Describe(id), " by rank ", rank, ": round ",
                              target - 1, " is still waiting for pushes from other ranks");
        }));
  }
  MXGRID_RETURN_IF_ERROR(entry->apply_status);
  return entry;
}

absl::StatusOr<NDArray> Job::FinishPullQueued(const PullTicket& ticket, const WaitOptions& wait,
                                              const PullDestination* destination) {
  const KeyId& id = ticket.id;
  NDArray out;
  {
    base::MutexLock lock(&mu_);
    MXGRID_ASSIGN_OR_RETURN(Entry * entry, AwaitTicket(ticket, wait));
    if (destination != nullptr) {
      MXGRID_ASSIGN_OR_RETURN(out, (*destination)(entry->stored.shape(), entry->stored.dtype()));
      if (out.shape() != entry->stored.shape() || !out.context().is_cpu()) {
        return absl::InternalError(absl::StrCat(
            "kvstore: the pull destination of ", Describe(id), " is ", out.shape().ToString(),
            ", not ", entry->stored.shape().ToString(), " on the CPU"));
      }
    } else {
      MXGRID_ASSIGN_OR_RETURN(out, NDArray::Empty(entry->stored.shape(), Context::Cpu(),
                                                  ticket.dtype.value_or(entry->stored.dtype())));
    }
    // Ordered by the engine after the update of every round applied so far.
    MXGRID_RETURN_IF_ERROR(entry->stored.CopyTo(out));
  }
  return out;
}

absl::Status Job::SetOptimizer(int rank, absl::string_view name,
                               const std::map<std::string, std::string>& params,
                               const KeyMultipliers& mults) {
  MXGRID_RETURN_IF_ERROR(mults.Validate());
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, Optimizer::Create(name, params));
  {
    base::MutexLock lock(&mu_);
    MXGRID_RETURN_IF_ERROR(Enter(rank, /*need_joined=*/true));
    const bool same = optimizer_ != nullptr && optimizer_->name() == optimizer->name() &&
                      optimizer_->params() == optimizer->params();
    // The same configuration keeps the optimizer and its state.
    if (same && mults_ == mults) return absl::OkStatus();
    if (!same) optimizer_.swap(optimizer);
    mults_ = mults;
    for (size_t slot = 0; slot < init_order_.size(); ++slot) {
      mults_.ApplyTo(optimizer_.get(), static_cast<int>(slot), init_order_[slot].key);
    }
    ++generation_;
  }
  return absl::OkStatus();  // an old optimizer (now in `optimizer`) is freed outside the lock
}

absl::StatusOr<std::vector<Job::KeyOptimizerState>> Job::GetOptimizerStates() const {
  base::MutexLock lock(&mu_);
  if (optimizer_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("kvstore: job ", Quoted(name_), " has no optimizer; call SetOptimizer"));
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<OptimizerIndexState> states, optimizer_->ExportStates());
  std::vector<KeyOptimizerState> out;
  for (OptimizerIndexState& s : states) {
    if (s.index < 0 || s.index >= static_cast<int>(init_order_.size())) continue;
    const KeyId& id = init_order_[s.index];
    out.push_back({id, entries_.at(id).index, std::move(s)});
  }
  return out;
}

absl::Status Job::SetOptimizerState(const KeyOptimizerState& state) {
  base::MutexLock lock(&mu_);
  MXGRID_RETURN_IF_ERROR(aborted_);
  if (optimizer_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("kvstore: job ", Quoted(name_), " has no optimizer; call SetOptimizer"));
  }
  MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(state.id));
  OptimizerIndexState s = state.state;
  s.index = entry->slot;
  ++generation_;
  return optimizer_->ImportState(s, entry->stored.shape(), entry->stored.dtype());
}

int64_t Job::Generation() const {
  base::MutexLock lock(&mu_);
  return generation_;
}

int64_t Job::BytesInUse() const {
  base::MutexLock lock(&mu_);
  return bytes_in_use_;
}

int64_t Job::Round() const {
  base::MutexLock lock(&mu_);
  int64_t round = -1;
  for (const auto& [id, entry] : entries_) {
    round = round < 0 ? entry.applied_rounds : std::min(round, entry.applied_rounds);
  }
  return std::max<int64_t>(round, 0);
}

JobInfo Job::Info() const {
  JobInfo info;
  info.options = options_;
  info.round = Round();
  base::MutexLock lock(&mu_);
  std::set<absl::string_view> seen;
  for (const KeyId& id : init_order_) {
    if (seen.insert(id.key).second) info.keys.push_back(id.key);
  }
  for (int r = 0; r < options_.num_workers; ++r) {
    if (members_[r].state == MemberState::kJoined) info.active_ranks.push_back(r);
    if (members_[r].state == MemberState::kLeft) info.left_ranks.push_back(r);
  }
  info.dead_rank = dead_rank_;
  info.restored_round = restored_round_;
  info.restored_keys = restored_keys_;
  info.bytes_in_use = bytes_in_use_;
  return info;
}

}  // namespace mxgrid::kvstore
