#include "libs/kvstore/store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"

namespace mxgrid::kvstore {
namespace {

// The int of a key that is an int's canonical decimal text ("12", "-3"; not "012", "+3").
bool ParseIntKey(const std::string& key, int* value) {
  return absl::SimpleAtoi(key, value) && absl::StrCat(*value) == key;
}

absl::Status CheckRank(int rank, int num_workers) {
  if (rank < 0 || rank >= num_workers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: rank ", rank, " is outside [0, ", num_workers, ") (num_workers = ",
        num_workers, ")"));
  }
  return absl::OkStatus();
}

// A pushed value must be a CPU array of the stored shape and dtype, so that summing it
// cannot fail half-way through a list.
absl::Status CheckPushValue(const std::string& key, const tensor::NDArray& stored,
                            const tensor::NDArray& value, size_t i) {
  if (value.is_none()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kvstore: push of key ", Quoted(key), ": value ", i, " is a none array"));
  }
  if (value.shape() != stored.shape() || value.dtype() != stored.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: push of key ", Quoted(key), ": value ", i, " is ", value.shape().ToString(), " ",
        DTypeName(value.dtype()), " but the key was initialized as ",
        stored.shape().ToString(), " ", DTypeName(stored.dtype())));
  }
  if (!value.context().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: push of key ", Quoted(key),
                                                   ": value ", i, " is on ",
                                                   value.context().ToString(),
                                                   "; copy it to the CPU first"));
  }
  return absl::OkStatus();
}

// Adds `value` into `*total`, allocating `*total` (as a copy) on first use. Returns the bytes
// allocated.
absl::StatusOr<int64_t> Accumulate(const tensor::NDArray& value, tensor::NDArray* total) {
  if (total->is_none()) {
    MXGRID_ASSIGN_OR_RETURN(*total,
                            tensor::NDArray::Empty(value.shape(), Context::Cpu(), value.dtype()));
    MXGRID_RETURN_IF_ERROR(value.CopyTo(*total));
    return static_cast<int64_t>(total->nbytes());
  }
  MXGRID_RETURN_IF_ERROR(tensor::AddInPlace(*total, value));
  return 0;
}

}  // namespace

Store::Store(StoreOptions options) : options_(options) {
  MXGRID_CHECK(options_.num_workers >= 1)
      << "StoreOptions::num_workers must be >= 1, got " << options_.num_workers;
}

Store::~Store() = default;

absl::StatusOr<Store::Entry*> Store::FindEntry(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kvstore: key ", Quoted(key), " doesn't exist. Did you init?"));
  }
  return &it->second;
}

absl::Status Store::Init(const std::string& key, const tensor::NDArray& value) {
  if (key.empty()) return absl::InvalidArgumentError("kvstore: init with an empty key");
  if (value.is_none()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: init of key ", Quoted(key),
                                                   " with a none array"));
  }
  int int_key = 0;
  const bool is_int = ParseIntKey(key, &int_key);
  base::MutexLock lock(&mu_);
  if (entries_.count(key) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("kvstore: duplicate init of key ", Quoted(key)));
  }
  if (!entries_.empty() && is_int != (num_string_keys_ == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore: key ", Quoted(key), " is ", is_int ? "an int" : "a string",
        " key but the store holds ", is_int ? "string" : "int",
        " keys. Mixed key types are not allowed"));
  }
  Entry entry;
  MXGRID_ASSIGN_OR_RETURN(entry.stored,
                          tensor::NDArray::Empty(value.shape(), Context::Cpu(), value.dtype()));
  MXGRID_RETURN_IF_ERROR(value.CopyTo(entry.stored));
  entry.index = is_int ? int_key : num_string_keys_++;
  if (options_.sync) entry.pushes_by_rank.assign(options_.num_workers, 0);
  bytes_in_use_ += static_cast<int64_t>(entry.stored.nbytes());
  entries_.emplace(key, std::move(entry));
  init_order_.push_back(key);
  return absl::OkStatus();
}

absl::Status Store::Apply(Entry* entry, const tensor::NDArray& total) {
  if (optimizer_ != nullptr) return optimizer_->Update(entry->index, entry->stored, total);
  return total.CopyTo(entry->stored);
}

absl::Status Store::Push(const std::string& key, int rank,
                         absl::Span<const tensor::NDArray> values) {
  MXGRID_RETURN_IF_ERROR(CheckRank(rank, options_.num_workers));
  if (values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: push of key ", Quoted(key),
                                                   " with no values"));
  }
  base::MutexLock lock(&mu_);
  MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(key));
  for (size_t i = 0; i < values.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(CheckPushValue(key, entry->stored, values[i], i));
  }

  if (!options_.sync) {
    // dist_async: apply this push's sum at once.
    if (values.size() == 1) return Apply(entry, values[0]);
    tensor::NDArray total;
    for (const tensor::NDArray& value : values) {
      MXGRID_RETURN_IF_ERROR(Accumulate(value, &total).status());
    }
    return Apply(entry, total);
  }

  // dist_sync: this is the rank's round pushes_by_rank[rank] of the key.
  const int64_t slot = entry->pushes_by_rank[rank] - entry->applied_rounds;
  MXGRID_CHECK(slot >= 0) << "kvstore: round bookkeeping of key " << Quoted(key) << " is broken";
  while (static_cast<int64_t>(entry->pending.size()) <= slot) entry->pending.emplace_back();
  Round& round = entry->pending[slot];
  for (const tensor::NDArray& value : values) {
    // Cannot fail after CheckPushValue but for allocation, which leaves the round untouched
    // (the allocation comes first).
    MXGRID_ASSIGN_OR_RETURN(int64_t allocated, Accumulate(value, &round.total));
    bytes_in_use_ += allocated;
  }
  ++round.pushes;
  ++entry->pushes_by_rank[rank];

  // Apply every round that is now complete (later rounds may have filled up already).
  absl::Status status;
  bool applied = false;
  while (!entry->pending.empty() && entry->pending.front().pushes == options_.num_workers) {
    Round done = std::move(entry->pending.front());
    entry->pending.pop_front();
    entry->apply_status = Apply(entry, done.total);
    status.Update(entry->apply_status);
    bytes_in_use_ -= static_cast<int64_t>(done.total.nbytes());
    ++entry->applied_rounds;
    applied = true;
  }
  if (applied) round_applied_.SignalAll();
  return status;
}

absl::Status Store::Pull(const std::string& key, int rank, const tensor::NDArray& out,
                         absl::Time deadline) {
  MXGRID_RETURN_IF_ERROR(CheckRank(rank, options_.num_workers));
  if (out.is_none()) {
    return absl::InvalidArgumentError(absl::StrCat("kvstore: pull of key ", Quoted(key),
                                                   " into a none array"));
  }
  {
    base::MutexLock lock(&mu_);
    MXGRID_ASSIGN_OR_RETURN(Entry * entry, FindEntry(key));  // never erased: stable
    if (out.shape() != entry->stored.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore: pull of key ", Quoted(key), " into an array of shape ", out.shape().ToString(),
          "; the stored value has shape ", entry->stored.shape().ToString()));
    }
    if (options_.sync) {
      const int64_t target = entry->pushes_by_rank[rank];
      while (entry->applied_rounds < target) {
        if (deadline == absl::InfiniteFuture()) {
          round_applied_.Wait();
          continue;
        }
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(absl::StrCat(
              "kvstore: pull of key ", Quoted(key), " by rank ", rank, ": round ", target,
              " is still waiting for pushes from other workers (",
              entry->pending.empty() ? 0 : entry->pending.front().pushes, " of ",
              options_.num_workers, " pushed)"));
        }
        round_applied_.WaitFor(absl::ToChronoNanoseconds(left));
      }
    }
    MXGRID_RETURN_IF_ERROR(entry->apply_status);
    // Ordered by the engine after the update of every round applied so far (pushed under
    // this lock before it).
    MXGRID_RETURN_IF_ERROR(entry->stored.CopyTo(out));
  }
  return out.WaitToRead();
}

absl::Status Store::SetOptimizer(absl::string_view name,
                                 const std::map<std::string, std::string>& params) {
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, Optimizer::Create(name, params));
  {
    base::MutexLock lock(&mu_);
    optimizer_.swap(optimizer);
  }
  return absl::OkStatus();  // the old optimizer (now in `optimizer`) is freed outside the lock
}

absl::StatusOr<int> Store::KeyIndex(const std::string& key) const {
  base::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kvstore: key ", Quoted(key), " doesn't exist. Did you init?"));
  }
  return it->second.index;
}

absl::StatusOr<Store::KeyMeta> Store::Meta(const std::string& key) const {
  base::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kvstore: key ", Quoted(key), " doesn't exist. Did you init?"));
  }
  return KeyMeta{it->second.stored.shape(), it->second.stored.dtype()};
}

absl::StatusOr<tensor::NDArray> Store::Value(const std::string& key) const {
  base::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kvstore: key ", Quoted(key), " doesn't exist. Did you init?"));
  }
  return it->second.stored;
}

std::vector<std::string> Store::Keys() const {
  base::MutexLock lock(&mu_);
  return init_order_;
}

int64_t Store::BytesInUse() const {
  base::MutexLock lock(&mu_);
  return bytes_in_use_;
}

}  // namespace mxgrid::kvstore
