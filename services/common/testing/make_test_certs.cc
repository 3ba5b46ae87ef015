// make_test_certs DIR: writes the security tests' certificates (test_certs.h) into DIR, for
// the Python tests and for trying TLS by hand. Never for production use.
#include <cstdio>

#include "services/common/testing/test_certs.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_test_certs DIR\n");
    return 2;
  }
  absl::StatusOr<mxgrid::services::testing::TestCerts> certs =
      mxgrid::services::testing::MakeTestCerts(argv[1]);
  if (!certs.ok()) {
    std::fprintf(stderr, "make_test_certs: %s\n", certs.status().ToString().c_str());
    return 1;
  }
  return 0;
}
