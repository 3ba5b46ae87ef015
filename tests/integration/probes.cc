// The health, reflection and HTTP probes of process.h. gRPC's health and reflection stubs are
// not installed on Debian, so their tiny messages are encoded and decoded by hand over
// ByteBuffer calls.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "tests/integration/process.h"

namespace mxgrid::integration {
namespace {

using google::protobuf::io::CodedInputStream;

std::string ToString(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) return "";
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

// The length-delimited fields numbered `field` of a serialized message.
std::vector<std::string> LengthDelimitedFields(const std::string& bytes, uint32_t field) {
  std::vector<std::string> out;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    const uint32_t wire_type = tag & 7;
    if (wire_type == 2) {
      uint32_t len = 0;
      std::string value;
      if (!in.ReadVarint32(&len) || !in.ReadString(&value, static_cast<int>(len))) break;
      if ((tag >> 3) == field) out.push_back(std::move(value));
    } else if (wire_type == 0) {
      uint64_t ignored;
      if (!in.ReadVarint64(&ignored)) break;
    } else {
      break;  // not used by these messages
    }
  }
  return out;
}

}  // namespace

int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);  // a default ByteBuffer is "no message", not empty
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  const grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), method, &context, request, &response);
  if (!status.ok()) return -1;
  const std::string bytes = ToString(response);
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  uint32_t value = 0;  // proto3: an absent field is 0 (UNKNOWN)
  if (in.ReadTag() == (1 << 3 | 0) && !in.ReadVarint32(&value)) return -1;
  return static_cast<int>(value);
}

absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), method, &context));
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  const char kListServices[] = {0x3a, 0x00};
  grpc::Slice slice(kListServices, sizeof(kListServices));
  stream->Write(grpc::ByteBuffer(&slice, 1));
  stream->WritesDone();
  grpc::ByteBuffer reply;
  const bool got = stream->Read(&reply);
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  if (!got) return absl::UnavailableError("reflection sent no response");
  // ServerReflectionResponse.list_services_response (6) -> ListServiceResponse.service (1)
  // -> ServiceResponse.name (1).
  std::vector<std::string> names;
  for (const std::string& list : LengthDelimitedFields(ToString(reply), 6)) {
    for (const std::string& service : LengthDelimitedFields(list, 1)) {
      for (const std::string& name : LengthDelimitedFields(service, 1)) names.push_back(name);
    }
  }
  return names;
}

absl::StatusOr<std::string> HttpGet(int port, absl::string_view path) {
  return HttpExchange(port, absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: localhost\r\n\r\n"));
}

absl::StatusOr<std::string> HttpExchange(int port, absl::string_view request,
                                         absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port, ": ", std::strerror(err)));
  }
  // MSG_NOSIGNAL: a server that closes early must not SIGPIPE the test.
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // closed or reset by the peer: read what it answered
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[4096];
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;  // closed (0) or reset (ECONNRESET)
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

int HttpStatusCode(absl::string_view response) {
  // "HTTP/" digit "." digit SP 3DIGIT
  if (!absl::StartsWith(response, "HTTP/")) return -1;
  const size_t space = response.find(' ');
  if (space == absl::string_view::npos || response.size() < space + 4) return -1;
  int code = 0;
  for (size_t i = space + 1; i < space + 4; ++i) {
    if (response[i] < '0' || response[i] > '9') return -1;
    code = code * 10 + (response[i] - '0');
  }
  return code;
}

}  // namespace mxgrid::integration
