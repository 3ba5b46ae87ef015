// Job: Capture (a consistent copy for a snapshot) and Restore (a job from one).
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/kvstore/job.h"

namespace mxgrid::kvstore {

using tensor::NDArray;

absl::StatusOr<JobSnapshot> Job::Capture() const {
  JobSnapshot snap;
  snap.name = name_;
  snap.num_workers = options_.num_workers;
  snap.sync = options_.sync;
  snap.heartbeat_timeout_ms = options_.heartbeat_timeout == absl::InfiniteDuration()
                                  ? 0
                                  : absl::ToInt64Milliseconds(options_.heartbeat_timeout);
  {
    base::MutexLock lock(&mu_);
    for (const KeyId& id : init_order_) {
      const Entry& entry = entries_.at(id);
      KeySnapshot key{id.key, id.part, entry.index, entry.applied_rounds, NDArray()};
      MXGRID_ASSIGN_OR_RETURN(key.value,
                              NewHostArray(entry.stored.shape(), entry.stored.dtype()));
      // Ordered after every update pushed so far; waited for outside the lock.
      MXGRID_RETURN_IF_ERROR(entry.stored.CopyTo(key.value));
      snap.keys.push_back(std::move(key));
    }
    if (optimizer_ != nullptr) {
      snap.has_optimizer = true;
      snap.optimizer_name = std::string(optimizer_->name());
      snap.optimizer_params = optimizer_->params();
      snap.optimizer_mults = mults_;
      // Waits for its copies (of the state written by the updates pushed so far) only.
      MXGRID_ASSIGN_OR_RETURN(snap.optimizer_states, optimizer_->ExportStates());
    }
  }
  for (const KeySnapshot& key : snap.keys) MXGRID_RETURN_IF_ERROR(key.value.WaitToRead());
  return snap;
}

absl::StatusOr<std::unique_ptr<Job>> Job::Restore(const JobSnapshot& snapshot,
                                                  JobOptions options) {
  auto job = std::make_unique<Job>(snapshot.name, options);
  base::MutexLock lock(&job->mu_);
  for (const KeySnapshot& key : snapshot.keys) {
    const KeyId id{key.key, key.part};
    if (key.key.empty() || key.part < 0 || key.applied_rounds < 0 || key.value.is_none() ||
        job->entries_.count(id) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kvstore: snapshot of job ", Quoted(snapshot.name), ": bad or duplicate key ",
          Quoted(key.key), " part ", key.part));
    }
    if (!key.value.context().is_cpu()) {
      return absl::InvalidArgumentError("kvstore: snapshot values must be CPU arrays");
    }
    // Adopted, not copied: a restore of a large snapshot needs no second copy.
    MXGRID_RETURN_IF_ERROR(job->AddKey(id, key.index, key.value));
    Entry& entry = job->entries_.at(id);
    entry.applied_rounds = key.applied_rounds;
    entry.restored = true;
    // Ranks join again and go on from the restored round.
    for (int64_t& pushes : entry.pushes_by_rank) pushes = key.applied_rounds;
  }
  if (snapshot.has_optimizer) {
    MXGRID_ASSIGN_OR_RETURN(job->optimizer_,
                            Optimizer::Create(snapshot.optimizer_name, snapshot.optimizer_params));
    MXGRID_RETURN_IF_ERROR(snapshot.optimizer_mults.Validate());
    job->mults_ = snapshot.optimizer_mults;
    for (size_t slot = 0; slot < snapshot.keys.size(); ++slot) {
      job->mults_.ApplyTo(job->optimizer_.get(), static_cast<int>(slot),
                          snapshot.keys[slot].key);
    }
    for (const OptimizerIndexState& state : snapshot.optimizer_states) {
      if (state.index < 0 || state.index >= static_cast<int>(snapshot.keys.size())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kvstore: snapshot of job ", Quoted(snapshot.name), ": optimizer state of slot ",
            state.index, " has no key"));
      }
      const NDArray& weight = snapshot.keys[state.index].value;
      MXGRID_RETURN_IF_ERROR(job->optimizer_->ImportState(state, weight.shape(), weight.dtype()));
    }
  }
  job->liveness_started_ = false;
  job->restored_round_ = snapshot.Round();
  job->restored_keys_ = static_cast<int>(snapshot.keys.size());
  return job;
}

}  // namespace mxgrid::kvstore
