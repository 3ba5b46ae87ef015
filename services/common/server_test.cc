#include "services/common/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/io/coded_stream.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "services/common/signals.h"
#include "proto/grpc/reflection/v1/reflection.grpc.pb.h"
#include "services/common/testdata/test_service.grpc.pb.h"

namespace mxgrid::services {
namespace {

using ::testing::HasSubstr;

// Echo; signals `started` when a call begins so tests can act while it is in flight.
class TestServiceImpl final : public mxgrid::test::TestService::Service {
 public:
  grpc::Status Echo(grpc::ServerContext*, const mxgrid::test::EchoRequest* request,
                    mxgrid::test::EchoResponse* response) override {
    started_.set_value();
    absl::SleepFor(absl::Milliseconds(request->sleep_ms()));
    response->set_message(request->message());
    return grpc::Status::OK;
  }
  std::promise<void> started_;
};

ServerOptions TestOptions() {
  ServerOptions options;
  options.name = "mxgrid-test";
  options.address = "127.0.0.1:0";
  options.metrics_address = "127.0.0.1:0";
  options.shutdown_grace = absl::Seconds(10);
  return options;
}

std::shared_ptr<grpc::Channel> Connect(const Server& server) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                             grpc::InsecureChannelCredentials());
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  EXPECT_TRUE(buffer.DumpToSingleSlice(&slice).ok());
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

// grpc.health.v1.Health/Check for `service` ("" the whole server); returns the
// ServingStatus enum (1 SERVING, 2 NOT_SERVING), -2 for NOT_FOUND or -1 when the call fails
// otherwise. Debian ships no health stubs, so the (tiny) messages are encoded by hand:
// request field 1 a string, response field 1 a varint.
int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service = "") {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  std::string encoded;
  if (!service.empty()) {
    encoded.push_back(static_cast<char>(1 << 3 | 2));
    encoded.push_back(static_cast<char>(service.size()));  // names here are < 128 bytes
    encoded += service;
  }
  grpc::Slice slice(encoded);
  grpc::ByteBuffer request(&slice, 1);  // a default ByteBuffer is "no message", not empty
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  const grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), method, &context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return -2;
  if (!status.ok()) return -1;
  const std::string bytes = ToString(response);
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  uint32_t value = 0;  // proto3: an absent field is 0 (UNKNOWN)
  if (in.ReadTag() == (1 << 3 | 0) && !in.ReadVarint32(&value)) return -1;
  return static_cast<int>(value);
}

// Asks server reflection to list services; returns the response's text form.
std::string ReflectionListServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), method, &context));
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  const char kListServices[] = {0x3a, 0x00};
  grpc::Slice slice(kListServices, sizeof(kListServices));
  EXPECT_TRUE(stream->Write(grpc::ByteBuffer(&slice, 1)));
  stream->WritesDone();
  grpc::ByteBuffer reply;
  EXPECT_TRUE(stream->Read(&reply));
  EXPECT_TRUE(stream->Finish().ok());
  // The reflection protos (//proto/grpc) register their messages in the generated pool.
  const google::protobuf::Descriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          "grpc.reflection.v1alpha.ServerReflectionResponse");
  if (descriptor == nullptr) return "no ServerReflectionResponse descriptor";
  std::unique_ptr<google::protobuf::Message> response(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  EXPECT_TRUE(response->ParseFromString(ToString(reply)));
  return response->DebugString();
}

// GET /metrics over a plain TCP socket; returns the whole HTTP response.
// GET `path` over HTTP/1.0; the whole response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "connect failed";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  return response;
}

std::string HttpGetMetrics(int port) { return HttpGet(port, "/metrics"); }

bool PortAcceptsConnections(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

TEST(ServerTest, HealthReportsServing) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ(HealthCheck(Connect(**server)), 1);
}

TEST(ServerTest, HealthAnswersForEachServiceByName) {
  TestServiceImpl service;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::shared_ptr<grpc::Channel> channel = Connect(**server);
  EXPECT_EQ(HealthCheck(channel, "mxgrid.test.TestService"), 1);
  EXPECT_EQ(HealthCheck(channel, "mxgrid.test.NoSuchService"), -2);
}

TEST(ServerTest, MetricsPortAnswersOtherPathsWith404AndKeepsServing) {
  TestServiceImpl service;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* path : {"/", "/x", "/favicon.ico", "/metrics/../x"}) {
    EXPECT_THAT(HttpGet((*server)->metrics_port(), path), HasSubstr(" 404 ")) << path;
  }
  EXPECT_THAT(HttpGetMetrics((*server)->metrics_port()), HasSubstr("200 OK"));
  EXPECT_EQ(HealthCheck(Connect(**server)), 1);
}

TEST(ServerTest, MetricsListenOnLoopbackByDefault) {
  EXPECT_EQ(ServerOptions().metrics_address, "127.0.0.1:9090");
}

TEST(ServerTest, ReflectionListsHealthReflectionAndRegisteredServices) {
  TestServiceImpl service;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string listing = ReflectionListServices(Connect(**server));
  EXPECT_THAT(listing, HasSubstr("\"grpc.health.v1.Health\""));
  EXPECT_THAT(listing, HasSubstr("\"grpc.reflection.v1alpha.ServerReflection\""));
  EXPECT_THAT(listing, HasSubstr("\"mxgrid.test.TestService\""));
}

// One reflection v1 request and its response.
grpc::reflection::v1::ServerReflectionResponse AskReflectionV1(
    const std::shared_ptr<grpc::Channel>& channel,
    const grpc::reflection::v1::ServerReflectionRequest& request, grpc::Status* status) {
  auto stub = grpc::reflection::v1::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  grpc::reflection::v1::ServerReflectionResponse response;
  stream->Write(request);
  stream->WritesDone();
  stream->Read(&response);
  *status = stream->Finish();
  return response;
}

TEST(ServerTest, ReflectionV1DescribesTheProtocolWithItsComments) {
  TestServiceImpl service;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::reflection::v1::ServerReflectionRequest request;
  request.set_file_containing_symbol("grpc.health.v1.Health.Check");
  grpc::Status status;
  auto response = AskReflectionV1(Connect(**server), request, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.file_descriptor_response().file_descriptor_proto_size(), 1);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(response.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.package(), "grpc.health.v1");
  EXPECT_GT(file.source_code_info().location_size(), 0);  // the comments travel

  request.set_file_containing_symbol("mxgrid.v1.NoSuchService");
  response = AskReflectionV1(Connect(**server), request, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(response.original_request().file_containing_symbol(), "mxgrid.v1.NoSuchService");

  request.set_list_services("");
  response = AskReflectionV1(Connect(**server), request, &status);
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::UnorderedElementsAre(
                         "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                         "grpc.reflection.v1alpha.ServerReflection", "mxgrid.test.TestService"));
}

TEST(ServerTest, ReflectionCanBeTurnedOff) {
  TestServiceImpl service;
  ServerOptions options = TestOptions();
  options.reflection = false;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::reflection::v1::ServerReflectionRequest request;
  request.set_list_services("");
  grpc::Status status;
  AskReflectionV1(Connect(**server), request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(HealthCheck(Connect(**server)), 1);  // health stays
}

TEST(ServerTest, MetricsEndpointCountsRpcsAndBytes) {
  TestServiceImpl service;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);
  auto stub = mxgrid::test::TestService::NewStub(Connect(**server));
  mxgrid::test::EchoRequest request;
  request.set_message("hello");  // serialized: 7 bytes request, 7 bytes response
  mxgrid::test::EchoResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
  ASSERT_EQ(HealthCheck(Connect(**server)), 1);

  const std::string page = HttpGetMetrics((*server)->metrics_port());
  EXPECT_THAT(page, HasSubstr("200 OK"));
  const std::string echo = "grpc_method=\"Echo\",grpc_service=\"mxgrid.test.TestService\"";
  const std::string check = "grpc_method=\"Check\",grpc_service=\"grpc.health.v1.Health\"";
  const std::string server_label = "{server=\"mxgrid-test\",";
  EXPECT_THAT(page, HasSubstr(absl::StrCat("grpc_server_handled_total", server_label,
                                           "grpc_code=\"OK\",", echo, "} 1\n")));
  EXPECT_THAT(page, HasSubstr(absl::StrCat("grpc_server_handled_total", server_label,
                                           "grpc_code=\"OK\",", check, "} 1\n")));
  EXPECT_THAT(page, HasSubstr(absl::StrCat("grpc_server_received_bytes_total", server_label,
                                           echo, "} 7\n")));
  EXPECT_THAT(page, HasSubstr(absl::StrCat("grpc_server_sent_bytes_total", server_label, echo,
                                           "} 7\n")));
  EXPECT_THAT(page, HasSubstr(absl::StrCat("grpc_server_handling_seconds_count", server_label,
                                           echo, "} 1\n")));
  EXPECT_THAT(page, HasSubstr("mxgrid_memory_bytes_in_use{device=\"cpu(0)\"}"));
}

TEST(ServerTest, ShutdownDrainsInFlightCallsThenClosesThePort) {
  TestServiceImpl service;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  auto stub = mxgrid::test::TestService::NewStub(Connect(**server));
  std::future<grpc::Status> call = std::async(std::launch::async, [&] {
    mxgrid::test::EchoRequest request;
    request.set_message("slow");
    request.set_sleep_ms(500);
    mxgrid::test::EchoResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->Echo(&context, request, &response);
    if (status.ok() && response.message() != "slow") return grpc::Status(grpc::UNKNOWN, "bad");
    return status;
  });
  service.started_.get_future().wait();
  std::thread waiter([&] { (*server)->Wait(); });
  (*server)->Shutdown();
  EXPECT_TRUE(call.get().ok());  // the in-flight call finished normally
  waiter.join();                 // Wait() returned
  EXPECT_FALSE(PortAcceptsConnections(port));
  (*server)->Shutdown();  // again: no effect
}

TEST(ServerTest, SigtermShutsDownTheServer) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::unique_ptr<SignalWatcher>> signals = ShutdownOnSignals(server->get());
  ASSERT_TRUE(signals.ok()) << signals.status();
  EXPECT_EQ(ShutdownOnSignals(server->get()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::raise(SIGTERM);
  (*server)->Wait();
  EXPECT_FALSE(PortAcceptsConnections((*server)->port()));
}

TEST(ServerTest, TakenPortFailsWithUnavailable) {
  absl::StatusOr<std::unique_ptr<Server>> first = Server::Start(TestOptions(), {});
  ASSERT_TRUE(first.ok()) << first.status();

  ServerOptions same_port = TestOptions();
  same_port.address = absl::StrCat("127.0.0.1:", (*first)->port());
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(same_port, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(same_port.address));

  ServerOptions same_metrics_port = TestOptions();
  same_metrics_port.metrics_address = absl::StrCat("127.0.0.1:", (*first)->metrics_port());
  second = Server::Start(same_metrics_port, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(same_metrics_port.metrics_address));
}

TEST(ServerTest, MalformedOptionsFailWithInvalidArgument) {
  ServerOptions options = TestOptions();
  options.address = "no-port";
  EXPECT_EQ(Server::Start(options, {}).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.metrics_address = "127.0.0.1:99999";
  EXPECT_EQ(Server::Start(options, {}).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.max_message_bytes = 0;
  EXPECT_EQ(Server::Start(options, {}).status().code(), absl::StatusCode::kInvalidArgument);
  options = TestOptions();
  options.health_address = "no-port";
  absl::Status health = Server::Start(options, {}).status();
  EXPECT_EQ(health.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(health.message(), HasSubstr("health_address"));
}

TEST(ServerTest, MetricsCanBeDisabled) {
  ServerOptions options = TestOptions();
  options.metrics_address = "";
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, {});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_port(), 0);
  EXPECT_EQ(HealthCheck(Connect(**server)), 1);
}

TEST(ServerTest, WriteBoundAddressReportsTheChosenPortAndClosesTheFd) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_TRUE(WriteBoundAddress(**server, fds[1]).ok());
  char buf[64] = {};
  std::string got;
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) got.append(buf, n);  // EOF: fd closed
  close(fds[0]);
  EXPECT_EQ(got, absl::StrCat("127.0.0.1:", (*server)->port(), "\n"));
}

TEST(ServerTest, WriteBoundAddressFailsWhenTheReaderIsGone) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(WriteBoundAddress(**server, -1).code(), absl::StatusCode::kInvalidArgument);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  std::signal(SIGPIPE, SIG_IGN);
  EXPECT_EQ(WriteBoundAddress(**server, fds[1]).code(), absl::StatusCode::kUnavailable);
}

// Stopping closes the metrics port. (Without the knock on the port each stop waited for
// civetweb's 2 s listener poll; that time is measured by tests/bench/first_result_bench.py,
// not asserted here.)
TEST(ServerTest, StopsTheMetricsEndpoint) {
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(TestOptions(), {});
    ASSERT_TRUE(server.ok()) << server.status();
    const int metrics_port = (*server)->metrics_port();
    ASSERT_TRUE(PortAcceptsConnections(metrics_port));
    server->reset();
    EXPECT_FALSE(PortAcceptsConnections(metrics_port)) << "metrics port still open";
  }
}

}  // namespace
}  // namespace mxgrid::services
