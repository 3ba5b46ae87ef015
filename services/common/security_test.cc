// TLS, mutual TLS and bearer tokens on a real server (security.h): each wrong credential is
// refused with the code a client can act on, health stays open, files rotate in place.
#include "services/common/security.h"

#include <sys/stat.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/grpc/reflection/v1/reflection.grpc.pb.h"
#include "services/common/server.h"
#include "services/common/testdata/test_service.grpc.pb.h"
#include "services/common/testing/test_certs.h"

namespace mxgrid::services {
namespace {

using ::testing::HasSubstr;

class EchoService final : public mxgrid::test::TestService::Service {
  grpc::Status Echo(grpc::ServerContext*, const mxgrid::test::EchoRequest* request,
                    mxgrid::test::EchoResponse* response) override {
    response->set_message(request->message());
    return grpc::Status::OK;
  }
};

std::string Dir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/", name);
  std::remove(dir.c_str());
  mkdir(dir.c_str(), 0700);
  return dir;
}

void WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".new";
  std::ofstream(tmp) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = Dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    absl::StatusOr<testing::TestCerts> certs = testing::MakeTestCerts(dir_);
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    tokens_ = dir_ + "/tokens";
    WriteFile(tokens_, "good-token\n");
    client_token_ = dir_ + "/client_token";
  }

  void Start(SecurityOptions security, bool reflection = true) {
    ServerOptions options;
    options.name = "mxgrid-security-test";
    options.address = "127.0.0.1:0";
    options.metrics_address = "";
    options.reflection = reflection;
    options.security = std::move(security);
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, {&service_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // A channel as a client process makes it: its own SecurityOptions.
  std::shared_ptr<grpc::Channel> Channel(const SecurityOptions& client) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(client);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return Channel(*credentials);
  }
  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()), credentials);
  }
  // A client that trusts the CA, optionally with a certificate and a token.
  SecurityOptions Client(bool certificate, const std::string& token = "") {
    SecurityOptions c;
    c.tls_ca = certs_.ca;
    if (certificate) {
      c.tls_cert = certs_.client_cert;
      c.tls_key = certs_.client_key;
    }
    if (!token.empty()) {
      WriteFile(client_token_, token + "\n");
      c.auth_token_file = client_token_;
      if (!certificate) c.tls_cert = certs_.client_cert, c.tls_key = certs_.client_key;
    }
    return c;
  }
  SecurityOptions Tls(bool mutual = false) {
    SecurityOptions s;
    s.tls_cert = certs_.server_cert;
    s.tls_key = certs_.server_key;
    if (mutual) s.tls_ca = certs_.ca;
    s.reload_interval = absl::Seconds(1);
    return s;
  }

  static grpc::Status Echo(const std::shared_ptr<grpc::Channel>& channel,
                           std::string* server_cn = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    mxgrid::test::EchoRequest request;
    request.set_message("hi");
    mxgrid::test::EchoResponse response;
    grpc::Status status =
        mxgrid::test::TestService::NewStub(channel)->Echo(&context, request, &response);
    if (server_cn != nullptr && context.auth_context() != nullptr) {
      for (const auto& v : context.auth_context()->FindPropertyValues("x509_common_name")) {
        *server_cn = std::string(v.data(), v.size());
      }
    }
    return status;
  }
  // The call's code; `serving` gets the answer's status (1 SERVING, 2 NOT_SERVING).
  static grpc::StatusCode Health(const std::shared_ptr<grpc::Channel>& channel,
                                 int* serving = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    // Health has no generated stub here: a generic call with an empty request ("" service).
    grpc::ByteBuffer request, response;
    grpc::Slice empty("");
    request = grpc::ByteBuffer(&empty, 1);
    grpc::GenericStub stub(channel);
    grpc::Status status;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status s) {
                     std::lock_guard<std::mutex> lock(mu);
                     status = s;
                     done = true;
                     cv.notify_all();
                   });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (serving != nullptr && status.ok()) {
      // HealthCheckResponse{status (1): varint}; an empty message is UNKNOWN (0).
      std::vector<grpc::Slice> slices;
      (void)response.Dump(&slices);
      std::string bytes;
      for (const grpc::Slice& slice : slices) {
        bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
      *serving = bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
    }
    return status.error_code();
  }
  static grpc::StatusCode Reflection(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stream = grpc::reflection::v1::ServerReflection::NewStub(channel)
                      ->ServerReflectionInfo(&context);
    grpc::reflection::v1::ServerReflectionRequest request;
    request.set_list_services("");
    grpc::reflection::v1::ServerReflectionResponse response;
    stream->Write(request);
    stream->WritesDone();
    stream->Read(&response);
    return stream->Finish().error_code();
  }

  EchoService service_;
  std::unique_ptr<Server> server_;
  testing::TestCerts certs_;
  std::string dir_, tokens_, client_token_;
};

TEST_F(SecurityTest, TlsServesTrustingClientsAndRefusesTheRest) {
  Start(Tls());
  EXPECT_TRUE(Echo(Channel(Client(false))).ok());
  EXPECT_EQ(Echo(Channel(grpc::InsecureChannelCredentials())).error_code(),
            grpc::StatusCode::UNAVAILABLE);  // plaintext against TLS
  SecurityOptions wrong_ca;
  wrong_ca.tls_ca = certs_.other_ca;
  EXPECT_EQ(Echo(Channel(wrong_ca)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, ExpiredServerCertificateIsRefusedByClients) {
  SecurityOptions s;
  s.tls_cert = certs_.expired_server_cert;
  s.tls_key = certs_.expired_server_key;
  Start(s);
  EXPECT_EQ(Echo(Channel(Client(false))).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  Start(Tls(/*mutual=*/true));
  EXPECT_TRUE(Echo(Channel(Client(true))).ok());
  EXPECT_EQ(Echo(Channel(Client(false))).error_code(), grpc::StatusCode::UNAVAILABLE);
  SecurityOptions other = Client(false);
  other.tls_cert = certs_.other_client_cert;
  other.tls_key = certs_.other_client_key;
  EXPECT_EQ(Echo(Channel(other)).error_code(), grpc::StatusCode::UNAVAILABLE);
  SecurityOptions expired = Client(false);
  expired.tls_cert = certs_.expired_client_cert;
  expired.tls_key = certs_.expired_client_key;
  EXPECT_EQ(Echo(Channel(expired)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, TokensAreCheckedButHealthIsOpen) {
  SecurityOptions s = Tls(/*mutual=*/true);
  s.auth_token_file = tokens_;
  Start(s);
  EXPECT_TRUE(Echo(Channel(Client(true, "good-token"))).ok());
  const grpc::Status none = Echo(Channel(Client(true)));
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("authorization: Bearer"));
  EXPECT_EQ(Echo(Channel(Client(true, "bad-token"))).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Health(Channel(Client(true))), grpc::StatusCode::OK);
  EXPECT_EQ(Reflection(Channel(Client(true))), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Reflection(Channel(Client(true, "good-token"))), grpc::StatusCode::OK);
}

TEST_F(SecurityTest, PublicReflectionNeedsNoToken) {
  SecurityOptions s = Tls();
  s.auth_token_file = tokens_;
  s.public_reflection = true;
  Start(s);
  EXPECT_EQ(Reflection(Channel(Client(false))), grpc::StatusCode::OK);
  EXPECT_EQ(Echo(Channel(Client(false))).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecurityTest, TokensAndCertificatesRotateWithoutRestart) {
  SecurityOptions s = Tls();
  s.auth_token_file = tokens_;
  Start(s);
  std::string cn;
  ASSERT_TRUE(Echo(Channel(Client(false, "good-token")), &cn).ok());
  EXPECT_EQ(cn, "server-1");
  WriteFile(tokens_, "next-token\n");
  // New server certificate and key (same CA), written over the served files.
  const std::string next = Dir("rotated");
  absl::StatusOr<testing::TestCerts> rotated = testing::MakeTestCerts(next, "server-2");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  std::ifstream ca_in(rotated->ca), cert_in(rotated->server_cert), key_in(rotated->server_key);
  std::stringstream ca, cert, key;
  ca << ca_in.rdbuf();
  cert << cert_in.rdbuf();
  key << key_in.rdbuf();
  WriteFile(certs_.server_key, key.str());
  WriteFile(certs_.server_cert, cert.str());
  WriteFile(certs_.ca, ca.str());  // clients trust the new CA
  // Both files are checked once per second.
  grpc::Status status;
  for (int i = 0; i < 50; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    cn.clear();
    status = Echo(Channel(Client(false, "next-token")), &cn);
    if (status.ok() && cn == "server-2") break;
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cn, "server-2");
  EXPECT_EQ(Echo(Channel(Client(false, "good-token"))).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecurityTest, PlaintextHealthListenerForProbes) {
  SecurityOptions s = Tls(/*mutual=*/true);
  s.auth_token_file = tokens_;
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.metrics_address = "";
  options.health_address = "127.0.0.1:0";
  options.security = s;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, {&service_});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_NE((*server)->health_port(), 0);
  auto probe = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->health_port()),
                                   grpc::InsecureChannelCredentials());
  int serving = 0;
  EXPECT_EQ(Health(probe, &serving), grpc::StatusCode::OK);
  EXPECT_EQ(serving, 1);
  // Nothing else is served there.
  EXPECT_EQ(Echo(probe).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Reflection(probe), grpc::StatusCode::UNIMPLEMENTED);
  // Statuses follow the main listener's.
  (*server)->SetServingStatus("", false);
  EXPECT_EQ(Health(probe, &serving), grpc::StatusCode::OK);
  EXPECT_EQ(serving, 2);
}

TEST_F(SecurityTest, BadSettingsAreRefusedAtStart) {
  SecurityOptions s;
  s.tls_cert = certs_.server_cert;
  EXPECT_EQ(ValidateSecurity(s).code(), absl::StatusCode::kInvalidArgument);  // no key
  s.tls_key = certs_.client_key;
  EXPECT_THAT(ValidateSecurity(s).message(), HasSubstr("is not the key of"));
  s = SecurityOptions();
  s.auth_token_file = tokens_;
  EXPECT_THAT(ValidateSecurity(s).message(), HasSubstr("needs TLS"));
  s = Tls();
  s.tls_ca = dir_ + "/no-such-ca.pem";
  EXPECT_EQ(ValidateSecurity(s).code(), absl::StatusCode::kNotFound);
  s = Tls();
  s.tls_cert = tokens_;  // not a certificate
  EXPECT_THAT(ValidateSecurity(s).message(), HasSubstr("holds no PEM certificate"));
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.metrics_address = "";
  options.security = s;
  EXPECT_EQ(Server::Start(options, {&service_}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mxgrid::services
