// Every gRPC method a running server offers, with its request type, found from descriptors:
// the server's reflection lists its services; mxgrid.v1 services come from the generated
// descriptor pool (the protos linked into the test), grpc.health.v1.Health from a
// descriptor written here (Debian installs no health.proto), and the reflection service
// from the descriptor the server's own reflection returns. A listed service none of these
// can describe is an error, so a new service cannot silently escape the fuzzer.
//
//   MethodCatalog catalog;
//   absl::StatusOr<std::vector<Method>> methods = catalog.MethodsOf(server.NewChannel());
//
// Also the one way the fuzzer calls a method: CallRaw sends serialized requests as
// ByteBuffers over a streaming call, which fits all four kinds of method (the wire does not
// distinguish them), and reads every response until the status or the deadline.
//
// Thread-safety: a MethodCatalog is thread-compatible; the Method descriptors it returns
// live as long as it does. CallRaw is thread-safe.
#ifndef MXGRID_TESTS_ROBUSTNESS_GRPC_METHODS_H_
#define MXGRID_TESTS_ROBUSTNESS_GRPC_METHODS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"

namespace mxgrid::robustness {

struct Method {
  std::string path;  // "/mxgrid.v1.Worker/Invoke"
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  bool client_streaming() const { return descriptor->client_streaming(); }
  bool server_streaming() const { return descriptor->server_streaming(); }
};

class MethodCatalog {
 public:
  MethodCatalog();
  // The methods of every service the server behind `channel` lists through reflection, in
  // listing then declaration order. NotFound for a service no descriptor describes.
  absl::StatusOr<std::vector<Method>> MethodsOf(const std::shared_ptr<grpc::Channel>& channel);

 private:
  // Descriptors of the non-mxgrid services (health, reflection).
  google::protobuf::DescriptorPool pool_;
};

struct CallResult {
  grpc::Status status;
  int responses = 0;
};

// Calls `method` with `requests` (serialized messages, sent in order, then half-close) and
// reads responses until the call ends or `timeout` passes (DEADLINE_EXCEEDED).
CallResult CallRaw(const std::shared_ptr<grpc::Channel>& channel, const Method& method,
                   const std::vector<std::string>& requests, absl::Duration timeout);

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_GRPC_METHODS_H_
