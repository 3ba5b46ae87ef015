// ProcessCounters: this process's CPU time and minor page faults so far (getrusage), for the
// per-iteration figures the benchmark programs print beside their wall-clock times.
//
//   const ProcessCounters before = ProcessCounters::Now();
//   ... run ...
//   const ProcessCounters used = ProcessCounters::Now() - before;
//
// Thread-safety: Now() may be called from any thread.
#ifndef MXGRID_TESTS_BENCH_PROCESS_COUNTERS_H_
#define MXGRID_TESTS_BENCH_PROCESS_COUNTERS_H_

#include <sys/resource.h>

namespace mxgrid::bench {

struct ProcessCounters {
  double cpu_ms = 0;       // user + system, all threads
  long minor_faults = 0;

  static ProcessCounters Now() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return {ms(u.ru_utime) + ms(u.ru_stime), u.ru_minflt};
  }

  ProcessCounters operator-(const ProcessCounters& earlier) const {
    return {cpu_ms - earlier.cpu_ms, minor_faults - earlier.minor_faults};
  }
};

}  // namespace mxgrid::bench

#endif  // MXGRID_TESTS_BENCH_PROCESS_COUNTERS_H_
