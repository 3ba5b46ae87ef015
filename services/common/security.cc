#include "services/common/security.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "services/common/internal/token_auth.h"
#include "services/common/internal/token_file.h"

namespace mxgrid::services {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message = absl::StrCat(flag, " ", path, ": ", std::strerror(error));
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
    return absl::NotFoundError(message);
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Frees OpenSSL objects at scope exit.
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM file (InvalidArgument when there is none).
absl::StatusOr<std::unique_ptr<X509, X509Free>> FirstCertificate(const std::string& flag,
                                                                 const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(flag, path);
  if (!pem.ok()) return pem.status();
  Bio bio = MemoryBio(*pem);
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " holds no PEM certificate"));
  }
  return cert;
}

// Everything ValidateSecurity checks but the token file.
absl::Status ValidateTls(const SecurityOptions& options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together: set both or neither");
  }
  if (!options.auth_token_file.empty() && !options.tls()) {
    return absl::InvalidArgumentError(
        "--auth_token_file needs TLS (--tls_cert and --tls_key): a bearer token sent in "
        "plaintext can be read by anyone on the path");
  }
  if (options.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--tls_reload_interval must be at least 1s");
  }
  if (options.tls()) {
    absl::StatusOr<std::unique_ptr<X509, X509Free>> cert =
        FirstCertificate("--tls_cert", options.tls_cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key_pem = ReadFile("--tls_key", options.tls_key);
    if (!key_pem.ok()) return key_pem.status();
    Bio bio = MemoryBio(*key_pem);
    std::unique_ptr<EVP_PKEY, KeyFree> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls_key ", options.tls_key, " holds no unencrypted PEM private key"));
    }
    if (X509_check_private_key(cert->get(), key.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("--tls_key ", options.tls_key,
                                                     " is not the key of --tls_cert ",
                                                     options.tls_cert));
    }
  }
  if (!options.tls_ca.empty()) {
    absl::StatusOr<std::unique_ptr<X509, X509Free>> ca =
        FirstCertificate("--tls_ca", options.tls_ca);
    if (!ca.ok()) return ca.status();
  }
  return absl::OkStatus();
}

// The token file, read once; null when there is none.
absl::StatusOr<std::shared_ptr<internal::TokenFile>> OpenTokens(const SecurityOptions& options) {
  if (options.auth_token_file.empty()) return nullptr;
  absl::StatusOr<std::unique_ptr<internal::TokenFile>> tokens =
      internal::TokenFile::Open(options.auth_token_file, options.reload_interval);
  if (!tokens.ok()) return tokens.status();
  return std::shared_ptr<internal::TokenFile>(std::move(*tokens));
}

}  // namespace

absl::Status ValidateSecurity(const SecurityOptions& options) {
  if (absl::Status s = ValidateTls(options); !s.ok()) return s;
  return OpenTokens(options).status();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& options) {
  if (absl::Status s = ValidateTls(options); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<internal::TokenFile>> tokens = OpenTokens(options);
  if (!tokens.ok()) return tokens.status();
  if (!options.tls()) return grpc::InsecureServerCredentials();
  const unsigned interval =
      static_cast<unsigned>(absl::ToInt64Seconds(options.reload_interval));
  // Re-reads the files every `interval`: rotated certificates need no restart.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.tls_key, options.tls_cert, options.tls_ca, interval);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (options.tls_ca.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(tls);
  if (*tokens != nullptr) {
    credentials->SetAuthMetadataProcessor(
        std::make_shared<internal::TokenAuthProcessor>(*tokens, options.public_reflection));
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const SecurityOptions& options) {
  if (absl::Status s = ValidateTls(options); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<internal::TokenFile>> tokens = OpenTokens(options);
  if (!tokens.ok()) return tokens.status();
  if (!options.tls() && options.tls_ca.empty()) return grpc::InsecureChannelCredentials();
  const unsigned interval =
      static_cast<unsigned>(absl::ToInt64Seconds(options.reload_interval));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.tls_key, options.tls_cert, options.tls_ca, interval);
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  if (!options.tls_ca.empty()) tls.watch_root_certs();  // else the system's roots
  if (options.tls()) tls.watch_identity_key_cert_pairs();
  tls.set_verify_server_certs(true);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::experimental::TlsCredentials(tls);
  if (*tokens != nullptr) {
    credentials = grpc::CompositeChannelCredentials(credentials,
                                                    internal::TokenCallCredentials(*tokens));
  }
  return credentials;
}

}  // namespace mxgrid::services
