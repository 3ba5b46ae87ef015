#include "services/common/internal/thread_stacks.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace mxgrid::services::internal {
namespace {

int AddTls(struct dl_phdr_info* info, size_t, void* data) {
  size_t* total = static_cast<size_t*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_TLS) continue;
    const size_t align = ph.p_align > 0 ? ph.p_align : 1;
    *total = (*total + ph.p_memsz + align - 1) / align * align;
  }
  return 0;
}

using SetStackSizeFn = int (*)(pthread_attr_t*, size_t);

SetStackSizeFn LibcSetStackSize() {
  static const SetStackSizeFn fn =
      reinterpret_cast<SetStackSizeFn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return fn;
}

}  // namespace

size_t StaticTlsBytes() {
  size_t total = 0;
  dl_iterate_phdr(&AddTls, &total);
  return total;
}

size_t AdjustedStackBytes(size_t requested) {
  // Computed at the first explicit stack size, which comes after every startup library is
  // loaded (threads are created from main or later).
  static const size_t tls = StaticTlsBytes();
  const size_t with_tls = requested > SIZE_MAX - tls ? requested : requested + tls;
  return std::max(with_tls, kMinThreadStackBytes);
}

}  // namespace mxgrid::services::internal

// Interposes on libc's function (see the header). An unversioned definition in the
// executable satisfies the versioned references of shared libraries such as civetweb; the
// BUILD exports it to the dynamic symbol table.
extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  const auto libc = mxgrid::services::internal::LibcSetStackSize();
  if (libc == nullptr) return ENOSYS;
  return libc(attr, mxgrid::services::internal::AdjustedStackBytes(size));
}
