#include "libs/base/logging.h"

#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace mxgrid::base {

absl::Status InitLogging(const LoggingOptions& options) {
  std::string level_name = options.level;
  if (const char* env = std::getenv("MXGRID_LOG_LEVEL"); env != nullptr && *env != '\0') {
    level_name = env;
  }
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  // from_str maps unknown names to `off`; only "off" itself may mean that.
  if (level == spdlog::level::off && level_name != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown log level '", level_name,
        "'; use trace, debug, info, warn, error, critical or off"));
  }
  // Not registered by name, so InitLogging may run again (tests) without a clash.
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(options.name, std::move(sink));
  logger->set_pattern(absl::StrCat("[%Y-%m-%d %H:%M:%S.%e] [", options.name, "] [%l] %v"));
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace mxgrid::base
