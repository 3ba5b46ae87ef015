// Server reflection (grpc.reflection.v1 and v1alpha) answered from the embedded schema
// (schema_index.h), so that generic clients see the .proto files' comments:
//
//   $ grpcurl -plaintext localhost:50051 describe mxgrid.v1.Worker.Invoke
//   mxgrid.v1.Worker.Invoke is a method:
//   // Runs one operator ...
//
// gRPC's own reflection plugin serves the generated descriptors, which carry no comments and
// miss grpc.health.v1 (the library implements health without a generated schema); this one
// serves both. `services` is what list_services returns; the Server fills it while it is
// built (server.cc), before the first call can arrive, and never changes it afterwards.
//
// Thread-safety: thread-safe; each call's stream is handled on its own thread.
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_REFLECTION_SERVICE_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_REFLECTION_SERVICE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "grpcpp/support/sync_stream.h"
#include "proto/grpc/reflection/v1/reflection.grpc.pb.h"
#include "proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "services/common/internal/schema_index.h"

namespace mxgrid::services::internal {

// One version of the reflection service: its generated base class and messages.
template <typename Base, typename Request, typename Response>
class ReflectionService final : public Base {
 public:
  // `schema` is not owned and must outlive the service.
  ReflectionService(const SchemaIndex* schema,
                    std::shared_ptr<const std::vector<std::string>> services)
      : schema_(schema), services_(std::move(services)) {}

  // Answers each request in order until the client half-closes or the call ends.
  grpc::Status ServerReflectionInfo(grpc::ServerContext* context,
                                    grpc::ServerReaderWriter<Response, Request>* stream) override;

 private:
  void Answer(const Request& request, Response* response) const;

  const SchemaIndex* const schema_;
  const std::shared_ptr<const std::vector<std::string>> services_;
};

using ReflectionServiceV1 = ReflectionService<grpc::reflection::v1::ServerReflection::Service,
                                              grpc::reflection::v1::ServerReflectionRequest,
                                              grpc::reflection::v1::ServerReflectionResponse>;
using ReflectionServiceV1Alpha =
    ReflectionService<grpc::reflection::v1alpha::ServerReflection::Service,
                      grpc::reflection::v1alpha::ServerReflectionRequest,
                      grpc::reflection::v1alpha::ServerReflectionResponse>;

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_REFLECTION_SERVICE_H_
