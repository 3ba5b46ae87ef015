#include "tests/robustness/fuzz_pass.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace mxgrid::robustness {
namespace {

using integration::ServerProcess;

constexpr int kMaxDeaths = 5;
constexpr size_t kRecent = 4;
constexpr absl::Duration kCallTimeout = absl::Seconds(5);
// Health/Watch streams until the client leaves.
constexpr absl::Duration kWatchTimeout = absl::Milliseconds(200);

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Methods that wait for other parties by design (a health watch; a kvstore barrier, a sync
// pull waiting for the other ranks' pushes, a push waiting while its rank runs ahead): their
// deadline passing is an answer, not a hang.
bool IsWatch(const Method& m) {
  static const char* const kWaiting[] = {
      "/grpc.health.v1.Health/Watch", "/mxgrid.v1.KVStore/Barrier",
      "/mxgrid.v1.KVStore/Pull",      "/mxgrid.v1.KVStore/PullStream",
      "/mxgrid.v1.KVStore/PushPull",  "/mxgrid.v1.KVStore/Push",
      "/mxgrid.v1.KVStore/PushStream"};
  for (const char* path : kWaiting) {
    if (m.path == path) return true;
  }
  return false;
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603u;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211u;
  return h;
}

const char* CodeName(int code) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                 "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                 "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "?";
}

}  // namespace

FuzzPass::FuzzPass(FuzzTarget target) : target_(std::move(target)) {}

void FuzzPass::Run() {
  absl::StatusOr<std::unique_ptr<ServerProcess>> started = target_.start();
  ASSERT_TRUE(started.ok()) << started.status();
  server_ = std::move(*started);
  absl::StatusOr<std::vector<Method>> methods = catalog_.MethodsOf(server_->NewChannel());
  ASSERT_TRUE(methods.ok()) << methods.status();
  const std::string only = Env("MXGRID_FUZZ_METHOD", "");
  for (size_t i = 0; i < methods->size() && deaths_ < kMaxDeaths; ++i) {
    if (!only.empty() && !absl::StrContains((*methods)[i].path, only)) continue;
    FuzzMethod((*methods)[i]);
  }

  std::string table;
  for (const auto& [path, codes] : codes_) {
    int calls = 0;
    std::vector<std::string> parts;
    for (const auto& [code, n] : codes) {
      calls += n;
      parts.push_back(absl::StrCat(CodeName(code), " ", n));
    }
    absl::StrAppend(&table, "  ", path, ": ", calls, " calls: ", absl::StrJoin(parts, ", "), "\n");
  }
  std::printf("mxgrid-%s fuzz pass, status codes per method:\n%s", KindName(target_.kind).c_str(),
              table.c_str());
  for (const auto& [what, f] : findings_) {
    ADD_FAILURE() << what << "\n  " << f.count << " calls of " << f.methods.size()
                  << " methods (" << absl::StrJoin(f.methods, ", ") << "), e.g. "
                  << absl::StrJoin(f.examples, "; ")
                  << "\n  replay: --test_env=MXGRID_FUZZ_METHOD=<method> "
                     "--test_env=MXGRID_FUZZ_SEEDS=<seed>";
  }
  if (server_ != nullptr) {
    const absl::Status alive = CheckServing(*server_, target_.kind);
    EXPECT_TRUE(alive.ok()) << "after the fuzz pass: " << alive;
  }
}

void FuzzPass::FuzzMethod(const Method& method) {
  absl::StatusOr<FuzzHints> hints = target_.hints(*server_);
  if (!hints.ok()) {
    ADD_FAILURE() << "building live state before fuzzing " << method.path << ": " << hints.status();
    return;
  }
  MessageFuzzer fuzzer(*std::move(hints));
  std::vector<uint64_t> seeds;
  if (const std::string list = Env("MXGRID_FUZZ_SEEDS", ""); !list.empty()) {
    for (absl::string_view s : absl::StrSplit(list, ',')) {
      uint64_t seed;
      if (absl::SimpleAtoi(s, &seed)) seeds.push_back(seed);
    }
  }
  double seconds = 0.6;
  int max_calls = 2000;
  (void)absl::SimpleAtod(Env("MXGRID_FUZZ_SECONDS", "0.6"), &seconds);
  (void)absl::SimpleAtoi(Env("MXGRID_FUZZ_CALLS", "2000"), &max_calls);
  const bool replay = !seeds.empty();
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  std::shared_ptr<grpc::Channel> channel = server_->NewChannel();
  const uint64_t base = Fnv1a(method.path) * 1000003;
  for (int i = 0; replay ? i < static_cast<int>(seeds.size()) : i < max_calls && absl::Now() < end;
       ++i) {
    const uint64_t seed = replay ? seeds[i] : base + static_cast<uint64_t>(i);
    const int count = method.client_streaming() ? 1 + static_cast<int>(seed % 4) : 1;
    MessageFuzzer::Requests requests = fuzzer.Generate(method.descriptor->input_type(), seed, count);
    recent_.emplace_back(method.path, seed);
    if (recent_.size() > kRecent) recent_.erase(recent_.begin());
    const CallResult result = CallRaw(channel, method, requests.messages,
                                      IsWatch(method) ? kWatchTimeout : kCallTimeout);
    ++codes_[method.path][static_cast<int>(result.status.error_code())];
    if (ReportDeath(method, seed, requests.messages)) return;
    const std::string finding =
        Judge(method, result, fuzzer.AllParse(method.descriptor->input_type(), requests.messages));
    if (!finding.empty()) Note(finding, method, seed, requests.kind);
  }
}

std::string FuzzPass::Judge(const Method& method, const CallResult& result, bool all_parse) const {
  const grpc::Status& s = result.status;
  const std::string message = absl::CEscape(s.error_message().substr(0, 100));
  switch (s.error_code()) {
    case grpc::StatusCode::UNKNOWN:
      return absl::StrCat("UNKNOWN (an exception or an unmapped error): '", message, "'");
    case grpc::StatusCode::INTERNAL:
      // gRPC answers INTERNAL when a request does not parse (a stream's handler may also
      // just see the stream end there); anything else INTERNAL is a server bug.
      if (!all_parse) return "";
      return absl::StrCat("INTERNAL for a request that parses: '", message, "'");
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNAVAILABLE:
      return absl::StrCat(CodeName(s.error_code()), ": '", message, "'");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      if (IsWatch(method)) return "";
      return absl::StrCat("no answer within ", absl::FormatDuration(kCallTimeout));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (absl::StrContains(s.error_message(), "metadata size exceeds limit")) {
        return "error messages too long for the client to receive (they echo a huge request "
               "field): RESOURCE_EXHAUSTED '" + message + "'";
      }
      return "";
    default:
      return "";
  }
}

void FuzzPass::Note(const std::string& what, const Method& method, uint64_t seed,
                    const std::string& request_kind) {
  // Per method unless the text is the same everywhere (a too-long message).
  const std::string key =
      absl::StartsWith(what, "error messages too long") ? what : method.path + ": " + what;
  Finding& f = findings_[key];
  if (f.examples.size() < 3 && f.methods.count(method.path) == 0) {
    f.examples.push_back(absl::StrCat(method.path, " seed ", seed, " (", request_kind, ")"));
  }
  f.methods.insert(method.path);
  ++f.count;
}

bool FuzzPass::ReportDeath(const Method& method, uint64_t seed,
                           const std::vector<std::string>& messages) {
  std::vector<std::pair<std::string, ServerProcess*>> processes = {
      {absl::StrCat("mxgrid-", KindName(target_.kind)), server_.get()}};
  for (ServerProcess* peer : target_.peers()) processes.push_back({"its peer", peer});
  std::string deaths;
  for (auto& [name, p] : processes) {
    absl::StatusOr<int> exited = p->WaitForExit(absl::ZeroDuration());
    if (!exited.ok()) continue;
    absl::StrAppend(&deaths, name, " (pid ", p->pid(), ") ", DescribeExit(*exited),
                    "; log tail:\n", p->Log(1500), "\n");
  }
  if (deaths.empty()) return false;
  ++deaths_;
  std::string saved;
  if (const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR"); dir != nullptr) {
    for (size_t i = 0; i < messages.size(); ++i) {
      std::string name = absl::StrCat(dir, "/", KindName(target_.kind), method.path, "-", seed,
                                      "-", i, ".bin");
      std::replace(name.begin() + static_cast<long>(std::strlen(dir)) + 1, name.end(), '/', '_');
      std::ofstream(name, std::ios::binary) << messages[i];
      absl::StrAppend(&saved, " ", name);
    }
  }
  std::vector<std::string> recent;
  for (const auto& [path, s] : recent_) recent.push_back(absl::StrCat(path, " seed ", s));
  ADD_FAILURE() << "DEATH during " << method.path << " seed " << seed << ":\n"
                << deaths << "last calls (oldest first): " << absl::StrJoin(recent, "; ")
                << "\nrequest bytes (first 200): "
                << absl::CEscape(messages.empty() ? "" : messages[0].substr(0, 200))
                << "\nsaved:" << saved;
  recent_.clear();
  absl::StatusOr<std::unique_ptr<ServerProcess>> restarted = target_.start();
  if (!restarted.ok()) {
    ADD_FAILURE() << "restart: " << restarted.status();
    deaths_ = kMaxDeaths;
    server_.reset();
    return true;
  }
  server_ = std::move(*restarted);
  return true;
}

}  // namespace mxgrid::robustness
