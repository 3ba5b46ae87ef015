#include "libs/base/check.h"

#include <cstdio>
#include <cstdlib>

#include "spdlog/spdlog.h"

namespace mxgrid::base::internal {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  stream_ << file << ":" << line << ": check failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
  const std::string message = stream_.str();
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  if (auto logger = spdlog::default_logger()) {
    logger->critical("{}", message);
    logger->flush();
  }
  std::abort();
}

}  // namespace mxgrid::base::internal
