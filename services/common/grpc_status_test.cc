#include "services/common/grpc_status.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/common/server.h"
#include "services/common/testdata/test_service.grpc.pb.h"

namespace mxgrid::services {
namespace {

constexpr char kEllipsis[] = "\xE2\x80\xA6";

// The bytes gRPC puts on the wire for a grpc-message.
size_t EncodedSize(const std::string& s) {
  size_t n = 0;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    n += u >= 0x20 && u <= 0x7E && u != '%' ? 1 : 3;
  }
  return n;
}

TEST(GrpcStatusTest, ShortMessagesPassUnchanged) {
  const grpc::Status s = ToGrpc(absl::NotFoundError("no array with handle 7"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "no array with handle 7");
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  const std::string fits(kMaxGrpcMessageBytes, 'x');
  EXPECT_EQ(ToGrpc(absl::InvalidArgumentError(fits)).error_message(), fits);
}

TEST(GrpcStatusTest, AMegabyteMessageIsCutWithANote) {
  const std::string huge = "unknown operator '" + std::string(1 << 20, 'A') + "'";
  const grpc::Status s = ToGrpc(absl::NotFoundError(huge));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(EncodedSize(s.error_message()), kMaxGrpcMessageBytes);
  EXPECT_GT(s.error_message().size(), kMaxGrpcMessageBytes - 128);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "unknown operator 'AAAA"));
  EXPECT_TRUE(absl::EndsWith(
      s.error_message(), absl::StrCat(kEllipsis, " [message cut: ", huge.size(), " bytes in all]")))
      << s.error_message().substr(s.error_message().size() - 80);
}

TEST(GrpcStatusTest, PercentEncodingCountsAgainstTheLimit) {
  // "é" (2 bytes) and '%' are sent as 6 and 3 bytes.
  std::string accents;
  for (int i = 0; i < 100000; ++i) accents += "\xC3\xA9%";
  const std::string clipped = ClipGrpcMessage(accents);
  EXPECT_LE(EncodedSize(clipped), kMaxGrpcMessageBytes);
  EXPECT_GT(EncodedSize(clipped), kMaxGrpcMessageBytes - 128);
  // The cut keeps whole characters: the text before the note is whole "é%" pairs or ends
  // after an "é".
  const std::string kept = clipped.substr(0, clipped.find(kEllipsis));
  for (size_t i = 0; i < kept.size(); i += 3) {
    EXPECT_EQ(kept.substr(i, 2), "\xC3\xA9") << "at byte " << i;
  }
}

// Echo answers with the status its request describes: `message` as a NOT_FOUND message, sent
// through ToGrpc when sleep_ms is 0 and as a raw grpc::Status otherwise.
class StatusService final : public mxgrid::test::TestService::Service {
 public:
  grpc::Status Echo(grpc::ServerContext*, const mxgrid::test::EchoRequest* request,
                    mxgrid::test::EchoResponse*) override {
    if (request->sleep_ms() == 0) return ToGrpc(absl::NotFoundError(request->message()));
    return grpc::Status(grpc::StatusCode::NOT_FOUND, request->message());
  }
};

TEST(GrpcStatusTest, HugeMessagesReachTheClientWithTheirCode) {
  StatusService service;
  ServerOptions options;
  options.name = "grpc-status-test";
  options.address = "127.0.0.1:0";
  options.metrics_address = "";
  auto server = Server::Start(options, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  // Over TCP: the in-process transport enforces no metadata limit.
  auto stub = mxgrid::test::TestService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
  auto call = [&](const std::string& message, bool raw) {
    mxgrid::test::EchoRequest request;
    request.set_message(message);
    request.set_sleep_ms(raw ? 1 : 0);
    mxgrid::test::EchoResponse response;
    grpc::ClientContext context;
    return stub->Echo(&context, request, &response);
  };
  std::string accents;
  for (int i = 0; i < 300000; ++i) accents += "\xC3\xA9";
  for (const std::string& message : {std::string(1 << 20, 'k'), accents}) {
    const grpc::Status s = call(message, /*raw=*/false);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message().substr(0, 200);
    EXPECT_LE(EncodedSize(s.error_message()), kMaxGrpcMessageBytes);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "[message cut: "));
  }
  // Without the cut, gRPC replaces the status (RESOURCE_EXHAUSTED, or INTERNAL): what ToGrpc
  // guards against.
  const grpc::Status raw = call(std::string(1 << 20, 'k'), /*raw=*/true);
  EXPECT_NE(raw.error_code(), grpc::StatusCode::NOT_FOUND) << raw.error_message();
  (*server)->Shutdown();
}

}  // namespace
}  // namespace mxgrid::services
