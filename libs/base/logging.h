// Logging setup for every mxgrid binary, on spdlog.
//
// Libraries log through spdlog's default logger (`spdlog::info(...)`) sparingly: they return
// statuses instead of logging errors. Binaries call InitLogging once at start-up.
//
//   mxgrid::base::InitLogging({.level = "info", .name = "mxgrid-worker"});
#ifndef MXGRID_LIBS_BASE_LOGGING_H_
#define MXGRID_LIBS_BASE_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace mxgrid::base {

struct LoggingOptions {
  // One of trace, debug, info, warn, error, critical, off. Overridden by MXGRID_LOG_LEVEL.
  std::string level = "info";
  // Shown in every line, e.g. the binary's name.
  std::string name = "mxgrid";
};

// Installs a thread-safe stderr logger as spdlog's default with the pattern
// `[time] [name] [level] message`. Returns InvalidArgument for an unknown level.
// Thread-safety: call once from main() before starting threads.
absl::Status InitLogging(const LoggingOptions& options);

}  // namespace mxgrid::base

#endif  // MXGRID_LIBS_BASE_LOGGING_H_
