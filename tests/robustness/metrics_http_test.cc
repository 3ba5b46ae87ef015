// Every kind of HTTP (and non-HTTP) traffic at the /metrics port of every server (worker,
// compiler, kvstore). DESIGN.md: "No request, HTTP or gRPC, well-formed or not, can take a
// server down." Each test sends one group of requests, checks each answer's status line,
// and then (TearDown) that the server still runs, answers health SERVING, serves /metrics
// and does real work. A request that kills the server is named in the failure with the
// signal; the next test starts a fresh server.
//
// Status codes: where HTTP lets a server choose (a method it does not serve may be 400,
// 404, 405 or 501), the test accepts that set; what must hold everywhere is a well-formed
// answer or a closed connection, and a live server.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/process.h"
#include "tests/robustness/live_server.h"
#include "tests/robustness/raw_tcp.h"

namespace mxgrid::robustness {
namespace {

using integration::HttpExchange;
using integration::HttpStatusCode;
using integration::ServerProcess;

// -1 stands for "no answer, the connection was closed" where that is acceptable.
constexpr int kClosed = -1;

// A well-formed Prometheus text exposition: comments and `name{labels} value` samples.
bool IsPrometheusText(const std::string& response, std::string* why) {
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return *why = "no end of headers", false;
  if (!absl::StrContains(absl::AsciiStrToLower(response.substr(0, body)),
                         "content-type: text/plain")) {
    return *why = "Content-Type is not text/plain", false;
  }
  int samples = 0;
  for (absl::string_view line : absl::StrSplit(response.substr(body + 4), '\n')) {
    if (line.empty() || absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
      continue;
    }
    const size_t space = line.rfind(' ');
    double value;
    if (space == absl::string_view::npos || !absl::ascii_isalpha(line[0]) ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      return *why = absl::StrCat("bad sample line '", line, "'"), false;
    }
    ++samples;
  }
  if (samples == 0) return *why = "no samples", false;
  if (!absl::StrContains(response, "\nmxgrid_memory_bytes_in_use")) {
    return *why = "no mxgrid_memory_bytes_in_use", false;
  }
  return true;
}

class MetricsHttpTest : public ::testing::TestWithParam<ServerKind> {
 protected:
  static void TearDownTestSuite() {
    for (auto& [kind, server] : servers_) {
      if (server != nullptr) (void)server->Stop();
    }
    servers_.clear();
  }

  void SetUp() override {
    std::unique_ptr<ServerProcess>& slot = servers_[GetParam()];
    // A server a previous test killed was reported there; start a fresh one.
    if (slot != nullptr && slot->WaitForExit(absl::ZeroDuration()).ok()) slot.reset();
    if (slot == nullptr) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> started = StartServer(GetParam());
      ASSERT_TRUE(started.ok()) << started.status();
      slot = std::move(*started);
    }
    server_ = slot.get();
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    const absl::Status alive = CheckServing(*server_, GetParam());
    EXPECT_TRUE(alive.ok()) << "after the requests of this test: " << alive;
  }

  int port() const { return server_->metrics_port(); }

  // False, once, with a failure naming `what`, when the server has died.
  bool StillRunning(absl::string_view what) {
    if (dead_) return false;
    absl::StatusOr<int> exited = server_->WaitForExit(absl::Milliseconds(20));
    if (!exited.ok()) return true;
    dead_ = true;
    ADD_FAILURE() << what << " took mxgrid-" << KindName(GetParam()) << " down: it "
                  << DescribeExit(*exited) << ". Log:\n"
                  << server_->Log(2000);
    return false;
  }

  // Sends `request` on its own connection and expects a status code in `allowed`
  // (kClosed: no answer). Returns the response.
  std::string Expect(absl::string_view what, absl::string_view request, std::set<int> allowed,
                     absl::Duration timeout = absl::Seconds(5)) {
    if (dead_) return "";
    absl::StatusOr<std::string> response = HttpExchange(port(), request, timeout);
    if (!StillRunning(what)) return "";
    if (!response.ok()) {
      ADD_FAILURE() << what << ": " << response.status();
      return "";
    }
    const int code = response->empty() ? kClosed : HttpStatusCode(*response);
    EXPECT_TRUE(allowed.count(code) != 0)
        << what << ": answered " << (code == kClosed ? "nothing" : absl::StrCat(code)) << " ("
        << absl::CEscape(response->substr(0, 120)) << ")";
    return *response;
  }

  static inline std::map<ServerKind, std::unique_ptr<ServerProcess>> servers_;
  ServerProcess* server_ = nullptr;
  bool dead_ = false;
};

TEST_P(MetricsHttpTest, GetMetricsIsPrometheusText) {
  for (const char* path : {"/metrics", "/metrics?x=y"}) {
    const std::string response =
        Expect(absl::StrCat("GET ", path), absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n"), {200});
    std::string why;
    if (!dead_) {
      EXPECT_TRUE(IsPrometheusText(response, &why)) << path << ": " << why;
    }
  }
}

TEST_P(MetricsHttpTest, UnknownPathsAre404) {
  for (const std::string& path :
       {std::string("/"), std::string("/x"), std::string("/favicon.ico"),
        std::string("/../../etc/passwd"), std::string("/metrics/../../../etc/passwd")}) {
    const std::string response =
        Expect(absl::StrCat("GET ", path), absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n"), {404});
    EXPECT_FALSE(absl::StrContains(response, "root:")) << path;
  }
  // 10 KB of path: 404, or a refusal of the long URI.
  Expect("GET of a 10 KB path",
         absl::StrCat("GET /", std::string(10240, 'a'), " HTTP/1.0\r\n\r\n"), {404, 414, 400});
}

TEST_P(MetricsHttpTest, OtherMethodsAreRefused) {
  const std::set<int> refused = {400, 404, 405, 501};
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "FROBNICATE"}) {
    Expect(absl::StrCat(method, " /metrics"),
           absl::StrCat(method, " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                "Connection: close\r\n\r\nhello"),
           refused);
  }
  Expect("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         {200, 400, 404, 405, 501, kClosed});
  Expect("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
         refused);
  const std::string head = Expect("HEAD /metrics", "HEAD /metrics HTTP/1.0\r\n\r\n",
                                  {200, 404, 405, 501});
  if (HttpStatusCode(head) == 200) {
    EXPECT_TRUE(absl::EndsWith(head, "\r\n\r\n")) << "HEAD answered with a body";
  }
}

TEST_P(MetricsHttpTest, Http09KeepAliveAndPipelining) {
  // HTTP/0.9 has no version and no headers: refused, or no answer.
  Expect("HTTP/0.9 GET", "GET /metrics\r\n", {400, 505, kClosed}, absl::Seconds(1));
  {
    absl::StatusOr<RawTcp> c = RawTcp::Connect(port());
    ASSERT_TRUE(c.ok()) << c.status();
    c->Send("GET /metrics\r\n");
    c->ShutdownWrite();
    const std::string r = c->ReadUntilClose(absl::Seconds(2));
    EXPECT_TRUE(r.empty() || HttpStatusCode(r) == 400 || HttpStatusCode(r) == 505) << r;
  }
  if (!StillRunning("HTTP/0.9 GET")) return;

  // Keep-alive: a second request on the connection is answered or the server has closed it.
  {
    absl::StatusOr<RawTcp> c = RawTcp::Connect(port());
    ASSERT_TRUE(c.ok()) << c.status();
    for (int i = 0; i < 3; ++i) {
      if (!c->Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) break;
      const std::string r = c->ReadHttpResponse(absl::Seconds(3));
      if (i > 0 && r.empty()) break;  // closed after the previous answer: allowed
      EXPECT_EQ(HttpStatusCode(r), 200) << "keep-alive request " << i << ": " << r.substr(0, 80);
    }
  }
  if (!StillRunning("keep-alive GETs")) return;

  // Pipelined: three GETs and an unknown path in one write; each answer that comes is right.
  absl::StatusOr<RawTcp> c = RawTcp::Connect(port());
  ASSERT_TRUE(c.ok()) << c.status();
  std::string pipelined;
  for (int i = 0; i < 3; ++i) absl::StrAppend(&pipelined, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  absl::StrAppend(&pipelined, "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  c->Send(pipelined);
  const std::vector<int> expected = {200, 200, 200, 404};
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::string r = c->ReadHttpResponse(absl::Seconds(3));
    if (i > 0 && r.empty()) break;
    EXPECT_EQ(HttpStatusCode(r), expected[i]) << "pipelined request " << i;
  }
  c->Close();
  StillRunning("pipelined GETs");
}

TEST_P(MetricsHttpTest, OversizedHeaders) {
  Expect("a 64 KB header line",
         absl::StrCat("GET /metrics HTTP/1.0\r\nX-Big: ", std::string(65536, 'b'), "\r\n\r\n"),
         {400, 413, 431, kClosed});
  std::string many = "GET /metrics HTTP/1.0\r\n";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&many, "X-Header-", i, ": value\r\n");
  absl::StrAppend(&many, "\r\n");
  Expect("1000 headers", many, {200, 400, 431, kClosed});
}

TEST_P(MetricsHttpTest, BytesThatAreNotHttp) {
  const std::set<int> refused = {400, 505, kClosed};
  Expect("garbage", std::string("\x00\xff\x13 garbage \x7f\r\n\r\n", 18), refused);
  std::string blob(4096, '\0');
  uint32_t x = 2463534242u;  // xorshift32: a fixed pseudo-random blob
  for (char& ch : blob) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    ch = static_cast<char>(x);
  }
  Expect("a 4 KB binary blob", blob, refused);
  // A TLS 1.2 ClientHello record (no SNI): a client that thinks the port speaks HTTPS.
  const std::string hello = absl::HexStringToBytes(
      "160301002d01000029"  // record and handshake headers
      "0303000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  // version, random
      "000002002f0100");  // no session id, one cipher suite, null compression
  Expect("a TLS ClientHello", hello, refused);
  Expect("the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", refused);
  Expect("a request line of spaces", std::string(8192, ' ') + "\r\n\r\n", refused);
}

TEST_P(MetricsHttpTest, RequestsCutShort) {
  for (const char* partial :
       {"GET /metr", "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Le",
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b"}) {
    absl::StatusOr<RawTcp> c = RawTcp::Connect(port());
    ASSERT_TRUE(c.ok()) << c.status();
    c->Send(partial);
    absl::SleepFor(absl::Milliseconds(50));
    c->Close();
    if (!StillRunning(absl::StrCat("'", absl::CEscape(partial), "' then close"))) return;
  }
}

// Slow clients (slowloris) hold connections with a request that never ends; /metrics must
// still answer another client promptly while they do.
TEST_P(MetricsHttpTest, SlowClientsDoNotBlockMetrics) {
  constexpr int kSlowClients = 4;
  std::vector<RawTcp> slow;
  for (int i = 0; i < kSlowClients; ++i) {
    absl::StatusOr<RawTcp> c = RawTcp::Connect(port());
    ASSERT_TRUE(c.ok()) << c.status();
    c->Send("GET /metrics HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(std::move(*c));
  }
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  std::string response;
  std::thread prompt([&] {
    absl::StatusOr<std::string> r =
        HttpExchange(port(), "GET /metrics HTTP/1.0\r\n\r\n", absl::Seconds(2));
    if (r.ok()) response = *r;
  });
  // Keep dribbling header bytes for 1.5 s, then give up the slow connections.
  for (int tick = 0; tick < 6; ++tick) {
    for (RawTcp& c : slow) c.Send("X-a: b\r\n");
    absl::SleepFor(absl::Milliseconds(250));
  }
  prompt.join();
  const absl::Duration took = absl::Now() - start;
  for (RawTcp& c : slow) c.Close();
  if (!StillRunning("slow clients")) return;
  EXPECT_EQ(HttpStatusCode(response), 200)
      << "GET /metrics got no answer within 2 s while " << kSlowClients
      << " slow clients held connections (took " << took << ")";
}

TEST_P(MetricsHttpTest, FiftyConcurrentConnections) {
  constexpr int kConnections = 50;
  std::vector<RawTcp> connections;
  for (int i = 0; i < kConnections; ++i) {
    absl::StatusOr<RawTcp> c = RawTcp::Connect(port());
    ASSERT_TRUE(c.ok()) << "connection " << i << ": " << c.status();
    connections.push_back(std::move(*c));
  }
  for (RawTcp& c : connections) c.Send("GET /metrics HTTP/1.0\r\n\r\n");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int ok = 0;
  for (RawTcp& c : connections) {
    ok += HttpStatusCode(c.ReadUntilClose(deadline - absl::Now())) == 200;
  }
  if (!StillRunning("50 concurrent connections")) return;
  EXPECT_EQ(ok, kConnections) << "of " << kConnections << " concurrent GET /metrics";
}

INSTANTIATE_TEST_SUITE_P(AllServers, MetricsHttpTest,
                         ::testing::Values(ServerKind::kWorker, ServerKind::kCompiler,
                                           ServerKind::kKVStore),
                         [](const ::testing::TestParamInfo<ServerKind>& info) {
                           return KindName(info.param);
                         });

}  // namespace
}  // namespace mxgrid::robustness
