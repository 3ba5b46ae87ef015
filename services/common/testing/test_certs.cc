#include "services/common/testing/test_certs.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mxgrid::services::testing {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

struct Issued {
  Key key;
  Cert cert;
};

constexpr long kDay = 24 * 3600;

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext != nullptr) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

// A certificate for `cn` valid over [now + from, now + to] seconds, signed by `issuer` (or
// by itself when null).
Issued Make(const char* cn, bool is_ca, const Issued* issuer, long from, long to) {
  static int serial = 1;
  Issued out{Key(EVP_EC_gen("P-256")), Cert(X509_new())};
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  if (is_ca) {
    AddExtension(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(x, signer, NID_basic_constraints, "CA:FALSE");
    AddExtension(x, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    AddExtension(x, signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  X509_sign(x, issuer != nullptr ? issuer->key.get() : out.key.get(), EVP_sha256());
  return out;
}

absl::Status Write(const std::string& path, const Issued& issued, bool key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  const int ok = key ? PEM_write_PrivateKey(f, issued.key.get(), nullptr, nullptr, 0,
                                            nullptr, nullptr)
                     : PEM_write_X509(f, issued.cert.get());
  std::fclose(f);
  if (ok != 1) return absl::InternalError(absl::StrCat("cannot encode ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir, const std::string& server_cn) {
  const Issued ca = Make("mxgrid test CA", true, nullptr, -kDay, 30 * kDay);
  const Issued other_ca = Make("unrelated CA", true, nullptr, -kDay, 30 * kDay);
  const Issued server = Make(server_cn.c_str(), false, &ca, -kDay, 30 * kDay);
  const Issued client = Make("client-1", false, &ca, -kDay, 30 * kDay);
  const Issued other_client = Make("client-2", false, &other_ca, -kDay, 30 * kDay);
  const Issued expired_server = Make("server-old", false, &ca, -30 * kDay, -kDay);
  const Issued expired_client = Make("client-old", false, &ca, -30 * kDay, -kDay);
  TestCerts c;
  const auto file = [&dir](const char* name) { return absl::StrCat(dir, "/", name); };
  struct Out {
    std::string* path;
    const char* name;
    const Issued* issued;
    bool key;
  };
  const Out outs[] = {
      {&c.ca, "ca.pem", &ca, false},
      {&c.other_ca, "other_ca.pem", &other_ca, false},
      {&c.server_cert, "server.pem", &server, false},
      {&c.server_key, "server.key", &server, true},
      {&c.client_cert, "client.pem", &client, false},
      {&c.client_key, "client.key", &client, true},
      {&c.other_client_cert, "other_client.pem", &other_client, false},
      {&c.other_client_key, "other_client.key", &other_client, true},
      {&c.expired_server_cert, "expired_server.pem", &expired_server, false},
      {&c.expired_server_key, "expired_server.key", &expired_server, true},
      {&c.expired_client_cert, "expired_client.pem", &expired_client, false},
      {&c.expired_client_key, "expired_client.key", &expired_client, true},
  };
  for (const Out& o : outs) {
    *o.path = file(o.name);
    if (absl::Status s = Write(*o.path, *o.issued, o.key); !s.ok()) return s;
  }
  return c;
}

}  // namespace mxgrid::services::testing
