#include "libs/shm/internal/sigbus_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace mxgrid::shm::internal {
namespace {

// One guarded range. `state` claims the slot (0 free, 1 taken); `begin` is published last
// (release) and cleared first, so the handler never sees a half-written slot as live.
struct Slot {
  std::atomic<int> state{0};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<std::atomic<bool>*> poisoned{nullptr};
};

Slot g_slots[kMaxGuardedRanges];
struct sigaction g_previous;  // Written once, before the handler is installed.

// Async-signal-safe: atomics and mmap only.
void OnSigbus(int sig, siginfo_t* info, void* ucontext) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    if (begin == 0 || addr < begin || addr >= slot.end.load(std::memory_order_relaxed)) continue;
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t from = addr & ~(page - 1);
    const uintptr_t end = slot.end.load(std::memory_order_relaxed);
    // Zero pages over the rest of the range: the file is gone past here.
    if (mmap(reinterpret_cast<void*>(from), end - from, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      std::atomic<bool>* poisoned = slot.poisoned.load(std::memory_order_relaxed);
      if (poisoned != nullptr) poisoned->store(true, std::memory_order_relaxed);
      return;
    }
    break;
  }
  // Not ours: behave as if we had never been installed.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, ucontext);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
    return;
  }
  signal(SIGBUS, SIG_DFL);  // The faulting instruction runs again and kills the process.
}

absl::Status InstallOnce() {
  static std::once_flag once;
  static int error = 0;
  std::call_once(once, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &g_previous) != 0) error = errno;
  });
  if (error != 0) {
    return absl::InternalError(absl::StrCat("cannot install the SIGBUS handler: ",
                                            std::strerror(error)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> GuardRange(void* addr, size_t bytes, std::atomic<bool>* poisoned) {
  if (absl::Status st = InstallOnce(); !st.ok()) return st;
  for (int i = 0; i < kMaxGuardedRanges; ++i) {
    int free_state = 0;
    if (!g_slots[i].state.compare_exchange_strong(free_state, 1)) continue;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(addr);
    g_slots[i].end.store(begin + bytes, std::memory_order_relaxed);
    g_slots[i].poisoned.store(poisoned, std::memory_order_relaxed);
    g_slots[i].begin.store(begin, std::memory_order_release);
    return i;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "this process already maps ", kMaxGuardedRanges,
      " shared-memory regions; unregister some"));
}

void UnguardRange(int slot) {
  g_slots[slot].begin.store(0, std::memory_order_release);
  g_slots[slot].poisoned.store(nullptr, std::memory_order_relaxed);
  g_slots[slot].state.store(0, std::memory_order_release);
}

}  // namespace mxgrid::shm::internal
