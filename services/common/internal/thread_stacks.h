// Thread stacks that are as large as their creator asked for.
//
// glibc places a thread's static TLS (the __thread variables of the executable and of every
// library loaded at startup) at the top of the thread's stack and subtracts it from the
// size given to pthread_attr_setstacksize (glibc bug 11787). libopenblas alone has 60 KiB of
// static TLS, so a library that asks for a small stack — civetweb, behind prometheus-cpp's
// /metrics endpoint, asks for 100 KiB — got 40 KiB, and an ordinary HTTP 404 overflowed it
// and crashed the server.
//
// Linking this library (every server binary does, through //services/common:server) defines
// pthread_attr_setstacksize in the executable, where the dynamic linker finds it before
// libc's: every explicit stack size, ours or a library's, becomes
//   max(requested + StaticTlsBytes(), requested, kMinThreadStackBytes)
// so a thread always gets at least the usable stack it asked for. Threads created with the
// default size (8 MiB from RLIMIT_STACK) are untouched.
//
// Thread-safety: thread-safe (the TLS size is computed once, at the first call).
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_THREAD_STACKS_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_THREAD_STACKS_H_

#include <cstddef>

namespace mxgrid::services::internal {

// The smallest stack any thread of a server gets when its creator sets a size.
inline constexpr size_t kMinThreadStackBytes = 256 << 10;

// Bytes of static TLS of the objects loaded now (PT_TLS segments, aligned), as glibc carves
// them out of every thread's stack.
size_t StaticTlsBytes();

// The size pthread_attr_setstacksize(attr, requested) really sets (see above).
size_t AdjustedStackBytes(size_t requested);

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_THREAD_STACKS_H_
