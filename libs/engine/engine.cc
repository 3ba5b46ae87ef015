// CreateEngine, EngineOptionsFromEnv and the process-wide engine (engine.h).
#include "libs/engine/engine.h"

#include <cstdlib>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/check.h"
#include "libs/engine/naive_engine.h"
#include "libs/engine/threaded_engine.h"

namespace mxgrid::engine {
namespace {

// Upper bound for MXGRID_CPU_WORKER_NTHREADS: beyond this a typo is likelier than intent.
constexpr int kMaxWorkerThreads = 4096;

}  // namespace

std::unique_ptr<Engine> CreateEngine(const EngineOptions& options) {
  switch (options.kind) {
    case EngineKind::kNaive:
      return std::make_unique<NaiveEngine>();
    case EngineKind::kThreaded:
      break;
  }
  return std::make_unique<ThreadedEngine>(options);
}

absl::StatusOr<EngineOptions> EngineOptionsFromEnv() {
  EngineOptions options;
  if (const char* kind = std::getenv("MXGRID_ENGINE"); kind != nullptr && *kind != '\0') {
    const absl::string_view value(kind);
    if (value == "threaded") {
      options.kind = EngineKind::kThreaded;
    } else if (value == "naive") {
      options.kind = EngineKind::kNaive;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "MXGRID_ENGINE='", value, "' is not an engine kind; use 'threaded' or 'naive'"));
    }
  }
  if (const char* threads = std::getenv("MXGRID_CPU_WORKER_NTHREADS");
      threads != nullptr && *threads != '\0') {
    const absl::string_view value(threads);
    int n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < 1 || n > kMaxWorkerThreads) {
      return absl::InvalidArgumentError(
          absl::StrCat("MXGRID_CPU_WORKER_NTHREADS='", value,
                       "' is not a thread count; use an integer from 1 to ", kMaxWorkerThreads));
    }
    options.cpu_worker_threads = n;
  }
  return options;
}

Engine* Get() {
  // Leaked on purpose: arrays destroyed after main() returns may still release variables.
  static Engine* const engine = [] {
    absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
    MXGRID_CHECK(options.ok()) << "cannot create the mxgrid engine from the environment: "
                               << options.status().message();
    return CreateEngine(*options).release();
  }();
  return engine;
}

}  // namespace mxgrid::engine
