// MemoryAccount: bytes charged against a limit, nested in an optional parent account.
//
// The worker gives every session an account inside the process's host-memory account
// (tensor::HostMemoryAccount()): array storage allocated on the session's behalf, its
// handles and its queued operations are charged to the session's account and, through it,
// to the process's. A charge that would pass the limit of the account or of any ancestor
// is refused as a whole with ResourceExhausted, so one session cannot take the memory
// every other session needs, and the process cannot be pushed past its limit by overheads
// that no allocation counts.
//
//   auto process = std::make_shared<MemoryAccount>("host memory", 8 << 30);
//   auto session = std::make_shared<MemoryAccount>("session 1a2b", 1 << 30, process);
//   MXGRID_RETURN_IF_ERROR(session->Charge(bytes));   // here and in `process`
//   ...
//   session->Release(bytes);
//
// Thread-safety: thread-safe and lock-free. Two charges racing near a limit may both be
// refused where one would have fit (never both granted past it).
#ifndef MXGRID_LIBS_BASE_MEMORY_ACCOUNT_H_
#define MXGRID_LIBS_BASE_MEMORY_ACCOUNT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace mxgrid::base {

class MemoryAccount {
 public:
  // `limit` 0 means no limit of its own. `hint` ends the error message, e.g. the flag that
  // sets the limit ("--session_memory_mb").
  MemoryAccount(std::string name, int64_t limit,
                std::shared_ptr<MemoryAccount> parent = nullptr, std::string hint = "");
  // Gives what is still charged back to the ancestors.
  ~MemoryAccount();
  MemoryAccount(const MemoryAccount&) = delete;
  MemoryAccount& operator=(const MemoryAccount&) = delete;

  // Charges `bytes` (>= 0) here and in every ancestor, or nothing: ResourceExhausted naming
  // the account whose limit it would pass, the request and what is in use.
  absl::Status Charge(int64_t bytes);
  // Charges without checking limits: bookkeeping of memory that is already in use and has
  // to be counted (a queued operation's record), so that later charges see it.
  void ForceCharge(int64_t bytes);
  // Gives back `bytes` charged earlier (here and in every ancestor).
  void Release(int64_t bytes);

  const std::string& name() const { return name_; }
  int64_t limit() const { return limit_; }
  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  // The highest `used` so far.
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  const std::shared_ptr<MemoryAccount>& parent() const { return parent_; }

 private:
  // Adds `bytes` here and above, stopping at the first account whose limit it would pass
  // (that account is returned, nothing stays charged); null when every account took it.
  const MemoryAccount* TryAdd(int64_t bytes);
  void Add(int64_t bytes);
  void NotePeak(int64_t used);

  const std::string name_;
  const int64_t limit_;
  const std::shared_ptr<MemoryAccount> parent_;
  const std::string hint_;
  std::atomic<int64_t> used_{0};
  std::atomic<int64_t> peak_{0};
};

}  // namespace mxgrid::base

#endif  // MXGRID_LIBS_BASE_MEMORY_ACCOUNT_H_
