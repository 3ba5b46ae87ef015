// CreateEngine, EngineOptionsFromEnv and the process-wide engine (engine.h).
#include "libs/engine/engine.h"

#include <cstdlib>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/base/check.h"
#include "libs/base/mutex.h"
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
  if (const char* nice = std::getenv("MXGRID_CPU_WORKER_NICE"); nice != nullptr && *nice != '\0') {
    const absl::string_view value(nice);
    int n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < -20 || n > 19) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MXGRID_CPU_WORKER_NICE='", value, "' is not a nice value; use an integer from -20 "
          "to 19"));
    }
    options.cpu_worker_nice = n;
  }
  return options;
}

namespace {

base::Mutex configure_mu;
std::optional<EngineOptions> configured ABSL_GUARDED_BY(configure_mu);
bool created ABSL_GUARDED_BY(configure_mu) = false;

}  // namespace

absl::Status ConfigureProcessEngine(const EngineOptions& options) {
  base::MutexLock lock(&configure_mu);
  if (created) {
    return absl::FailedPreconditionError(
        "the process's engine already exists: configure it before the first array");
  }
  configured = options;
  return absl::OkStatus();
}

Engine* Get() {
  // Leaked on purpose: arrays destroyed after main() returns may still release variables.
  static Engine* const engine = [] {
    base::MutexLock lock(&configure_mu);
    created = true;
    if (configured) return CreateEngine(*configured).release();
    absl::StatusOr<EngineOptions> options = EngineOptionsFromEnv();
    MXGRID_CHECK(options.ok()) << "cannot create the mxgrid engine from the environment: "
                               << options.status().message();
    return CreateEngine(*options).release();
  }();
  return engine;
}

void DrainProcessEngine() {
  {
    base::MutexLock lock(&configure_mu);
    if (!created) return;
  }
  // Errors belong to the arrays' owners, all gone by now; only the waiting matters here.
  Get()->WaitForAll().IgnoreError();
}

}  // namespace mxgrid::engine
