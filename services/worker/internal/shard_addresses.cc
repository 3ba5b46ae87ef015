// ResolveShardAddresses (kvstore_shards.h).
#include <netdb.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/base/quote.h"
#include "services/worker/internal/kvstore_shards.h"

namespace mxgrid::services::internal {
namespace {

struct HostPort {
  std::string host;  // without brackets
  std::string port;
};

// "host:port" or "[v6]:port".
absl::StatusOr<HostPort> Split(const std::string& address) {
  const size_t colon = address.rfind(':');
  HostPort hp;
  int port = 0;
  if (colon != std::string::npos && colon > 0) {
    hp.host = address.substr(0, colon);
    hp.port = address.substr(colon + 1);
    if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
      hp.host = hp.host.substr(1, hp.host.size() - 2);
    }
  }
  if (hp.host.empty() || !absl::SimpleAtoi(hp.port, &port) || port < 1 || port > 65535 ||
      hp.host.find_first_of(" \t/") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvstore shard address ", Quoted(address), " is not host:port (e.g. 10.0.0.5:50053)"));
  }
  return hp;
}

// The addresses `hp.host` resolves to (IPv4 if any, else IPv6), sorted, as ip:port.
absl::StatusOr<std::vector<std::string>> Resolve(const HostPort& hp) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("kvstore shards: cannot resolve ",
                                               Quoted(hp.host), ": ", gai_strerror(rc)));
  }
  std::set<std::string> v4, v6;
  for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ai_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)) != nullptr) {
        v4.insert(absl::StrCat(text, ":", hp.port));
      }
    } else if (a->ai_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ai_addr);
      if (inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)) != nullptr) {
        v6.insert(absl::StrCat("[", text, "]:", hp.port));
      }
    }
  }
  freeaddrinfo(result);
  const std::set<std::string>& chosen = v4.empty() ? v6 : v4;
  return std::vector<std::string>(chosen.begin(), chosen.end());  // std::set: sorted
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveShardAddresses(
    absl::Span<const std::string> specs) {
  std::vector<std::string> listed;
  for (const std::string& spec : specs) {
    for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
      std::string address(absl::StripAsciiWhitespace(part));
      if (absl::StatusOr<HostPort> hp = Split(address); !hp.ok()) return hp.status();
      if (std::find(listed.begin(), listed.end(), address) != listed.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kvstore shard ", Quoted(address), " is listed twice"));
      }
      listed.push_back(std::move(address));
    }
  }
  if (listed.empty()) {
    return absl::InvalidArgumentError("no kvstore shard addresses given");
  }
  if (listed.size() > 1) return listed;
  // One name: a headless service when it has several addresses.
  absl::StatusOr<HostPort> hp = Split(listed[0]);
  absl::StatusOr<std::vector<std::string>> resolved = Resolve(*hp);
  if (!resolved.ok()) return resolved.status();
  if (resolved->size() <= 1) return listed;  // keep the name: gRPC re-resolves it
  return resolved;
}

}  // namespace mxgrid::services::internal
