// libFuzzer target for the Symbol JSON reader and writer (libs/graph/json.h).
//
// How to run (clang + libFuzzer + ASan/UBSan via .bazelrc's --config=fuzz):
//   bazel build --config=fuzz //tests/fuzz:symbol_json_fuzz
//   cp bazel-bin/tests/fuzz/symbol_json_fuzz /tmp/ && mkdir -p /tmp/symbol_json_corpus
//   /tmp/symbol_json_fuzz -max_total_time=60 /tmp/symbol_json_corpus tests/fuzz/corpus/symbol_json
// (the first corpus directory receives new inputs; the committed seeds stay untouched).
// Without --config=fuzz the same binary is a plain driver that runs the files or
// directories given as arguments once each, e.g. to replay a crash artifact:
//   bazel-bin/tests/fuzz/symbol_json_fuzz crash-<sha1>
// Crashes found should become seeds in tests/fuzz/corpus/symbol_json/, which
// //tests/fuzz:symbol_json_fuzz_regression_test replays (with mutations) in every test run.
//
// The oracle, beyond "no crash, no leak, no sanitizer report": every failure is
// InvalidArgument with a message, and every input that loads saves to text that loads again
// to the same lists and saves to the same text (SaveJson∘LoadJson is a fixed point).
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/base/check.h"
#include "libs/graph/json.h"
#include "libs/graph/symbol.h"

namespace mxgrid::graph {
namespace {

void FuzzOne(absl::string_view text) {
  absl::StatusOr<Symbol> loaded = LoadJson(text);
  if (!loaded.ok()) {
    MXGRID_CHECK(loaded.status().code() == absl::StatusCode::kInvalidArgument &&
                 !loaded.status().message().empty())
        << "unexpected status: " << loaded.status().ToString();
    return;
  }
  const std::string saved = SaveJson(*loaded);
  absl::StatusOr<Symbol> again = LoadJson(saved);
  MXGRID_CHECK(again.ok()) << "cannot load what SaveJson wrote: " << again.status().ToString()
                           << "\n" << saved;
  MXGRID_CHECK(SaveJson(*again) == saved) << "SaveJson(LoadJson(text)) is not a fixed point";
  MXGRID_CHECK(again->ListArguments() == loaded->ListArguments());
  MXGRID_CHECK(again->ListAuxiliaryStates() == loaded->ListAuxiliaryStates());
  MXGRID_CHECK(again->ListOutputs() == loaded->ListOutputs());
}

}  // namespace
}  // namespace mxgrid::graph

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mxgrid::graph::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
