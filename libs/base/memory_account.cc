#include "libs/base/memory_account.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"

namespace mxgrid::base {

MemoryAccount::MemoryAccount(std::string name, int64_t limit,
                             std::shared_ptr<MemoryAccount> parent, std::string hint)
    : name_(std::move(name)), limit_(limit), parent_(std::move(parent)), hint_(std::move(hint)) {
  MXGRID_CHECK(limit_ >= 0) << "memory account '" << name_ << "' with a negative limit";
}

MemoryAccount::~MemoryAccount() {
  const int64_t left = used();
  if (left != 0 && parent_ != nullptr) parent_->Release(left);
}

void MemoryAccount::NotePeak(int64_t used) {
  int64_t peak = peak_.load(std::memory_order_relaxed);
  while (used > peak && !peak_.compare_exchange_weak(peak, used, std::memory_order_relaxed)) {
  }
}

const MemoryAccount* MemoryAccount::TryAdd(int64_t bytes) {
  const int64_t before = used_.fetch_add(bytes, std::memory_order_relaxed);
  if (limit_ > 0 && before + bytes > limit_) {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
    return this;
  }
  if (parent_ != nullptr) {
    if (const MemoryAccount* full = parent_->TryAdd(bytes)) {
      used_.fetch_sub(bytes, std::memory_order_relaxed);
      return full;
    }
  }
  NotePeak(before + bytes);
  return nullptr;
}

absl::Status MemoryAccount::Charge(int64_t bytes) {
  MXGRID_CHECK(bytes >= 0) << "negative charge to '" << name_ << "'";
  const MemoryAccount* full = TryAdd(bytes);
  if (full == nullptr) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      full->name_, ": allocating ", bytes, " bytes with ", full->used(),
      " in use would pass the limit of ", full->limit_, " bytes",
      full->hint_.empty() ? "" : absl::StrCat(" (", full->hint_, ")")));
}

void MemoryAccount::Add(int64_t bytes) {
  NotePeak(used_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
  if (parent_ != nullptr) parent_->Add(bytes);
}

void MemoryAccount::ForceCharge(int64_t bytes) {
  MXGRID_CHECK(bytes >= 0) << "negative charge to '" << name_ << "'";
  Add(bytes);
}

void MemoryAccount::Release(int64_t bytes) {
  MXGRID_CHECK(bytes >= 0) << "negative release from '" << name_ << "'";
  used_.fetch_sub(bytes, std::memory_order_relaxed);
  if (parent_ != nullptr) parent_->Release(bytes);
}

}  // namespace mxgrid::base
