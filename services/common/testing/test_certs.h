// Certificates for the security tests, made with OpenSSL at test time (nothing secret is
// checked in, nothing expires in the repository): a CA, a server certificate for localhost
// and 127.0.0.1 signed by it, a client certificate signed by it, an unrelated CA with a
// client certificate of its own, and expired server and client certificates.
//
//   absl::StatusOr<TestCerts> certs = MakeTestCerts(::testing::TempDir());
//   options.security = {.tls_cert = certs->server_cert, .tls_key = certs->server_key, ...};
//
// The binary make_test_certs writes the same set into a folder for the Python tests.
//
// Thread-safety: thread-safe (each call writes its own files).
#ifndef MXGRID_SERVICES_COMMON_TESTING_TEST_CERTS_H_
#define MXGRID_SERVICES_COMMON_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace mxgrid::services::testing {

// PEM file paths.
struct TestCerts {
  std::string ca;                             // the CA everyone trusts
  std::string server_cert, server_key;        // CN server-1; DNS:localhost, IP:127.0.0.1
  std::string client_cert, client_key;        // CN client-1, signed by `ca`
  std::string other_ca;                       // an unrelated CA
  std::string other_client_cert, other_client_key;    // signed by `other_ca`
  std::string expired_server_cert, expired_server_key;  // signed by `ca`, expired
  std::string expired_client_cert, expired_client_key;  // signed by `ca`, expired
};

// Writes a fresh set into `dir` (which must exist). `server_cn` names the server
// certificate, so that a test can tell a rotated certificate from the first.
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir,
                                        const std::string& server_cn = "server-1");

}  // namespace mxgrid::services::testing

#endif  // MXGRID_SERVICES_COMMON_TESTING_TEST_CERTS_H_
